"""optuna-dashboard in every deployment target: compose (dev, prod) and k8s (dev, prod) run it from
the tuning image on port 8081 without a published port, the gateway reaches it by the name they
give it, and the gateway protects ``/optuna/`` with ``auth_request`` (the rendered config passes
``nginx -t`` in test_gateway.py; tests/e2e exercises it)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.support import ROOT, run

pytestmark = pytest.mark.unit

TEMPLATE = ROOT / "docker" / "nginx" / "templates" / "gateway.conf.template"
COMMAND = "tradeopt_tuning.dashboard:create_app"


def _compose(compose_cmd: list[str], file: str, extra: list[str]) -> dict[str, Any]:
    cmd = [*compose_cmd, "--project-directory", str(ROOT), "-f", str(ROOT / file), *extra]
    return json.loads(run([*cmd, "config", "--format", "json"]).stdout)


@pytest.mark.parametrize(
    ("file", "extra"),
    [("docker-compose.yml", []), ("docker-compose.prod.yml", ["--env-file", ".env.example"])],
)
def test_compose_runs_the_dashboard_behind_the_gateway(
    compose_cmd: list[str], file: str, extra: list[str]
) -> None:
    services = _compose(compose_cmd, file, extra)["services"]
    dash = services["optuna-dashboard"]
    assert COMMAND in dash["command"] and "wsgi" in dash["command"]
    assert dash["command"][dash["command"].index("--port") + 1] == "8081"
    assert "trading-optimization-tuning" in dash["image"]
    assert not dash.get("ports"), "only the gateway may reach it (it has no auth of its own)"
    # the same settings as the tuning service: the same Optuna storage
    for key in ("TRADING_OPT_DB_URI", "TRADING_OPT_API_KEY"):
        assert dash["environment"][key] == services["tuning-api"]["environment"][key]
    gateway = services["gateway"]
    assert gateway["environment"]["OPTUNA_DASHBOARD_UPSTREAM"] == "optuna-dashboard:8081"
    assert "optuna-dashboard" in gateway["depends_on"]


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_k8s_deploys_the_dashboard_behind_the_gateway(
    kustomize: Callable[[Path], list[dict[str, Any]]], overlay: str
) -> None:
    objs = kustomize(ROOT / "k8s" / "overlays" / overlay)

    def one(kind: str, name: str) -> dict[str, Any]:
        (found,) = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
        return found

    dep = one("Deployment", "optuna-dashboard")
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    assert COMMAND in container["args"]
    assert "trading-optimization-tuning" in container["image"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/meta"
    svc = one("Service", "optuna-dashboard")
    assert svc["spec"]["type"] == "ClusterIP"
    assert [p["port"] for p in svc["spec"]["ports"]] == [8081]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert all(
        svc["spec"]["selector"][k] == v for k, v in labels.items() if k in svc["spec"]["selector"]
    )

    gateway = one("Deployment", "gateway")
    env = {
        e["name"]: e["value"] for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["OPTUNA_DASHBOARD_UPSTREAM"] == (
        "optuna-dashboard.trading-optimization.svc.cluster.local:8081"
    )
    # network policies: the gateway may reach it, it takes traffic from the gateway only
    policy = one("NetworkPolicy", "optuna-dashboard")
    (rule,) = policy["spec"]["ingress"]
    assert [f["podSelector"]["matchLabels"] for f in rule["from"]] == [
        {"app.kubernetes.io/component": "gateway"}
    ]
    egress = one("NetworkPolicy", "gateway")["spec"]["egress"]
    assert any(
        t.get("podSelector", {}).get("matchLabels")
        == {"app.kubernetes.io/component": "optuna-dashboard"}
        for rule in egress
        for t in rule["to"]
    )


def test_gateway_protects_optuna_with_auth_request() -> None:
    text = TEMPLATE.read_text()
    block = re.search(r"location /optuna/ \{(.*?)\n    \}", text, re.S)
    assert block, "no /optuna/ location in the gateway template"
    body = block.group(1)
    assert "auth_request /_gateway/auth;" in body
    assert "proxy_pass http://$tradeopt_optuna_upstream;" in body
    auth = re.search(r"location = /_gateway/auth \{(.*?)\n    \}", text, re.S)
    assert auth and "internal;" in auth.group(1)
    assert "/api/v1/auth/check" in auth.group(1)
    assert "X-Original-Method $request_method" in auth.group(1)
    assert "proxy_pass_request_body off;" in auth.group(1)
    for status in (401, 403):
        assert f"error_page {status} /_gateway/errors/{status};" in text
        assert f"location = /_gateway/errors/{status}" in text
