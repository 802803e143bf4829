"""Defect #11: the gateway trusts X-Forwarded-For from every RFC 1918 address (rate-limit bypass,
forged log IPs); SSE streams are unlimited per key; a job event stream's ``poll`` may be 0.1 s.

test_d11a mirrors main's tests/deploy/test_gateway.py::
  test_forwarded_for_is_believed_only_from_the_configured_proxy[image|compose-dev|compose-prod|
  k8s-dev|k8s-prod] against c20e05e's docker/nginx template, compose files and k8s overlays (the
  ``contexts`` fixture copied from c20's own tests/deploy/test_gateway.py). Adapted: the template
  assertion comes first (main checks the rendered variable first; on c20e05e that variable does
  not exist, which would be a KeyError rather than the defect).
test_d11b mirrors main's tests/deploy/test_gateway.py::test_event_streams_are_limited_per_credential.
test_d11c is NEW: main has no test that a poll below 0.5 s is refused (main's fix is
``PollQuery = Query(ge=0.5, le=30)`` in tradeopt_common/jobs/routes.py; the only test change was
test_ingest_worker.py moving its own poll from 0.2 to 0.5). Runs on both trees.
Expected on c20e05e: set_real_ip_from lists 10/8, 172.16/12, 192.168/16, fc00::/7; no
limit_conn on the events location; poll=0.1 answered 200.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.support import ROOT, parse, run
from tests.support.jobrun import ingest

NGINX = ROOT / "docker" / "nginx"


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


@pytest.mark.unit
@pytest.mark.parametrize("context", ["image", "compose-dev", "compose-prod", "k8s-dev", "k8s-prod"])
def test_d11a_forwarded_for_is_believed_only_from_the_configured_proxy(
    contexts: dict, context: str
) -> None:
    template = (ROOT / "docker/nginx/templates/gateway.conf.template").read_text()
    assert re.findall(r"set_real_ip_from (\S+);", template) == ["${GATEWAY_TRUSTED_PROXY}"], (
        re.findall(r"set_real_ip_from (\S+);", template)
    )
    trusted = contexts[context].get("GATEWAY_TRUSTED_PROXY")
    assert trusted == ("10.0.0.0/8" if context.startswith("k8s") else "unix:")


@pytest.mark.unit
def test_d11b_event_streams_are_limited_per_credential() -> None:
    text = (NGINX / "templates" / "gateway.conf.template").read_text()
    assert re.search(r"map \$http_authorization \$tradeopt_stream_owner \{", text)
    assert "limit_conn_zone $tradeopt_stream_owner zone=tradeopt_streams" in text
    assert "limit_conn_status 429;" in text
    events = re.search(
        r"location ~ \^/api/v1/\[a-z-\]\+/\[\^/\]\+/events\$ \{(.*?)\n    \}", text, re.S
    )
    assert events and re.search(r"limit_conn tradeopt_streams \d+;", events.group(1))


@pytest.mark.integration
async def test_d11c_a_job_event_stream_polls_at_most_every_half_second(client):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    job_id = spy.get("job_id") or (await client.get("/api/v1/jobs")).json()["items"][0]["id"]
    too_fast = await client.get(f"/api/v1/jobs/{job_id}/events", params={"poll": 0.1})
    assert too_fast.status_code == 422, (too_fast.status_code, too_fast.text[:200])
    ok = await client.get(f"/api/v1/jobs/{job_id}/events", params={"poll": 0.5})
    assert ok.status_code == 200, ok.text[:200]
