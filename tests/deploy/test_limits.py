"""The upload and dataset caps fit the deployment files (hardening items 1-3): an upload the
service accepts can be staged in the data API's ``/tmp`` (twice: the multipart spool and the
staged copy), ingested by every concurrent job of a data worker within its memory, and the
gateway lets it through to the service, which answers 413 itself beyond the cap.

Sizing argument for the cap (``TRADING_OPT_MAX_UPLOAD_BYTES``, 100 MiB): the CSV is read in
chunks (``tradeopt_ml.data.csvfile``), so the ingest job's peak RSS growth is ~2.7-2.9x the
file (``benchmarks/bench_ingest_memory.py``: a 67 MiB CSV peaks at +183-192 MiB for the whole
job body, +544-549 MiB = 8.1-8.2x when it was parsed whole). With 2 threads per data
worker, its 2 GiB would now hold a cap of (2048 - 256) / (2 x 4) = 224 MiB; what holds the cap
at 100 MiB is the data API's 256 MiB ``/tmp`` (two staged copies, compose prod and k8s) and
the gateway's ``client_max_body_size`` just above it. Raising the cap means raising those two
first.

The row cap (``TRADING_OPT_DATASET_MAX_ROWS``, 2,000,000) is sized by measurement: a child
process runs the synthetic ingest job body (every concurrent job of a data worker may be one)
and the data API's heaviest read of stored bars (``load_frame`` + ``summarize``; reads of
datasets over ``LARGE_LOAD_ROWS`` run one at a time next to the frame cache) on a dataset of
exactly the cap (measured at the cap: the read's peak per row grows with the size); each peak
must fit the memory the deployment gives its process.
5,000,000 rows did not: two synthetic jobs needed ~2.7 GiB of the worker's 2 GiB.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

from tests.deploy.support import MANIFEST, ROOT
from tradeopt_common.config import CommonSettings
from tradeopt_data.config import DataSettings
from tradeopt_data.reads import CACHE_BYTES

pytestmark = pytest.mark.unit
MIB = 1024 * 1024
#: Measured peak RSS growth of the ingest job body: <= 2.9x the CSV (chunked reader; 8.2x when
#: the file was parsed whole); a margin on top.
PARSE_FACTOR = 4
STAGED_COPIES = 2


def _bytes(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)\s*([KMGkmg]i?)?[Bb]?", text.strip()).groups()  # type: ignore[union-attr]
    scale = {"k": 1024, "m": MIB, "g": 1024 * MIB}.get((unit or "")[:1].lower(), 1)
    return int(number) * scale


def _cap() -> int:
    return CommonSettings.model_fields["max_upload_bytes"].default


def test_the_data_api_tmp_holds_two_staged_copies_of_the_largest_upload() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.prod.yml").read_text())
    tmpfs = compose["services"]["data-api"]["tmpfs"]
    size = next(_bytes(opt.split("=")[1]) for t in tmpfs for opt in t.split(",") if "size=" in opt)
    assert size >= STAGED_COPIES * _cap() + 16 * MIB, ("compose prod data-api /tmp", size)
    api = yaml.safe_load((ROOT / "k8s/bases/api/deployment.yaml").read_text())
    volumes = api["spec"]["template"]["spec"]["volumes"]
    limit = next(_bytes(v["emptyDir"]["sizeLimit"]) for v in volumes if v["name"] == "tmp")
    assert limit >= STAGED_COPIES * _cap() + 16 * MIB, ("k8s api /tmp", limit)


def test_the_data_worker_can_parse_the_largest_upload_in_every_concurrent_job() -> None:
    worker = next(s for s in MANIFEST.services if s.name == "data").worker
    assert worker is not None
    memory = _bytes(worker.resources.limits.memory)
    needed = worker.concurrency * PARSE_FACTOR * _cap() + 256 * MIB
    assert memory >= needed, ("data worker memory", memory, needed)
    assert _bytes(worker.tmp_size) >= 2 * _cap(), ("data worker /tmp", worker.tmp_size)


def test_the_gateway_passes_uploads_up_to_the_cap_and_the_service_refuses_beyond() -> None:
    text = (ROOT / "docker/nginx/templates/gateway.conf.template").read_text()
    block = re.search(r"location = /api/v1/datasets \{(.*?)\n    \}", text, re.S)
    assert block, "no upload location in the gateway"
    found = re.search(r"client_max_body_size\s+(\w+);", block.group(1))
    assert found, "no client_max_body_size for uploads"
    body = _bytes(found.group(1))
    assert _cap() < body <= _cap() + 8 * MIB


#: Resident memory of an idle process (interpreter, libraries), beside what one job or read
#: takes.
BASE = 256 * MIB

_MEASURE = r"""
import json, sys, tempfile, uuid
from pathlib import Path
from types import SimpleNamespace
from tradeopt_common.storage import LocalArtifactStore
from tradeopt_data import reads, service, sources
from tradeopt_ml.data.summary import summarize

def kib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])

def measured(call):
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current RSS
    before = kib("VmRSS")
    result = call()
    return result, (kib("VmHWM") - before) * 1024

rows, tmp = int(sys.argv[1]), tempfile.mkdtemp()
store = LocalArtifactStore(Path(tmp), fsync=False)
request = {"source": "synthetic", "symbols": [f"S{i:02d}" for i in range(50)],
           "bars": rows // 50, "frequency": "1h"}
def ingest():
    loaded = sources.finalize(sources.load_synthetic(request), max_rows=None)
    return service.store_bars(store, uuid.UUID(int=1), loaded)
update, job = measured(ingest)
dataset = SimpleNamespace(id=uuid.UUID(int=1), checksum=update["checksum"], rows=update["rows"],
                          storage_key=update["storage_key"], status="ready")
_, read = measured(lambda: summarize(reads.load_frame(store, dataset)))
print(json.dumps({"rows": update["rows"], "job": job, "read": read}))
"""


def _row_cap() -> int:
    return DataSettings.model_fields["dataset_max_rows"].default


@pytest.fixture(scope="module")
def peak_at_the_cap() -> dict[str, int]:
    """Peak RSS growth (bytes) of the ingest job body and of the API's heaviest read of a
    dataset of ``dataset_max_rows`` rows, each measured in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(_row_cap())],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["rows"] == _row_cap()
    return {k: figures[k] for k in ("job", "read")}


def test_every_concurrent_job_of_a_data_worker_fits_a_dataset_at_the_row_cap(
    peak_at_the_cap: dict[str, int],
) -> None:
    worker = next(s for s in MANIFEST.services if s.name == "data").worker
    assert worker is not None
    memory = _bytes(worker.resources.limits.memory)
    needed = worker.concurrency * peak_at_the_cap["job"] + BASE
    assert memory >= needed, (
        f"dataset_max_rows={_row_cap():,}: {peak_at_the_cap['job'] / MIB:.0f} MiB a job x "
        f"{worker.concurrency} jobs + base = {needed / MIB:.0f} MiB > the data worker's "
        f"{memory / MIB:.0f} MiB"
    )


def test_the_data_api_reads_a_dataset_at_the_row_cap_beside_a_full_cache(
    peak_at_the_cap: dict[str, int],
) -> None:
    api = next(s for s in MANIFEST.services if s.name == "data").api
    assert api is not None
    memory = _bytes(api.resources.limits.memory)
    needed = peak_at_the_cap["read"] + CACHE_BYTES + BASE
    assert memory >= needed, (
        f"dataset_max_rows={_row_cap():,}: a read of {peak_at_the_cap['read'] / MIB:.0f} MiB + the "
        f"{CACHE_BYTES / MIB:.0f} MiB frame cache + base = {needed / MIB:.0f} MiB > the data "
        f"API's {memory / MIB:.0f} MiB"
    )
