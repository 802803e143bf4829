"""TensorBoard in every deployment target: compose (dev, prod) and k8s (dev, prod) run
``tradeopt_training.tensorboard`` from the training image on port 6006 without a published port,
the gateway reaches it by the name they give it, and the gateway protects ``/tensorboard/`` with
``auth_request`` as a read (the rendered config passes ``nginx -t`` in tests/e2e/test_dev_fleet.py;
tests/e2e/test_tensorboard_fleet.py exercises it)."""

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
MODULE = "tradeopt_training.tensorboard"
READY = "/tensorboard/data/environment"


def _compose(compose_cmd: list[str], file: str, extra: list[str]) -> dict[str, Any]:
    cmd = [*compose_cmd, "--project-directory", str(ROOT), "-f", str(ROOT / file), *extra]
    return json.loads(run([*cmd, "config", "--format", "json"]).stdout)


@pytest.mark.parametrize(
    ("file", "extra"),
    [("docker-compose.yml", []), ("docker-compose.prod.yml", ["--env-file", ".env.example"])],
)
def test_compose_runs_tensorboard_behind_the_gateway(
    compose_cmd: list[str], file: str, extra: list[str]
) -> None:
    services = _compose(compose_cmd, file, extra)["services"]
    board = services["tensorboard"]
    assert board["command"][:3] == ["python", "-m", MODULE]
    assert board["command"][board["command"].index("--port") + 1] == "6006"
    assert "trading-optimization-training" in board["image"]
    assert not board.get("ports"), "only the gateway may reach it (it has no auth of its own)"
    # the same bucket as the training service that uploads the event files
    for key in ("TRADING_OPT_STORAGE_ENDPOINT", "TRADING_OPT_STORAGE_BUCKET"):
        assert board["environment"][key] == services["training-api"]["environment"][key]
    assert board["environment"]["TRADING_OPT_TENSORBOARD_DIR"].startswith("/tmp/")
    assert READY in " ".join(board["healthcheck"]["test"])
    gateway = services["gateway"]
    assert gateway["environment"]["TENSORBOARD_UPSTREAM"] == "tensorboard:6006"
    assert "tensorboard" in gateway["depends_on"]


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_k8s_deploys_tensorboard_behind_the_gateway(
    kustomize: Callable[[Path], list[dict[str, Any]]], overlay: str
) -> None:
    objs = kustomize(ROOT / "k8s" / "overlays" / overlay)

    def one(kind: str, name: str) -> dict[str, Any]:
        (found,) = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
        return found

    dep = one("Deployment", "tensorboard")
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][:3] == ["python", "-m", MODULE]
    assert "trading-optimization-training" in container["image"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["readinessProbe"]["httpGet"]["path"] == READY
    # the synced event files live on a writable scratch volume
    env = {e["name"]: e.get("value") for e in container["env"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volume = mounts[env["TRADING_OPT_TENSORBOARD_DIR"]]
    assert any(v["name"] == volume and "emptyDir" in v for v in pod["volumes"])
    svc = one("Service", "tensorboard")
    assert svc["spec"]["type"] == "ClusterIP"
    assert [p["port"] for p in svc["spec"]["ports"]] == [6006]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert all(labels[k] == v for k, v in svc["spec"]["selector"].items())

    gateway = one("Deployment", "gateway")
    gw_env = {
        e["name"]: e["value"] for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    upstream = "tensorboard.trading-optimization.svc.cluster.local:6006"
    assert gw_env["TENSORBOARD_UPSTREAM"] == upstream
    # network policies: from the gateway only; to the object store
    policy = one("NetworkPolicy", "tensorboard")
    (rule,) = policy["spec"]["ingress"]
    assert [f["podSelector"]["matchLabels"] for f in rule["from"]] == [
        {"app.kubernetes.io/component": "gateway"}
    ]
    egress = one("NetworkPolicy", "gateway")["spec"]["egress"]
    assert any(
        t.get("podSelector", {}).get("matchLabels")
        == {"app.kubernetes.io/component": "tensorboard"}
        for rule in egress
        for t in rule["to"]
    )


def test_gateway_protects_tensorboard_with_auth_request() -> None:
    text = TEMPLATE.read_text()
    block = re.search(r"location /tensorboard/ \{(.*?)\n    \}", text, re.S)
    assert block, "no /tensorboard/ location in the gateway template"
    body = block.group(1)
    assert "auth_request /_gateway/auth-read;" in body
    assert "proxy_pass http://$tradeopt_tensorboard_upstream;" in body
    assert "rewrite" not in body  # TensorBoard serves under --path_prefix /tensorboard itself
    auth = re.search(r"location = /_gateway/auth-read \{(.*?)\n    \}", text, re.S)
    assert auth and "internal;" in auth.group(1)
    assert "/api/v1/auth/check" in auth.group(1)
    # TensorBoard only reads: its POSTs (batched scalar queries) need the read scope only
    assert "X-Original-Method GET;" in auth.group(1)
    assert "proxy_pass_request_body off;" in auth.group(1)
