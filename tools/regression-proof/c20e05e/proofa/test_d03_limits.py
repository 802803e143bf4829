"""Defect #3 (the 512 MiB upload limit cannot be met in prod: /tmp copies vs 256 MiB tmpfs /
emptyDir; upload limit sizing), adapted from main's tests/deploy/test_limits.py (all three
tests). c20e05e has no service manifest (tests/deploy/support.MANIFEST, k8s/bases/api), so the
same checks read c20's own deployment files: docker-compose.prod.yml (data-api, data-worker),
k8s/data/api-deployment.yaml, k8s/data/worker-deployment.yaml and the gateway template.

On c20e05e: TRADING_OPT_MAX_UPLOAD_BYTES defaults to 512 MiB; two staged copies need >= 1040 MiB
of /tmp but the data API's /tmp is 256 MiB (compose prod tmpfs and k8s emptyDir); the data
worker's 2 GiB cannot parse two concurrent uploads at the cap; the gateway's
client_max_body_size equals the cap (512m), so it answers 413 itself before the service can.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tradeopt_common.config import CommonSettings

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
PARSE_FACTOR = 4  # main's figure for its chunked reader (c20's whole-file reader measured ~8-9x)
STAGED_COPIES = 2


def _bytes(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)\s*([KMGkmg]i?)?[Bb]?", text.strip()).groups()  # type: ignore[union-attr]
    scale = {"k": 1024, "m": MIB, "g": 1024 * MIB}.get((unit or "")[:1].lower(), 1)
    return int(number) * scale


def _cap() -> int:
    return CommonSettings.model_fields["max_upload_bytes"].default


def _tmp_limit(path: str) -> int:
    doc = yaml.safe_load((ROOT / path).read_text())
    volumes = doc["spec"]["template"]["spec"]["volumes"]
    return next(_bytes(v["emptyDir"]["sizeLimit"]) for v in volumes if v["name"] == "tmp")


def test_d03a_the_data_api_tmp_holds_two_staged_copies_of_the_largest_upload() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.prod.yml").read_text())
    tmpfs = compose["services"]["data-api"]["tmpfs"]
    size = next(_bytes(opt.split("=")[1]) for t in tmpfs for opt in t.split(",") if "size=" in opt)
    assert size >= STAGED_COPIES * _cap() + 16 * MIB, ("compose prod data-api /tmp", size, _cap())
    limit = _tmp_limit("k8s/data/api-deployment.yaml")
    assert limit >= STAGED_COPIES * _cap() + 16 * MIB, ("k8s data api /tmp", limit, _cap())


def test_d03b_the_data_worker_can_parse_the_largest_upload_in_every_concurrent_job() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.prod.yml").read_text())
    worker = compose["services"]["data-worker"]
    concurrency = int(
        next(a for a in worker["command"] if a.startswith("--concurrency=")).split("=")[1]
    )
    memory = _bytes(worker["deploy"]["resources"]["limits"]["memory"])
    needed = concurrency * PARSE_FACTOR * _cap() + 256 * MIB
    assert memory >= needed, ("data worker memory", memory, needed)
    assert _tmp_limit("k8s/data/worker-deployment.yaml") >= 2 * _cap(), "data worker /tmp"


def test_d03c_the_gateway_passes_uploads_up_to_the_cap_and_the_service_refuses_beyond() -> None:
    text = (ROOT / "docker/nginx/templates/gateway.conf.template").read_text()
    block = re.search(r"location = /api/v1/datasets \{(.*?)\n    \}", text, re.S)
    assert block, "no upload location in the gateway"
    found = re.search(r"client_max_body_size\s+(\w+);", block.group(1))
    assert found, "no client_max_body_size for uploads"
    body = _bytes(found.group(1))
    assert _cap() < body <= _cap() + 8 * MIB, ("gateway client_max_body_size", body, _cap())
