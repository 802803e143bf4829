"""Helpers of ``scripts/fleet.sh`` (the local fleet): render configs, probe dependencies, find
the fleet's processes. Runs with the venv's Python; reads its inputs from the environment that
fleet.sh prepared (``FLEET_*``, ``GATEWAY_PORT``, ``<SVC>_PORT``, ``S3_*``, ``TRADING_OPT_*``).
The services come from ``services.yaml`` (every ``built`` service runs an API and a worker).

    python scripts/fleet/fleetctl.py dotenv FILE        # `export K=V` lines for keys not yet set
    python scripts/fleet/fleetctl.py render             # supervisord.conf, nginx, S3 identities
    python scripts/fleet/fleetctl.py check-ports        # the fleet's ports are free
    python scripts/fleet/fleetctl.py ensure-db          # PostgreSQL + Redis up; create the database
    python scripts/fleet/fleetctl.py wait-s3            # S3 answers signed requests
    python scripts/fleet/fleetctl.py wait-gateway       # GET /api/v1/datasets -> 200 with the key
    python scripts/fleet/fleetctl.py procs RUN_DIR      # pids of processes of the fleet in RUN_DIR
    python scripts/fleet/fleetctl.py programs           # the service programs, in start order
    python scripts/fleet/fleetctl.py services           # `name port resource` per built service
    python scripts/fleet/fleetctl.py components         # `name port path` per extra component
    python scripts/fleet/fleetctl.py env                # `export` lines: ports and service URLs
    python scripts/fleet/fleetctl.py genkey             # a random key
"""

from __future__ import annotations

import argparse
import asyncio
import grp
import ipaddress
import json
import os
import pwd
import re
import secrets
import shlex
import socket
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
NGINX_DIR = REPO / "docker" / "nginx"
SWAGGER_UI_DIST = REPO / "tools" / "api" / "node_modules" / "swagger-ui-dist"
GATEWAY_TEMPLATE = NGINX_DIR / "templates" / "gateway.conf.template"
GRPC_OFFSET = 10000  # SeaweedFS dials <http port> + 10000 for gRPC peers
MARKER = "TRADEOPT_FLEET_RUN_DIR"

sys.path.insert(0, str(REPO))
from scripts.manifest.model import Service, load  # noqa: E402


def fleet_services() -> list[Service]:
    """The services the fleet runs: every ``built`` service of services.yaml, in its order."""
    return load(REPO).built()


#: optuna-dashboard (DESIGN §1, gateway ``/optuna/``): runs from the tuning service's package,
#: on its Optuna storage, whenever tuning is built.
OPTUNA_DASHBOARD = "optuna-dashboard"
OPTUNA_DASHBOARD_PORT = 8081


def optuna_dashboard_port() -> int:
    """optuna-dashboard's local port: ``OPTUNA_DASHBOARD_PORT``, else 8081 (DESIGN §1)."""
    return env_int("OPTUNA_DASHBOARD_PORT", OPTUNA_DASHBOARD_PORT)


def with_optuna_dashboard() -> bool:
    """Whether the fleet runs optuna-dashboard (the tuning service is built)."""
    return any(s.name == "tuning" for s in fleet_services())


#: TensorBoard (DESIGN §1, gateway ``/tensorboard/``): runs from the training service's package
#: (``tradeopt_training.tensorboard``: a sync loop from object storage + TensorBoard) whenever
#: training is built.
TENSORBOARD = "tensorboard"
TENSORBOARD_PORT = 6006


def tensorboard_port() -> int:
    """TensorBoard's local port: ``TENSORBOARD_PORT``, else 6006 (DESIGN §1)."""
    return env_int("TENSORBOARD_PORT", TENSORBOARD_PORT)


def with_tensorboard() -> bool:
    """Whether the fleet runs TensorBoard (the training service is built)."""
    return any(s.name == "training" for s in fleet_services())


#: The paper-trading bar feed (``python -m tradeopt_strategy.feed``: live sessions created with
#: ``"feed": "alpaca"`` pull their bars from Alpaca's market data; ALPACA_* from the environment
#: or .env): only with ``FLEET_PAPER_FEED=on`` (the compose profile ``paper-trading``).
STRATEGY_FEED = "strategy-feed"


def with_paper_feed() -> bool:
    """Whether the fleet runs the bar feed: ``FLEET_PAPER_FEED=on`` and strategy is built."""
    enabled = os.environ.get("FLEET_PAPER_FEED", "off").strip().lower()
    if enabled not in {"on", "off", "1", "0", "true", "false", ""}:
        raise FleetError(f"FLEET_PAPER_FEED={enabled!r}: expected on or off")
    return enabled in {"on", "1", "true"} and any(s.name == "strategy" for s in fleet_services())


def template_vars() -> tuple[str, ...]:
    """The variables gateway.conf.template uses (all must be given, like the image's ENV does)."""
    fixed = ("GATEWAY_LISTEN", "DASHBOARD_ROOT", "NGINX_LOCAL_RESOLVERS", *GATEWAY_RATE_DEFAULTS)
    fixed += ("GATEWAY_TRUSTED_PROXY",)
    fixed += ("OPTUNA_DASHBOARD_UPSTREAM", "TENSORBOARD_UPSTREAM")
    fixed += ("API_DOCS_ROOT", "SWAGGER_UI_ROOT")
    return fixed + tuple(f"{s.upper}_UPSTREAM" for s in fleet_services())


def port_var(service: Service) -> str:
    """The environment variable of a service's local API port (``DATA_PORT``)."""
    return f"{service.upper}_PORT"


def service_port(service: Service) -> int:
    """A service's local API port: ``<SVC>_PORT``, else the manifest's port (DESIGN §1)."""
    return env_int(port_var(service), service.port)


def app_programs() -> list[str]:
    """The service programs (not s3, not the gateway), in the order fleet.sh starts them."""
    programs = [f"{s.name}-{role}" for s in fleet_services() for role in ("api", "worker")]
    if with_optuna_dashboard():
        programs.append(OPTUNA_DASHBOARD)
    if with_tensorboard():
        programs.append(TENSORBOARD)
    if with_paper_feed():
        programs.append(STRATEGY_FEED)
    return [*programs, "beat"]


class FleetError(RuntimeError):
    """A problem the user has to fix; printed without a traceback."""


def env(name: str, default: str | None = None) -> str:
    """An environment variable; empty counts as unset; ``default`` or a FleetError."""
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise FleetError(f"{name} is not set")
        return default
    return value


def env_int(name: str, default: int) -> int:
    """An integer environment variable (a port)."""
    raw = env(name, str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise FleetError(f"{name}={raw!r} is not a port number") from exc


# --- .env ------------------------------------------------------------------------------------


def cmd_dotenv(path: str) -> None:
    """Print ``export`` lines for the file's keys that the environment does not set already
    (the environment wins, as in the services' settings).
    """
    from dotenv import dotenv_values

    for key, value in dotenv_values(path).items():
        if value is None or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            continue
        if key in os.environ:
            continue
        print(f"export {key}={shlex.quote(value)}")


def cmd_env() -> None:
    """``export`` lines for every built service: ``<SVC>_PORT`` (else the older
    ``<SVC>_API_PORT``, else the manifest's port) and ``TRADING_OPT_<SVC>_URL`` when unset.
    """
    for service in fleet_services():
        var = port_var(service)
        port = env(var, env(f"{service.upper}_API_PORT", str(service.port)))
        print(f"export {var}={shlex.quote(port)}")
        url_var = f"TRADING_OPT_{service.upper}_URL"
        url = env(url_var, f"http://127.0.0.1:{port}")
        print(f"export {url_var}={shlex.quote(url)}")


# --- rendering -------------------------------------------------------------------------------


def render_template(text: str, values: dict[str, str]) -> str:
    """Envsubst restricted to ``values`` (``$NAME`` and ``${NAME}``), as the nginx image does."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values[name] if name in values else match.group(0)

    out = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", sub, text)
    left = sorted(set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", out)))
    if left:
        raise FleetError(f"gateway template variables without a value: {', '.join(left)}")
    return out


def local_resolvers() -> str:
    """Nameservers of /etc/resolv.conf, formatted like the nginx image's entrypoint does."""
    servers = []
    try:
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                servers.append(f"[{parts[1]}]" if ":" in parts[1] else parts[1])
    except OSError:
        pass
    return " ".join(servers) or "127.0.0.1"


#: The folder nginx serves at ``/``: the dashboard's production build (`make web`: web/ ->
#: web/dist; `make dev` builds it first). nginx reads it per request, so a build made after the
#: fleet started is served at once; without one, ``/`` answers the gateway's 404 problem document.
WEB_DIST = REPO / "web" / "dist"


def gateway_values() -> dict[str, str]:
    """Template values for the local fleet: every service on 127.0.0.1 at its port."""
    values = {
        "GATEWAY_LISTEN": f"127.0.0.1:{env_int('GATEWAY_PORT', 8080)}",
        "DASHBOARD_ROOT": env("DASHBOARD_ROOT", str(WEB_DIST)),
        "NGINX_LOCAL_RESOLVERS": env("NGINX_LOCAL_RESOLVERS", local_resolvers()),
        # The merged OpenAPI + Swagger UI (/api/v1/openapi.json, /api/docs/): swagger-ui-dist
        # comes from tools/api's `npm ci` (`make api-tools`, run by `make dev`).
        "API_DOCS_ROOT": env("API_DOCS_ROOT", str(NGINX_DIR / "api-docs")),
        "SWAGGER_UI_ROOT": env("SWAGGER_UI_ROOT", str(SWAGGER_UI_DIST)),
    }
    for service in fleet_services():
        values[f"{service.upper}_UPSTREAM"] = env(
            f"{service.upper}_UPSTREAM", f"127.0.0.1:{service_port(service)}"
        )
    # Without the tuning service nothing listens there: /optuna/ answers 502 (problem+json).
    values["OPTUNA_DASHBOARD_UPSTREAM"] = env(
        "OPTUNA_DASHBOARD_UPSTREAM", f"127.0.0.1:{optuna_dashboard_port()}"
    )
    # Without the training service nothing listens there: /tensorboard/ answers 502.
    values["TENSORBOARD_UPSTREAM"] = env("TENSORBOARD_UPSTREAM", f"127.0.0.1:{tensorboard_port()}")
    return values


#: Rate-limit variables of gateway.conf.template and their defaults (the image's ENV has the same).
GATEWAY_RATE_DEFAULTS = {"GATEWAY_RATE_LIMIT": 30, "GATEWAY_RATE_BURST": 60}


def gateway_rate_values() -> dict[str, str]:
    """``GATEWAY_RATE_LIMIT`` (requests/s per client address) and ``GATEWAY_RATE_BURST`` from the
    environment, else the production defaults; positive integers only (nginx refuses others).
    """
    values = {}
    for name, default in GATEWAY_RATE_DEFAULTS.items():
        raw = env(name, str(default))
        if not raw.isdigit() or int(raw) < (1 if name == "GATEWAY_RATE_LIMIT" else 0):
            raise FleetError(f"{name}={raw!r}: expected a positive integer")
        values[name] = str(int(raw))
    values["GATEWAY_TRUSTED_PROXY"] = trusted_proxy()
    return values


def trusted_proxy() -> str:
    """``GATEWAY_TRUSTED_PROXY``: the one address/CIDR whose X-Forwarded-For the gateway believes
    (default ``unix:``, no TCP peer: the local fleet has no proxy in front).
    """
    raw = env("GATEWAY_TRUSTED_PROXY", "unix:").strip()
    if raw != "unix:":
        try:
            ipaddress.ip_network(raw, strict=False)
        except ValueError as exc:
            raise FleetError(
                f"GATEWAY_TRUSTED_PROXY={raw!r}: expected an address, CIDR or 'unix:'"
            ) from exc
    return raw


def nginx_main_conf(prefix: Path) -> str:
    """The local main file: like docker/nginx/nginx.conf, with every path under ``prefix``."""
    user = ""
    if os.geteuid() == 0:
        # A root master drops its workers to `user`: the owner of the checkout, who can read the
        # dashboard folder and the run dir (nginx's default, nobody, often cannot).
        owner = REPO.stat()
        user = f"user {pwd.getpwuid(owner.st_uid).pw_name} {grp.getgrgid(owner.st_gid).gr_name};\n"
    mime = (
        "include /etc/nginx/mime.types;"
        if Path("/etc/nginx/mime.types").exists()
        else (
            "types { text/html html; text/css css; application/javascript js; "
            "application/json json; image/svg+xml svg; image/png png; }"
        )
    )
    return f"""# Generated by scripts/fleet/fleetctl.py for the local fleet; do not edit (see
# docker/nginx/nginx.conf and docker/nginx/templates/gateway.conf.template).
{user}daemon off;
worker_processes 2;
error_log stderr notice;
pid {prefix}/nginx.pid;

events {{
    worker_connections 1024;
}}

http {{
    {mime}
    default_type application/octet-stream;

    client_body_temp_path {prefix}/temp/client_body;
    proxy_temp_path       {prefix}/temp/proxy;
    fastcgi_temp_path     {prefix}/temp/fastcgi;
    uwsgi_temp_path       {prefix}/temp/uwsgi;
    scgi_temp_path        {prefix}/temp/scgi;

    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    server_tokens off;

    include {prefix}/conf.d/*.conf;

    access_log {prefix}/logs/access.log tradeopt_gateway;
}}
"""


def s3_ports() -> dict[str, int]:
    """Weed mini's ports: S3_PORT and, unless given, the next four ports (+10000 for gRPC)."""
    s3 = env_int("S3_PORT", 8333)
    return {
        "s3": s3,
        "master": env_int("S3_MASTER_PORT", s3 + 1),
        "volume": env_int("S3_VOLUME_PORT", s3 + 2),
        "filer": env_int("S3_FILER_PORT", s3 + 3),
        "admin": env_int("S3_ADMIN_PORT", s3 + 4),
    }


def weed_command(run_dir: Path) -> str:
    """The weed mini command line: same flags as tests/support/s3server.py."""
    weed = env("FLEET_WEED", str(Path(sys.executable).parent / "weed"))
    ports = s3_ports()
    data_dir = Path(env("S3_DATA_DIR"))
    args = [
        weed,
        "mini",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
    ]
    for name in ("master", "volume", "filer", "s3", "admin"):
        args += [f"-{name}.port={ports[name]}", f"-{name}.port.grpc={ports[name] + GRPC_OFFSET}"]
    args += [
        f"-s3.config={run_dir / 's3.json'}",
        "-master.telemetry=false",
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-volume.preStopSeconds=0",
    ]
    # Unix sockets: inside the run dir when the path fits (sun_path is ~107 bytes).
    if len(str(run_dir)) < 80:
        args += [
            f"-filer.localSocket={run_dir}/s3-filer.sock",
            f"-s3.localSocket={run_dir}/s3.sock",
        ]
    return " ".join(shlex.quote(a) for a in args)


def _program(
    name: str,
    command: str,
    priority: int,
    *,
    stopwaitsecs: int = 15,
    startsecs: int = 3,
    stopsignal: str = "TERM",
    environment: str = "",
    run_dir: Path,
) -> str:
    lines = [
        f"[program:{name}]",
        f"command={command.replace('%', '%%')}",
        f"directory={REPO}",
        f"priority={priority}",
        # fleet.sh starts programs in stages (S3 -> migrations -> services -> gateway).
        "autostart=false",
        "autorestart=true",
        f"startsecs={startsecs}",
        "startretries=5",
        f"stopsignal={stopsignal}",
        f"stopwaitsecs={stopwaitsecs}",
        "stopasgroup=true",
        "killasgroup=true",
        "redirect_stderr=true",
        f"stdout_logfile={run_dir}/logs/{name}.log",
        "stdout_logfile_maxbytes=20MB",
        "stdout_logfile_backups=2",
    ]
    if environment:
        lines.append(f"environment={environment}")
    return "\n".join(lines) + "\n"


def service_programs(
    service: Service, venv_bin: Path, worker_wait: int, run_dir: Path
) -> list[str]:
    """The API and worker programs of one service, from its manifest entry."""
    assert service.worker is not None
    assert service.api is not None
    api = service.api_argv(host="127.0.0.1")
    api[-1] = str(service_port(service))
    worker_env = {"REMAP_SIGTERM": "SIGQUIT", **service.worker.env}
    # Manifest defaults; the developer's environment wins (e.g. TRADING_OPT_TORCH_THREADS).
    worker_env.update({k: os.environ[k] for k in service.worker.env if os.environ.get(k)})
    api_env = {k: os.environ.get(k) or v for k, v in service.api.env.items()}
    worker = [*service.worker_argv(), "-n", f"{service.name}-worker@%h"]
    return [
        _program(
            f"{service.name}-api",
            f"{venv_bin}/{shlex.join(api)}",
            20,
            startsecs=5,
            environment=",".join(f'{k}="{v}"' for k, v in api_env.items()),
            run_dir=run_dir,
        ),
        _program(
            f"{service.name}-worker",
            f"{venv_bin}/{shlex.join(worker)}",
            30,
            stopwaitsecs=worker_wait,
            startsecs=5,
            environment=",".join(f'{k}="{v}"' for k, v in worker_env.items()),
            run_dir=run_dir,
        ),
    ]


def supervisord_conf(run_dir: Path, with_s3: bool, nginx: str) -> str:
    """The supervisord config: socket, logs and pid in ``run_dir``; one program per process."""
    venv_bin = Path(sys.executable).parent
    soft = float(env("TRADING_OPT_WORKER_SOFT_SHUTDOWN_SECONDS", "60"))
    worker_wait = max(90, int(soft) + 30)  # above the soft shutdown: running jobs requeue cleanly
    out = [
        "; Generated by scripts/fleet/fleetctl.py (make dev); do not edit.",
        "[unix_http_server]",
        f"file={run_dir}/supervisor.sock",
        "chmod=0700",
        "",
        "[supervisord]",
        f"logfile={run_dir}/logs/supervisord.log",
        "logfile_maxbytes=10MB",
        "logfile_backups=2",
        f"pidfile={run_dir}/supervisord.pid",
        f"childlogdir={run_dir}/logs",
        f"directory={REPO}",
        "identifier=tradeopt-fleet",
        "nodaemon=false",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{run_dir}/supervisor.sock",
        "",
    ]
    if with_s3:
        out.append(_program("s3", weed_command(run_dir), 10, run_dir=run_dir))
    for service in fleet_services():
        out += service_programs(service, venv_bin, worker_wait, run_dir)
    if with_optuna_dashboard():
        out.append(
            _program(
                OPTUNA_DASHBOARD,
                f"{venv_bin}/uvicorn tradeopt_tuning.dashboard:create_app --factory "
                f"--interface wsgi --host 127.0.0.1 --port {optuna_dashboard_port()} "
                "--no-access-log",
                25,
                startsecs=3,
                run_dir=run_dir,
            )
        )
    if with_tensorboard():
        out.append(
            _program(
                TENSORBOARD,
                f"{venv_bin}/python -m tradeopt_training.tensorboard "
                f"--host 127.0.0.1 --port {tensorboard_port()}",
                26,
                startsecs=3,
                run_dir=run_dir,
            )
        )
    if with_paper_feed():
        out.append(
            _program(
                STRATEGY_FEED,
                f"{venv_bin}/python -m tradeopt_strategy.feed --heartbeat {run_dir}/feed-alive",
                35,
                startsecs=3,
                environment='OMP_NUM_THREADS="1"',
                run_dir=run_dir,
            )
        )
    out.append(
        _program(
            "beat",
            f"{venv_bin}/celery -A tradeopt_common.jobs.beat:celery_app beat "
            f"--schedule {run_dir}/celerybeat-schedule --loglevel=INFO",
            40,
            run_dir=run_dir,
        )
    )
    out.append(
        _program(
            "gateway",
            f"{nginx} -p {run_dir}/nginx -c {run_dir}/nginx/nginx.conf -e stderr",
            90,
            stopwaitsecs=10,
            startsecs=2,
            run_dir=run_dir,
        )
    )
    return "\n".join(out)


def cmd_render() -> None:
    """Write supervisord.conf, nginx/nginx.conf, nginx/conf.d/gateway.conf and s3.json."""
    run_dir = Path(env("FLEET_RUN_DIR")).resolve()
    with_s3 = env("FLEET_S3", "on") == "on"
    nginx = env("FLEET_NGINX")
    for sub in ("logs", "nginx/conf.d", "nginx/logs", "nginx/temp"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    prefix = run_dir / "nginx"
    (prefix / "nginx.conf").write_text(nginx_main_conf(prefix))
    (prefix / "conf.d" / "gateway.conf").write_text(
        render_template(GATEWAY_TEMPLATE.read_text(), {**gateway_values(), **gateway_rate_values()})
    )
    (run_dir / "supervisord.conf").write_text(supervisord_conf(run_dir, with_s3, nginx))
    if with_s3:
        Path(env("S3_DATA_DIR")).mkdir(parents=True, exist_ok=True)
        identities = {
            "identities": [
                {
                    "name": "tradeopt",
                    "credentials": [
                        {
                            "accessKey": env("TRADING_OPT_STORAGE_ACCESS_KEY"),
                            "secretKey": env("TRADING_OPT_STORAGE_SECRET_KEY"),
                        }
                    ],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        path = run_dir / "s3.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(identities, fh)


# --- probes ----------------------------------------------------------------------------------


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cmd_check_ports() -> None:
    """Fail when a port the fleet would listen on is taken."""
    ports = {"GATEWAY_PORT": env_int("GATEWAY_PORT", 8080)}
    ports.update({port_var(s): service_port(s) for s in fleet_services()})
    if with_optuna_dashboard():
        ports["OPTUNA_DASHBOARD_PORT"] = optuna_dashboard_port()
    if with_tensorboard():
        ports["TENSORBOARD_PORT"] = tensorboard_port()
    if env("FLEET_S3", "on") == "on":
        for name, port in s3_ports().items():
            ports[f"S3 {name}"] = port
            ports[f"S3 {name} gRPC"] = port + GRPC_OFFSET
    busy = [f"{name}={port}" for name, port in ports.items() if not _port_free(port)]
    if busy:
        raise FleetError(
            "ports already in use: " + ", ".join(busy) + " (another fleet? another FLEET_RUN_DIR? "
            "set GATEWAY_PORT / <SVC>_PORT / S3_PORT)"
        )


def cmd_ensure_db(timeout: float) -> None:
    """Wait for PostgreSQL and Redis; create the database named in the URI if it is missing."""
    import redis
    from sqlalchemy.engine import make_url

    deadline = time.monotonic() + timeout
    redis_uri = env("TRADING_OPT_REDIS_URI")
    while True:
        try:
            redis.Redis.from_url(redis_uri, socket_timeout=2, socket_connect_timeout=2).ping()
            break
        except redis.RedisError as exc:
            if time.monotonic() > deadline:
                raise FleetError(f"Redis at {redis_uri} is not reachable: {exc}") from exc
            time.sleep(0.5)

    url = make_url(env("TRADING_OPT_DB_URI"))
    if not url.drivername.startswith("postgresql"):
        return  # SQLite: nothing to create
    if not url.database:
        raise FleetError("TRADING_OPT_DB_URI names no database")

    async def ensure() -> bool:
        import asyncpg

        host, port = url.host or "127.0.0.1", url.port or 5432
        user = url.username or "postgres"
        last: Exception | None = None
        conn = None
        while conn is None:
            try:
                conn = await asyncpg.connect(
                    host=host,
                    port=port,
                    user=user,
                    password=url.password,
                    database="postgres",
                    timeout=5,
                )
            except (TimeoutError, OSError, asyncpg.CannotConnectNowError) as exc:
                last = exc  # not up (yet)
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            except asyncpg.PostgresError as exc:  # up, but refuses us: waiting will not help
                last = exc
                break
        if conn is None:
            raise FleetError(
                f"PostgreSQL at {host}:{port} is not usable as {user!r}: {last} "
                "(start PostgreSQL or set TRADING_OPT_DB_URI)"
            )
        try:
            exists = await conn.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", url.database
            )
            if not exists:
                name = url.database.replace('"', '""')
                await conn.execute(f'CREATE DATABASE "{name}"')
            return not exists
        finally:
            await conn.close()

    if asyncio.run(ensure()):
        print(f"fleet: created database {url.database}")


def cmd_wait_s3(timeout: float) -> None:
    """Wait until S3 answers a signed request with the configured keys."""
    from minio import Minio
    from urllib3 import PoolManager, Retry, Timeout

    endpoint = env("TRADING_OPT_STORAGE_ENDPOINT")
    http = PoolManager(timeout=Timeout(connect=1.0, read=3.0), retries=Retry(total=0))
    client = Minio(
        endpoint,
        access_key=env("TRADING_OPT_STORAGE_ACCESS_KEY"),
        secret_key=env("TRADING_OPT_STORAGE_SECRET_KEY"),
        secure=False,
        region="us-east-1",
        http_client=http,
    )
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            client.bucket_exists("readiness-probe")
            return
        except Exception as exc:  # not up yet
            last = exc
            time.sleep(0.2)
    raise FleetError(f"S3 at {endpoint} did not answer within {timeout:.0f}s ({last!r})")


def cmd_wait_gateway(url: str, timeout: float) -> None:
    """Wait until ``url`` answers 200 with the API key."""
    import httpx

    key = env("TRADING_OPT_API_KEY")
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            resp = httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=5)
            if resp.status_code == 200:
                return
            last = f"HTTP {resp.status_code}: {resp.text[:200].strip()}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.5)
    raise FleetError(f"{url} did not answer 200 within {timeout:.0f}s (last: {last})")


# --- processes -------------------------------------------------------------------------------


def fleet_pids(run_dir: Path) -> list[int]:
    """Processes of the fleet in ``run_dir``, and their descendants; never this process.

    Every program inherits the marker ``TRADEOPT_FLEET_RUN_DIR=<run dir>`` from supervisord;
    nginx overwrites its environment with its process title, so its master is recognised by
    ``-p <run dir>/nginx`` on its command line (its workers are its children).
    """
    marker = f"{MARKER}={run_dir}".encode()
    nginx = f"-p {run_dir}/nginx ".encode()
    me = {os.getpid(), os.getppid()}
    parents: dict[int, int] = {}
    roots: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            state = stat.rsplit(")", 1)[1].split()[0]
            if state == "Z":
                continue
            parents[pid] = ppid
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, IndexError, ValueError):
            continue
        if marker in environ or nginx in cmdline:
            roots.add(pid)
    found = set(roots)
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in found and pid not in found:
                found.add(pid)
                changed = True
    return sorted(found - me)


def cmd_procs(run_dir: str) -> None:
    """Print the pids of the fleet in ``run_dir``, one a line."""
    for pid in fleet_pids(Path(run_dir).resolve()):
        print(pid)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="fleetctl")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("dotenv").add_argument("path")
    sub.add_parser("render")
    sub.add_parser("check-ports")
    sub.add_parser("ensure-db").add_argument("--timeout", type=float, default=15)
    sub.add_parser("wait-s3").add_argument("--timeout", type=float, default=30)
    p = sub.add_parser("wait-gateway")
    p.add_argument("url")
    p.add_argument("--timeout", type=float, default=90)
    sub.add_parser("procs").add_argument("run_dir")
    sub.add_parser("genkey")
    sub.add_parser("programs")
    sub.add_parser("services")
    sub.add_parser("components")
    sub.add_parser("env")
    args = parser.parse_args(argv)
    try:
        match args.cmd:
            case "dotenv":
                cmd_dotenv(args.path)
            case "render":
                cmd_render()
            case "check-ports":
                cmd_check_ports()
            case "ensure-db":
                cmd_ensure_db(args.timeout)
            case "wait-s3":
                cmd_wait_s3(args.timeout)
            case "wait-gateway":
                cmd_wait_gateway(args.url, args.timeout)
            case "procs":
                cmd_procs(args.run_dir)
            case "genkey":
                print(secrets.token_urlsafe(32))
            case "programs":
                print(" ".join(app_programs()))
            case "services":
                for service in fleet_services():
                    print(service.name, service_port(service), service.gateway[0])
            case "components":
                if with_optuna_dashboard():
                    print(OPTUNA_DASHBOARD, optuna_dashboard_port(), "/optuna/api/meta")
                if with_tensorboard():
                    print(TENSORBOARD, tensorboard_port(), "/tensorboard/data/runs")
            case "env":
                cmd_env()
    except FleetError as exc:
        print(f"fleet: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
