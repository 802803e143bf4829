"""The gateway image, compose and k8s give docker/nginx's template every variable it needs, and
the rendered configuration passes `nginx -t`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.support import MANIFEST, ROOT, find_tool, parse, run

pytestmark = pytest.mark.unit

NGINX = ROOT / "docker" / "nginx"
TEMPLATES = sorted((NGINX / "templates").glob("*.template"))
#: Built services of services.yaml -> API port; planned services have no upstream anywhere.
PORTS = {s.upper: s.port for s in MANIFEST.built()}
PLANNED = [s.upper for s in MANIFEST.planned()]
FROM_ENTRYPOINT = {"NGINX_LOCAL_RESOLVERS"}  # set by the image's 15-local-resolvers.envsh


def template_variables() -> set[str]:
    return {v for t in TEMPLATES for v in re.findall(r"\$\{(\w+)\}", t.read_text())}


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in parse(ROOT / "docker" / "gateway.Dockerfile").final.all("ENV"):
        env.update(re.findall(r"(\w+)=(\S+)", args))
    return env


@pytest.fixture(scope="module")
def contexts(
    compose_cmd: list[str], kustomize: Callable[[Path], list[dict[str, Any]]]
) -> dict[str, dict[str, str]]:
    """Environment of the gateway container in every deployment: image ENV + overrides."""
    out = {"image": image_env()}
    for name, files, extra in [
        ("compose-dev", ["docker-compose.yml"], []),
        ("compose-prod", ["docker-compose.prod.yml"], ["--env-file", ".env.example"]),
    ]:
        cmd = [*compose_cmd, "--project-directory", str(ROOT)]
        for f in files:
            cmd += ["-f", str(ROOT / f)]
        model = json.loads(run([*cmd, *extra, "config", "--format", "json"]).stdout)
        out[name] = {**image_env(), **model["services"]["gateway"].get("environment", {})}
    for overlay in ("dev", "prod"):
        objs = kustomize(ROOT / "k8s" / "overlays" / overlay)
        (dep,) = [
            o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "gateway"
        ]
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        out[f"k8s-{overlay}"] = {**image_env(), **{e["name"]: e["value"] for e in container["env"]}}
    return out


def test_template_exists() -> None:
    assert TEMPLATES, "docker/nginx/templates/*.template is missing"
    assert {"GATEWAY_LISTEN", "DATA_UPSTREAM"} <= template_variables()


@pytest.mark.parametrize("context", ["image", "compose-dev", "compose-prod", "k8s-dev", "k8s-prod"])
def test_every_template_variable_is_defined(contexts: dict, context: str) -> None:
    env = contexts[context]
    missing = template_variables() - set(env) - FROM_ENTRYPOINT
    assert not missing, f"{context}: the gateway would start with literal ${{...}}: {missing}"
    assert env["NGINX_ENTRYPOINT_LOCAL_RESOLVERS"] == "1"
    assert env["GATEWAY_LISTEN"] == "8080"
    for service, port in PORTS.items():
        host, _, upstream_port = env[f"{service}_UPSTREAM"].rpartition(":")
        assert int(upstream_port) == port
        expected = f"{service.lower()}-api"
        if context.startswith("k8s"):
            expected += ".trading-optimization.svc.cluster.local"
        assert host == expected, f"{context}: {service}_UPSTREAM={env[f'{service}_UPSTREAM']}"
    for service in PLANNED:
        assert f"{service}_UPSTREAM" not in env, f"{context}: {service} is only planned"
        assert f"{service}_UPSTREAM" not in template_variables()


@pytest.mark.parametrize("context", ["image", "k8s-prod"])
def test_rendered_config_passes_nginx_t(contexts: dict, context: str, tmp_path: Path) -> None:
    nginx = find_tool("nginx")
    env = {**contexts[context], "NGINX_LOCAL_RESOLVERS": "127.0.0.11"}
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    for template in TEMPLATES:
        # envsubst as the image runs it: only defined variables are replaced.
        text = re.sub(r"\$\{(\w+)\}", lambda m: env.get(m[1], m[0]), template.read_text())
        assert "${" not in text
        (conf_d / template.name.removesuffix(".template")).write_text(text)
    main = (NGINX / "nginx.conf").read_text()
    main = main.replace("/tmp/", f"{tmp_path}/").replace("/etc/nginx/conf.d/", f"{conf_d}/")
    (tmp_path / "nginx.conf").write_text(main)
    run([nginx, "-t", "-q", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")])


@pytest.mark.parametrize(
    ("module", "owner"), [(f"{s.package}.app", s.upper) for s in MANIFEST.built()]
)
def test_every_service_route_is_routed_to_its_service(module: str, owner: str) -> None:
    """The gateway's resource map sends every public path of a service app to its upstream
    (the shared ``jobs``, ``keys``, ``auth`` and ``system`` excepted: every service answers those,
    the map sends them to the data service)."""
    import importlib

    text = (NGINX / "templates" / "gateway.conf.template").read_text()
    routes = re.findall(r'"(~[^"]+)"\s+"\$\{(\w+)_UPSTREAM\}"', text)
    assert routes, "no resource map in the gateway template"
    app = importlib.import_module(module).create_app()
    paths = [p for p in app.openapi()["paths"] if p.startswith("/api/")]
    assert paths
    for path in paths:
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        owners = [svc for regex, svc in routes if re.search(regex[1:], concrete)]
        # shared resources: any service answers them; the map sends them to the data service
        shared = path.startswith(("/api/v1/jobs", "/api/v1/keys", "/api/v1/auth", "/api/v1/system"))
        expected = ["DATA"] if shared else [owner]
        assert owners == expected, (path, owners)


def test_planned_services_answer_503_naming_the_service() -> None:
    """Resources of planned services map to no upstream: an internal location answers 503
    problem+json naming the service (``tests/e2e`` checks the live answer)."""
    text = (NGINX / "templates" / "gateway.conf.template").read_text()
    not_deployed = dict(re.findall(r'"(~[^"]+)"\s+"([a-z]+)";', text))
    for service in MANIFEST.planned():
        for resource in service.gateway:
            owners = [
                svc
                for regex, svc in not_deployed.items()
                if re.search(regex[1:], f"/api/v1/{resource}/x")
            ]
            assert owners == [service.name], (resource, owners)
        block = re.search(
            rf"location = /_gateway/not-deployed/{service.name} \{{(.*?)\n    \}}", text, re.S
        )
        assert block, f"no 503 location for {service.name}"
        assert "return 503" in block[1]
        assert f'"service":"{service.name}"' in block[1]
        assert "application/problem+json" in block[1]


@pytest.mark.parametrize("context", ["image", "compose-dev", "compose-prod", "k8s-dev", "k8s-prod"])
def test_rate_limit_defaults_protect_every_deployment(contexts: dict, context: str) -> None:
    """Every deployment renders the production rate limit (30 r/s, burst 60) unless told."""
    env = contexts[context]
    assert (env["GATEWAY_RATE_LIMIT"], env["GATEWAY_RATE_BURST"]) == ("30", "60")


@pytest.mark.parametrize("context", ["image", "compose-dev", "compose-prod", "k8s-dev", "k8s-prod"])
def test_forwarded_for_is_believed_only_from_the_configured_proxy(
    contexts: dict, context: str
) -> None:
    """X-Forwarded-For is believed from one configured proxy (issue 16 #11): none by default
    (image, compose: ``unix:``), the pod network in k8s (where only the ingress reaches the
    gateway's ClusterIP) — never every private range, which let a client on the same network
    forge its address past the rate limit."""
    trusted = contexts[context]["GATEWAY_TRUSTED_PROXY"]
    assert trusted == ("10.0.0.0/8" if context.startswith("k8s") else "unix:")
    template = (ROOT / "docker/nginx/templates/gateway.conf.template").read_text()
    assert re.findall(r"set_real_ip_from (\S+);", template) == ["${GATEWAY_TRUSTED_PROXY}"]


def test_rate_limit_settings_reach_the_gateway(tmp_path: Path, monkeypatch) -> None:
    """GATEWAY_RATE_LIMIT / GATEWAY_RATE_BURST set the zone's rate and every location's burst in
    the fleet's rendering, which passes `nginx -t`; a bad value is refused before nginx sees it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "fleetctl_rate", ROOT / "scripts" / "fleet" / "fleetctl.py"
    )
    assert spec is not None and spec.loader is not None
    fleetctl = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fleetctl)
    monkeypatch.setenv("FLEET_RUN_DIR", str(tmp_path))
    monkeypatch.setenv("FLEET_S3", "off")
    monkeypatch.setenv("FLEET_NGINX", find_tool("nginx"))
    monkeypatch.setenv("GATEWAY_RATE_LIMIT", "5000")
    monkeypatch.setenv("GATEWAY_RATE_BURST", "10000")
    fleetctl.cmd_render()
    gateway = (tmp_path / "nginx" / "conf.d" / "gateway.conf").read_text()
    assert "zone=tradeopt_api:10m rate=5000r/s;" in gateway
    bursts = re.findall(r"limit_req zone=tradeopt_api burst=(\d+) nodelay;", gateway)
    assert bursts and set(bursts) == {"10000"}
    assert "${" not in gateway
    run(
        [
            find_tool("nginx"),
            "-t",
            "-q",
            "-p",
            str(tmp_path / "nginx"),
            "-c",
            str(tmp_path / "nginx" / "nginx.conf"),
            "-e",
            "stderr",
        ]
    )
    monkeypatch.setenv("GATEWAY_RATE_LIMIT", "0")
    with pytest.raises(fleetctl.FleetError, match="GATEWAY_RATE_LIMIT"):
        fleetctl.gateway_rate_values()


def test_event_streams_are_limited_per_credential() -> None:
    """Hardening item 11: SSE streams were unlimited per key (each polls the database). The
    events location caps open streams per bearer key (per address without one) with a 429."""
    text = (NGINX / "templates" / "gateway.conf.template").read_text()
    assert re.search(r"map \$http_authorization \$tradeopt_stream_owner \{", text)
    assert "limit_conn_zone $tradeopt_stream_owner zone=tradeopt_streams" in text
    assert "limit_conn_status 429;" in text
    events = re.search(
        r"location ~ \^/api/v1/\[a-z-\]\+/\[\^/\]\+/events\$ \{(.*?)\n    \}", text, re.S
    )
    assert events and re.search(r"limit_conn tradeopt_streams \d+;", events.group(1))
