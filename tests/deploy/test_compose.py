"""docker-compose*.yml: validated by `docker compose config` (offline) and the Compose
Specification JSON schema, then checked structurally on the normalised model compose prints
(anchors merged, variables interpolated)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.support import (
    DATA_API_ARGV,
    DATA_WORKER_ARGV,
    EVALUATION_API_ARGV,
    EVALUATION_WORKER_ARGV,
    MANIFEST,
    MIGRATE_ARGV,
    ROOT,
    SERVICES,
    STRATEGY_API_ARGV,
    STRATEGY_WORKER_ARGV,
    TRAINING_API_ARGV,
    TRAINING_SOFT_SHUTDOWN_MIN,
    TRAINING_WORKER_ARGV,
    TUNING_API_ARGV,
    TUNING_WORKER_ARGV,
    find_tool,
    known_settings,
    run,
)
from tradeopt_common.config import PLACEHOLDER_SECRETS, CommonSettings

pytestmark = pytest.mark.unit

DEV = ROOT / "docker-compose.yml"
PROD = ROOT / "docker-compose.prod.yml"
MONITORING = ROOT / "docker-compose.monitoring.yml"
ENV_EXAMPLE = ROOT / ".env.example"

# name -> (compose files, extra arguments)
STACKS = {
    "dev": ([DEV], []),
    "prod": ([PROD], ["--env-file", str(ENV_EXAMPLE)]),
    "monitoring": ([MONITORING], []),
    "dev+monitoring": ([DEV, MONITORING], []),
    "prod+monitoring": ([PROD, MONITORING], ["--env-file", str(ENV_EXAMPLE)]),
    # the profile of paper trading with Alpaca: the bar feed joins the stack
    "dev+paper-trading": ([DEV], ["--profile", "paper-trading"]),
    "prod+paper-trading": ([PROD], ["--env-file", str(ENV_EXAMPLE), "--profile", "paper-trading"]),
}
#: Alpaca's settings, given to the strategy API, worker and feed (empty keys unless in .env).
ALPACA_ENV = ("ALPACA_API_KEY", "ALPACA_API_SECRET", "ALPACA_BASE_URL", "ALPACA_DATA_URL")
FEED_ARGV = ["python", "-m", "tradeopt_strategy.feed", "--heartbeat", "/tmp/feed-alive"]
SOFT_SHUTDOWN_DEFAULT = CommonSettings.model_fields["worker_soft_shutdown_seconds"].default
DATA_COMMANDS = {
    "data-api": DATA_API_ARGV,
    "data-worker": DATA_WORKER_ARGV,
    "beat": [
        "celery",
        "-A",
        "tradeopt_common.jobs.beat:celery_app",
        "beat",
        "--schedule",
        "/tmp/celerybeat-schedule",
        "--loglevel=INFO",
    ],
    "data-migrate": MIGRATE_ARGV,
}
TRAINING_COMMANDS = {
    "training-api": TRAINING_API_ARGV,
    "training-worker": TRAINING_WORKER_ARGV,
    "training-migrate": MIGRATE_ARGV,
}
TUNING_COMMANDS = {
    "tuning-api": TUNING_API_ARGV,
    "tuning-worker": TUNING_WORKER_ARGV,
    "tuning-migrate": MIGRATE_ARGV,
}
EVALUATION_COMMANDS = {
    "evaluation-api": EVALUATION_API_ARGV,
    "evaluation-worker": EVALUATION_WORKER_ARGV,
    "evaluation-migrate": MIGRATE_ARGV,
}
STRATEGY_COMMANDS = {
    "strategy-api": STRATEGY_API_ARGV,
    "strategy-worker": STRATEGY_WORKER_ARGV,
    "strategy-migrate": MIGRATE_ARGV,
}
#: The services built on the compute image (torch): service -> (processes, API port).
ML_SERVICES = {
    "training": (TRAINING_COMMANDS, 8002),
    "tuning": (TUNING_COMMANDS, 8003),
    "evaluation": (EVALUATION_COMMANDS, 8004),
    "strategy": (STRATEGY_COMMANDS, 8005),
}


def test_ml_services_are_the_built_compute_services() -> None:
    """The per-service expectations above cover every built service on the compute image of
    services.yaml (a new one needs its commands written down here)."""
    assert set(ML_SERVICES) == {s.name for s in MANIFEST.built() if s.image == "compute"}


APP_PROCESSES = [
    *DATA_COMMANDS,
    *TRAINING_COMMANDS,
    *TUNING_COMMANDS,
    *EVALUATION_COMMANDS,
    *STRATEGY_COMMANDS,
]


@pytest.fixture(scope="module")
def model(compose_cmd: list[str]) -> dict[str, dict[str, Any]]:
    """`docker compose config --format json` of every stack; also proves each one is valid."""
    models = {}
    for name, (files, extra) in STACKS.items():
        cmd = [*compose_cmd, "--project-directory", str(ROOT)]
        for f in files:
            cmd += ["-f", str(f)]
        out = run([*cmd, *extra, "config", "--format", "json"]).stdout
        models[name] = json.loads(out)
    return models


def services(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return model["services"]


def memory_bytes(size: str | int) -> float:
    """Compose memory ("2g", "512m" or bytes, as compose prints it) to bytes."""
    if isinstance(size, int) or str(size).isdigit():
        return float(size)
    number, unit = re.fullmatch(r"([\d.]+)([kmg])b?", str(size).lower()).groups()
    return float(number) * 1024 ** "kmg".index(unit) * 1024


def seconds(duration: str) -> float:
    """Go duration as compose prints it ("1m30s", "90s") to seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(n) * units[u] for n, u in re.findall(r"([\d.]+)(ms|h|m|s)", duration))


def completed_targets(all_services: dict[str, dict[str, Any]]) -> set[str]:
    return {
        target
        for svc in all_services.values()
        for target, dep in (svc.get("depends_on") or {}).items()
        if dep.get("condition") == "service_completed_successfully"
    }


@pytest.mark.parametrize("stack", list(STACKS))
def test_every_service_is_health_checked_or_one_shot(model: dict, stack: str) -> None:
    svcs = services(model[stack])
    one_shots = completed_targets(svcs)
    for name, svc in svcs.items():
        if svc.get("scale") == 0:
            assert "build" in svc, f"{stack}/{name}: scale 0 is only for build-only services"
            continue
        if name in one_shots:
            assert svc.get("restart", "no") == "no", f"{stack}/{name}: one-shot must not restart"
            continue
        check = svc.get("healthcheck")
        assert check and not check.get("disable") and check.get("test"), (
            f"{stack}/{name}: a long-running service needs a healthcheck"
        )
        assert svc.get("restart") == "unless-stopped", f"{stack}/{name}: restart policy"


@pytest.mark.parametrize("stack", list(STACKS))
def test_depends_on_conditions_are_sound(model: dict, stack: str) -> None:
    svcs = services(model[stack])
    for name, svc in svcs.items():
        for target, dep in (svc.get("depends_on") or {}).items():
            assert target in svcs, f"{stack}/{name} depends on unknown {target}"
            condition = dep.get("condition")
            assert condition in {
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            }
            if condition == "service_healthy":
                check = svcs[target].get("healthcheck") or {}
                assert check.get("test") and not check.get("disable"), (
                    f"{stack}/{name} waits for {target} to be healthy, but it has no healthcheck"
                )


@pytest.mark.parametrize("stack", list(STACKS))
def test_images_are_pinned(model: dict, stack: str) -> None:
    for name, svc in services(model[stack]).items():
        image = svc["image"]
        repo, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
        assert tag and tag != "latest", f"{stack}/{name}: {image} is not pinned"
        if "trading-optimization-" not in repo:
            assert re.search(r"\d", tag), f"{stack}/{name}: {image} has no version in its tag"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_data_processes_run_the_specified_commands(model: dict, stack: str) -> None:
    svcs = services(model[stack])
    for name, command in DATA_COMMANDS.items():
        actual = svcs[name]["command"]
        if name == "data-api" and stack == "dev":
            assert actual[:3] == command[:3] and "--reload" in actual
            assert "--port=8001" in actual and "--host=0.0.0.0" in actual
        else:
            assert actual == command, f"{stack}/{name}"
        assert svcs[name]["image"].split("/")[-1].startswith("trading-optimization-data:")


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("service", list(ML_SERVICES))
def test_ml_service_processes_run_the_specified_commands(
    model: dict, stack: str, service: str
) -> None:
    svcs = services(model[stack])
    commands, port = ML_SERVICES[service]
    for name, command in commands.items():
        actual = svcs[name]["command"]
        if name == f"{service}-api" and stack == "dev":
            assert actual[:3] == command[:3] and "--reload" in actual
            assert f"--port={port}" in actual and "--host=0.0.0.0" in actual
            assert f"--reload-dir=/app/services/{service}/src" in actual
        else:
            assert actual == command, f"{stack}/{name}"
        image = svcs[name]["image"].split("/")[-1]
        assert image.startswith(f"trading-optimization-{service}:"), f"{stack}/{name}: {image}"
    # the API's health check probes its own port, the worker's pings its own app
    assert f"127.0.0.1:{port}/healthz" in " ".join(svcs[f"{service}-api"]["healthcheck"]["test"])
    assert f"tradeopt_{service}.worker:celery_app inspect ping" in " ".join(
        svcs[f"{service}-worker"]["healthcheck"]["test"]
    )
    # the API and the worker wait for the migration of their own image (it holds their schema)
    for role in ("api", "worker"):
        assert svcs[f"{service}-{role}"]["depends_on"][f"{service}-migrate"]["condition"] == (
            "service_completed_successfully"
        )


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("worker_name", [f"{s}-worker" for s in SERVICES])
def test_worker_shutdown_grace_exceeds_soft_shutdown(
    model: dict, stack: str, worker_name: str
) -> None:
    worker = services(model[stack])[worker_name]
    env = worker["environment"]
    soft = float(env.get("TRADING_OPT_WORKER_SOFT_SHUTDOWN_SECONDS", SOFT_SHUTDOWN_DEFAULT))
    assert seconds(worker["stop_grace_period"]) > soft
    assert env["REMAP_SIGTERM"] == "SIGQUIT"
    assert env["TRADING_OPT_WORKER_METRICS_PORT"] == "9808"
    if worker_name == "training-worker":
        assert soft >= TRAINING_SOFT_SHUTDOWN_MIN, "training runs need time to checkpoint"
        assert int(env["TRADING_OPT_TORCH_THREADS"]) >= 1
    if worker_name == "evaluation-worker":
        # short jobs: the data workers' window, not training's checkpoint window
        assert soft < TRAINING_SOFT_SHUTDOWN_MIN


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_evaluation_worker_is_moderate(model: dict, stack: str) -> None:
    """Evaluations are CPU-bound but short: one per process on one torch/BLAS thread, the data
    workers' shutdown window, and no more than a training worker gets."""
    svcs = services(model[stack])
    data, training, evaluation = (
        svcs["data-worker"],
        svcs["training-worker"],
        svcs["evaluation-worker"],
    )
    assert evaluation["environment"]["OMP_NUM_THREADS"] == "1"
    assert "TRADING_OPT_TORCH_THREADS" not in evaluation["environment"]  # not a setting it reads
    grace = seconds(evaluation["stop_grace_period"])
    assert grace == seconds(data["stop_grace_period"]) < seconds(training["stop_grace_period"])
    if stack == "prod":
        limits = evaluation["deploy"]["resources"]["limits"]
        reserved = evaluation["deploy"]["resources"]["reservations"]
        training_limits = training["deploy"]["resources"]["limits"]
        assert float(reserved["cpus"]) <= 1 <= float(limits["cpus"])
        assert float(limits["cpus"]) <= float(training_limits["cpus"])
        assert memory_bytes(reserved["memory"]) <= memory_bytes(limits["memory"])
        assert memory_bytes(limits["memory"]) <= memory_bytes(training_limits["memory"])


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_training_worker_is_sized_for_training(model: dict, stack: str) -> None:
    """Training workers run longer and heavier than data workers; torch threads fit the CPUs."""
    svcs = services(model[stack])
    data, training = svcs["data-worker"], svcs["training-worker"]
    threads = int(training["environment"]["TRADING_OPT_TORCH_THREADS"])
    assert seconds(training["stop_grace_period"]) > seconds(data["stop_grace_period"])
    if stack == "prod":
        limits = training["deploy"]["resources"]["limits"]
        reserved = training["deploy"]["resources"]["reservations"]
        data_limits = data["deploy"]["resources"]["limits"]
        assert memory_bytes(limits["memory"]) > memory_bytes(data_limits["memory"])
        assert float(reserved["cpus"]) >= threads <= float(limits["cpus"])


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_app_environment_matches_infra(model: dict, stack: str) -> None:
    svcs = services(model[stack])
    pg = svcs["postgres"]["environment"]
    minio_init = svcs["minio-init"]["environment"]
    fields = known_settings()
    for name in APP_PROCESSES:
        env = svcs[name]["environment"]
        assert env["TRADING_OPT_DB_URI"] == (
            f"postgresql+asyncpg://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}"
            f"@postgres:5432/{pg['POSTGRES_DB']}"
        )
        assert env["TRADING_OPT_REDIS_URI"] == "redis://redis:6379/0"
        assert env["TRADING_OPT_STORAGE_ENDPOINT"] == "minio:9000"
        assert env["TRADING_OPT_STORAGE_SECURE"] == "false"
        for svc, (port, _) in SERVICES.items():
            assert env[f"TRADING_OPT_{svc.upper()}_URL"] == f"http://{svc}-api:{port}"
        for key in ("STORAGE_ACCESS_KEY", "STORAGE_SECRET_KEY", "STORAGE_BUCKET"):
            assert env[f"TRADING_OPT_{key}"] == minio_init[f"TRADING_OPT_{key}"]
        assert env["TRADING_OPT_LOG_JSON"] == "true"
        for key in env:
            if key.startswith("TRADING_OPT_"):
                assert key.removeprefix("TRADING_OPT_").lower() in fields, f"unknown setting {key}"
    expected_env = "production" if stack == "prod" else "development"
    assert svcs["data-api"]["environment"]["TRADING_OPT_ENV"] == expected_env


def test_dev_builds_service_images_from_the_base_service(model: dict) -> None:
    svcs = services(model["dev"])
    assert svcs["base"]["scale"] == 0
    base_image = svcs["base"]["image"]
    for name in DATA_COMMANDS:
        build = svcs[name]["build"]
        assert build["dockerfile"] == "docker/service.Dockerfile"
        assert build["args"] == {
            "SERVICE": "data",
            "SERVICE_PORT": "8001",
            "BASE_IMAGE": base_image,
        }
        assert build["additional_contexts"] == {base_image: "service:base"}
    assert svcs["gateway"]["build"]["dockerfile"] == "docker/gateway.Dockerfile"
    assert svcs["gateway"]["environment"]["DATA_UPSTREAM"] == "data-api:8001"


@pytest.mark.parametrize("service", list(ML_SERVICES))
def test_dev_builds_ml_images_from_the_compute_service(model: dict, service: str) -> None:
    """base -> compute (torch) -> training / evaluation, each through `service:` build contexts."""
    svcs = services(model["dev"])
    base_image, compute = svcs["base"]["image"], svcs["compute"]
    assert compute["scale"] == 0
    assert compute["build"]["dockerfile"] == "docker/compute.Dockerfile"
    assert compute["build"]["args"]["BASE_IMAGE"] == base_image
    assert compute["build"]["args"]["TORCH_VARIANT"] == "cpu"
    assert compute["build"]["additional_contexts"] == {base_image: "service:base"}
    commands, port = ML_SERVICES[service]
    for name in commands:
        build = svcs[name]["build"]
        assert build["dockerfile"] == "docker/service.Dockerfile"
        assert build["args"] == {
            "SERVICE": service,
            "SERVICE_PORT": str(port),
            "BASE_IMAGE": compute["image"],
        }
        assert build["additional_contexts"] == {compute["image"]: "service:compute"}
        mounts = {v["target"] for v in svcs[name]["volumes"]}
        assert f"/app/services/{service}/src" in mounts
        assert f"/app/services/{service}/src" in svcs[name]["environment"]["PYTHONPATH"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_service_is_deployed_everywhere(model: dict, stack: str) -> None:
    """Each service of DESIGN §1 has api, worker and migrate processes, and the gateway points at
    its API (by compose name and port)."""
    svcs = services(model[stack])
    gateway = svcs["gateway"]
    for svc, (port, queue) in SERVICES.items():
        assert {f"{svc}-api", f"{svc}-worker", f"{svc}-migrate"} <= set(svcs), svc
        assert gateway["environment"][f"{svc.upper()}_UPSTREAM"] == f"{svc}-api:{port}"
        assert f"{svc}-api" in gateway["depends_on"], svc
        worker = svcs[f"{svc}-worker"]["command"]
        assert worker[worker.index("-Q") + 1].split(",")[0] == queue


def test_dev_publishes_infra_on_loopback_only(model: dict) -> None:
    for name in ("postgres", "redis", "minio", *(f"{s}-api" for s in SERVICES)):
        for port in services(model["dev"])[name].get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"dev {name} publishes {port} publicly"
    assert [p["target"] for p in services(model["dev"])["gateway"]["ports"]] == [8080]
    for svc, (port, _) in SERVICES.items():  # each API is reachable on its DESIGN port locally
        published = services(model["dev"])[f"{svc}-api"]["ports"]
        assert [(p["target"], p["published"]) for p in published] == [(port, str(port))], svc


def test_redis_is_persistent_and_never_evicts(model: dict) -> None:
    for stack in ("dev", "prod"):
        command = services(model[stack])["redis"]["command"]
        assert command[:3] == ["redis-server", "--appendonly", "yes"]
        assert "noeviction" in command


def test_prod_publishes_only_the_gateway(model: dict) -> None:
    for name, svc in services(model["prod"]).items():
        if name == "gateway":
            assert [p["target"] for p in svc["ports"]] == [8080]
        else:
            assert not svc.get("ports"), f"prod {name} publishes {svc['ports']}"


def test_prod_limits_logging_restart_and_hardening(model: dict) -> None:
    svcs = services(model["prod"])
    one_shots = completed_targets(svcs)
    for name, svc in svcs.items():
        logging = svc.get("logging", {})
        assert logging.get("driver") == "json-file", name
        assert {"max-size", "max-file"} <= set(logging.get("options", {})), name
        if name in one_shots:
            continue
        limits = svc.get("deploy", {}).get("resources", {}).get("limits", {})
        assert limits.get("cpus") and limits.get("memory"), f"prod {name} has no resource limits"
        assert svc.get("restart") == "unless-stopped", name
        assert "no-new-privileges:true" in svc.get("security_opt", []), name
    for name in (*APP_PROCESSES, "gateway", "redis", "postgres"):
        assert svcs[name].get("read_only") is True, f"prod {name} should have a read-only root"
    for name in (*APP_PROCESSES, "gateway"):
        assert any(t.startswith("/tmp") for t in svcs[name]["tmpfs"]), name
        assert svcs[name]["cap_drop"] == ["ALL"], name
    assert svcs["data-api"]["deploy"]["replicas"] >= 2
    assert svcs["data-worker"]["deploy"]["replicas"] >= 2
    assert svcs["training-api"]["deploy"]["replicas"] >= 2
    assert svcs["evaluation-api"]["deploy"]["replicas"] >= 2
    assert svcs["evaluation-worker"]["deploy"]["replicas"] >= 2
    assert svcs["beat"]["deploy"]["replicas"] == 1


def test_prod_requires_every_secret(compose_cmd: list[str]) -> None:
    """Without .env the prod file refuses to render: no secret silently defaults."""
    proc = run(
        [
            *compose_cmd,
            "--project-directory",
            str(ROOT),
            "-f",
            str(PROD),
            "--env-file",
            "/dev/null",
            "config",
            "-q",
        ],
        check=False,
    )
    assert proc.returncode != 0
    assert "required variable" in proc.stderr


def test_env_example_covers_every_variable_and_holds_placeholders() -> None:
    example = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    )
    used: set[str] = set()
    for path in (DEV, PROD, MONITORING):
        used |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", path.read_text()))
    optional = {"PROMETHEUS_RETENTION", "PROMETHEUS_PORT", "ALERTMANAGER_PORT", "GRAFANA_PORT"}
    # Alpaca's keys are optional (empty: sessions using Alpaca halt saying so) and real ones
    # only: .env.example lists them commented out instead of with a placeholder.
    optional |= {"ALPACA_API_KEY", "ALPACA_API_SECRET"}
    for key in ("ALPACA_API_KEY", "ALPACA_API_SECRET"):
        assert f"# {key}=" in ENV_EXAMPLE.read_text(), key
    missing = used - set(example) - optional
    assert not missing, f".env.example lacks {sorted(missing)}"
    for key, value in example.items():
        if re.search(r"PASSWORD|SECRET|API_KEY", key):
            assert value.startswith("change-me"), f"{key} in .env.example must be a placeholder"
    assert example["TRADING_OPT_API_KEY"] in PLACEHOLDER_SECRETS  # production refuses it


def test_monitoring_mounts_the_repo_config(model: dict) -> None:
    svcs = services(model["monitoring"])
    mounts = {
        name: {
            (Path(v["source"]).relative_to(ROOT).as_posix(), v["target"])
            for v in svc.get("volumes", [])
            if v["type"] == "bind" and v["source"] != "/"
        }
        for name, svc in svcs.items()
    }
    assert ("monitoring/prometheus", "/etc/prometheus") in mounts["prometheus"]
    assert ("monitoring/alertmanager", "/etc/alertmanager") in mounts["alertmanager"]
    assert ("monitoring/grafana/provisioning", "/etc/grafana/provisioning") in mounts["grafana"]
    assert ("monitoring/grafana/dashboards", "/var/lib/grafana/dashboards") in mounts["grafana"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in svcs["prometheus"]["command"]
    assert svcs["celery-exporter"]["command"] == ["--broker-url=redis://redis:6379/0"]
    assert svcs["redis-exporter"]["environment"]["REDIS_ADDR"] == "redis://redis:6379"


def test_compose_files_match_the_compose_spec_schema(tmp_path: Path) -> None:
    """Every compose file validates against the Compose Specification JSON schema (vendored by
    check-jsonschema, offline); a file that breaks it is refused, so the check can fail."""
    check = find_tool("check-jsonschema")
    run([check, "--builtin-schema", "vendor.compose-spec", str(DEV), str(PROD), str(MONITORING)])
    broken = tmp_path / "broken-compose.yml"
    broken.write_text("services:\n  api:\n    image: x\n    restart: sometimes\n    ports: 8080\n")
    bad = subprocess.run(
        [check, "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode != 0, bad.stdout


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_paper_trading_profile(model: dict, stack: str) -> None:
    """`--profile paper-trading` adds the bar feed (one process, the strategy image, Alpaca's
    settings from .env, never baked in); without it the stack has no feed. The strategy API and
    worker get Alpaca's settings either way (orders of sessions with "broker": "alpaca")."""
    plain, paper = services(model[stack]), services(model[f"{stack}+paper-trading"])
    assert "strategy-feed" not in plain
    assert set(paper) - set(plain) == {"strategy-feed"}
    feed = paper["strategy-feed"]
    assert feed["profiles"] == ["paper-trading"]
    assert feed["command"] == FEED_ARGV
    assert feed["image"] == paper["strategy-api"]["image"]
    assert "/tmp/feed-alive" in " ".join(feed["healthcheck"]["test"])
    assert feed["depends_on"]["strategy-migrate"]["condition"] == "service_completed_successfully"
    if stack == "prod":
        assert feed["deploy"]["replicas"] == 1
    for name in ("strategy-api", "strategy-worker", "strategy-feed"):
        env = paper[name]["environment"]
        for key in ALPACA_ENV:
            assert key in env, (name, key)
        assert env["ALPACA_API_KEY"] == env["ALPACA_API_SECRET"] == "", name  # not in .env
        assert env["ALPACA_BASE_URL"] == "https://paper-api.alpaca.markets", name
    for name in ("strategy-api", "strategy-worker"):
        assert plain[name]["environment"]["ALPACA_API_KEY"] == ""
    for path in (DEV, PROD):  # the keys come from the environment or .env only
        text = path.read_text()
        assert text.count("ALPACA_API_KEY: ${ALPACA_API_KEY:-}") == 1
        assert text.count("ALPACA_API_SECRET: ${ALPACA_API_SECRET:-}") == 1


def test_paper_trading_profile_takes_the_keys_from_the_environment(
    compose_cmd: list[str],
) -> None:
    env = {**os.environ, "ALPACA_API_KEY": "PKFROMENV", "ALPACA_API_SECRET": "from-env-secret"}
    out = run(
        [*compose_cmd, "--project-directory", str(ROOT), "-f", str(DEV), "--profile",
         "paper-trading", "config", "--format", "json"],
        env=env,
    ).stdout  # fmt: skip
    svcs = json.loads(out)["services"]
    for name in ("strategy-api", "strategy-worker", "strategy-feed"):
        assert svcs[name]["environment"]["ALPACA_API_KEY"] == "PKFROMENV", name
        assert svcs[name]["environment"]["ALPACA_API_SECRET"] == "from-env-secret", name
