"""Peak memory of an upload's ingest: the chunked reader vs a baseline ref's reader.

Writes a 10-symbol bar CSV of about ``--mib`` MiB (and a copy without bad rows; with
``--format parquet`` the same rows as Parquet files instead), then measures
three tasks, each in a fresh process (one measurement cannot inherit another's heap), with the
working tree's ``tradeopt_ml.data`` and with the baseline ref's ``ingest``, ``validation``,
``repair`` and ``timestamps`` modules (``git show <ref>:...``, loaded by file path under their
package names, next to the working tree's other modules):

* ``read_upload`` + ``validate`` on the file with bad rows (the report has content);
* ``prepare_upload`` on the clean file;
* the data worker's ingest job after the download (``load_upload``, ``finalize``,
  ``store_bars``: checksum, Parquet, summary) into a local artifact store: the figure the data
  worker's memory limit is sized from (tests/deploy/test_limits.py).

Each child resets the kernel's high-water mark (``/proc/self/clear_refs``) just before the call
and reads ``VmHWM`` after it: peak RSS growth = VmHWM - RSS before the call. Prints the peak
growth in MiB, as a multiple of the CSV size and of the typed frame, the wall time, the ratios
new/old, and whether the results (frames, parse errors, reports) are identical (exit 1 if not).

Run: .venv/bin/python benchmarks/bench_ingest_memory.py [--mib 64] [--baseline-ref main]
     [--format csv|parquet]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import pandas as pd
from bench_ingest_validate import make_frame

ROOT = Path(__file__).resolve().parents[1]
DATA = "libs/ml/src/tradeopt_ml/data"
#: Modules taken from the baseline ref (dependencies first); the others are the working tree's.
BASELINE_MODULES = ("timestamps", "validation", "repair", "ingest")
MIB = 1024 * 1024


def make_csv(path: Path, mib: float, *, clean: bool = False) -> int:
    """A 10-symbol minute-bar CSV of about ``mib`` MiB (``bench_ingest_validate``'s frame, 1,000
    bad rows unless ``clean``), or the same rows as Parquet when ``path`` ends in ``.parquet``;
    returns its data rows."""
    frame = make_frame(int(mib * MIB / 98))  # ~98 bytes a row with this layout
    if clean:
        frame = frame.assign(volume=frame["volume"].abs(), high=frame[["high", "open"]].max(axis=1))
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return len(frame)


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _hwm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def _digest(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    digest.update(repr(list(frame.columns)).encode())
    digest.update(repr([str(t) for t in frame.dtypes]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return digest.hexdigest()


def _load(which: str, baseline: str | None) -> tuple[ModuleType, ModuleType]:
    """``(ingest, validation)``: the working tree's, or the baseline's loaded by file path
    under the package's names (so the baseline ingest imports the baseline validation)."""
    importlib.import_module("tradeopt_ml.data")  # first: its __init__ imports the working tree's

    if which == "baseline":
        assert baseline is not None
        for name in BASELINE_MODULES:
            qualified = f"tradeopt_ml.data.{name}"
            spec = importlib.util.spec_from_file_location(qualified, Path(baseline) / f"{name}.py")
            if spec is None or spec.loader is None:
                raise SystemExit(f"cannot load the baseline's {name}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[qualified] = module
            spec.loader.exec_module(module)
    return sys.modules["tradeopt_ml.data.ingest"], sys.modules["tradeopt_ml.data.validation"]


def child(which: str, task: str, path: str, baseline: str | None) -> None:
    """One measurement in this (fresh) process; prints a JSON line."""
    ingest, validation = _load(which, baseline)
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _rss_kib()
    start = time.perf_counter()
    if task == "read":
        parsed = ingest.read_upload(Path(path), symbol=None)
        report = validation.validate(parsed.frame, parse_errors=parsed.parse_errors)
        frame = parsed.frame
        result = {
            "frame": _digest(frame),
            "errors": _digest(parsed.parse_errors),
            "report": report.to_dict(),
        }
    elif task == "prepare":
        prepared = ingest.prepare_upload(Path(path), symbol=None)
        frame = prepared.frame
        result = {"frame": _digest(frame), "errors": "", "report": prepared.report.to_dict()}
    else:  # the data worker's ingest job body after the download: load, finalize, store
        import uuid

        from tradeopt_common.storage import LocalArtifactStore
        from tradeopt_data import service, sources

        loaded = sources.load_upload(
            Path(path), filename=Path(path).name, content_type=None, symbol=None, repairs=[],
            min_rows=30,
        )  # fmt: skip
        loaded = sources.finalize(loaded, max_rows=None)
        store = LocalArtifactStore(Path(path).parent / "store", fsync=False)
        values = service.store_bars(store, uuid.UUID(int=1), loaded)
        frame = loaded.frame
        result = {"frame": _digest(frame), "errors": "", "report": values["checksum"]}
    seconds = time.perf_counter() - start
    peak = _hwm_kib() - before
    frame_bytes = int(frame.memory_usage(deep=False, index=False).sum())
    out = {"peak_kib": peak, "seconds": seconds, "frame_bytes": frame_bytes, **result}
    print(json.dumps(out, default=str))


def _run(which: str, task: str, path: Path, baseline: Path | None) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--child", which, task, str(path)]
    if baseline is not None:
        cmd.append(str(baseline))
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{which} {task} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Measure old and new, print the figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=float, default=64.0, help="CSV size to generate")
    parser.add_argument("--baseline-ref", default="main", help="git ref of the baseline reader")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv", help="upload format")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        baseline = Path(tmp) / "baseline"
        baseline.mkdir()
        for name in BASELINE_MODULES:
            source = subprocess.run(
                ["git", "show", f"{args.baseline_ref}:{DATA}/{name}.py"],
                cwd=ROOT, capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            (baseline / f"{name}.py").write_text(source)
        dirty, clean = Path(tmp) / f"bars.{args.format}", Path(tmp) / f"clean.{args.format}"
        rows = make_csv(dirty, args.mib)
        make_csv(clean, args.mib, clean=True)
        size = dirty.stat().st_size
        kind = args.format.upper() if args.format == "csv" else "Parquet"
        print(
            f"{kind} {size / MIB:.1f} MiB, {rows:,} rows, 10 symbols; baseline {args.baseline_ref}"
        )
        same = True
        tasks = (
            ("read", "read_upload + validate"),
            ("prepare", "prepare_upload"),
            ("job", "the ingest job body (load_upload, finalize, store_bars to a local store)"),
        )
        for task, label in tasks:
            path = dirty if task == "read" else clean
            old = _run("baseline", task, path, baseline)
            new = _run("new", task, path, None)
            frame_mib = int(new["frame_bytes"]) / MIB  # type: ignore[call-overload]
            print(f"\n{label} (typed frame {frame_mib:.1f} MiB)")
            for name, m in (("baseline", old), ("chunked", new)):
                peak = int(m["peak_kib"]) / 1024  # type: ignore[call-overload]
                print(
                    f"  {name:9s} peak RSS growth {peak:8.1f} MiB = {peak * MIB / size:4.1f}x "
                    f"the file = {peak / frame_mib:4.1f}x the frame   {m['seconds']:.2f} s"
                )
            peaks = int(new["peak_kib"]), max(int(old["peak_kib"]), 1)  # type: ignore[call-overload]
            ratio = peaks[0] / peaks[1]
            slower = float(new["seconds"]) / float(old["seconds"])  # type: ignore[arg-type]
            identical = all(old[k] == new[k] for k in ("frame", "errors", "report"))
            same &= identical
            print(f"  peak new/old {ratio:.2f}   time new/old {slower:.2f}   same: {identical}")
    if not same:
        raise SystemExit("the chunked reader's result differs from the baseline's")


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] if len(sys.argv) > 5 else None)
    else:
        main()
