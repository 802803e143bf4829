"""A finished study's probability of backtest overfitting (PBO, CSCV: Bailey, Borwein, López de
Prado and Zhu), from the same validation bars the trials were selected on.

Every complete trial's model is backtested on its validation split (the trials share the
dataset, split and env, so they trade the same bars); the ``(T, N)`` matrix of their per-bar
returns goes to :func:`tradeopt_ml.evaluation.pbo.probability_of_backtest_overfitting`. PBO is
the share of the combinatorial splits in which the trial that was best in-sample ranks below
the median out of sample: near 0 the selection generalises, near 0.5 (or above) choosing the
best trial was no better than choosing at random. The result is stored on the study and in every
complete trial's lineage (``study.pbo``), so each evaluation of the tuned model shows it beside
the deflated Sharpe ratio. It never fails the study: when it cannot be computed (fewer than two
complete trials, too few bars) it says why.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from tradeopt_common.contracts.datasets import read_manifest
from tradeopt_common.contracts.models import download_model, model_digests
from tradeopt_common.jobs.runner import JobContext
from tradeopt_common.logging import get_logger
from tradeopt_ml.data import read_bars_parquet
from tradeopt_ml.evaluation.evaluate import backtest_model
from tradeopt_ml.evaluation.pbo import probability_of_backtest_overfitting
from tradeopt_tuning.models import Study, Trial, TrialState

log = get_logger(__name__)

#: Most CSCV blocks (16 give 12,870 splits); fewer when the validation split is short.
MAX_PARTITIONS = 16
#: Bars per block at least.
MIN_BLOCK_BARS = 4


def partitions_for(n_obs: int) -> int | None:
    """The even number of CSCV blocks for ``n_obs`` returns (``None``: too few bars)."""
    blocks = min(MAX_PARTITIONS, n_obs // MIN_BLOCK_BARS)
    blocks -= blocks % 2
    return blocks if blocks >= 4 else None


def returns_matrix(series: list[np.ndarray]) -> np.ndarray:
    """Columns of equal length: the last ``min(len)`` returns of each series (same end bar)."""
    length = min(len(r) for r in series)
    return np.column_stack([r[len(r) - length :] for r in series])


def unavailable(reason: str) -> dict[str, Any]:
    """The stored result when PBO cannot be computed."""
    return {"available": False, "reason": reason}


def study_overfitting(ctx: JobContext, study: Study, trials: list[Trial]) -> dict[str, Any]:
    """PBO of the study's complete trials on their validation split (see the module docstring)."""
    chosen = [t for t in trials if t.state == TrialState.COMPLETE and t.model_id is not None]
    if len(chosen) < 2:
        return unavailable(f"{len(chosen)} complete trial(s) with a model; PBO needs 2 or more")
    manifest = read_manifest(ctx.store, study.dataset_id)
    if manifest is None:
        return unavailable(f"dataset {study.dataset_id} is gone")
    model_ids: list[uuid.UUID] = [t.model_id for t in chosen if t.model_id is not None]
    expected = ctx.db(lambda s: model_digests(s, model_ids))
    series: list[np.ndarray] = []
    with tempfile.TemporaryDirectory(prefix=f"tradeopt-pbo-{study.id}-") as tmp:
        workdir = Path(tmp)
        ctx.store.download_file(manifest.bars_key, workdir / "bars.parquet")
        bars = read_bars_parquet(workdir / "bars.parquet")
        for model_id in model_ids:
            lineage, path = download_model(ctx.store, model_id, workdir, expected)
            try:
                result, _, _ = backtest_model(path, lineage, bars, part="validation")
            except ValueError as exc:
                return unavailable(f"model {model_id} cannot be backtested: {exc}")
            equity = np.asarray(result.equity, dtype=np.float64)
            series.append(equity[1:] / equity[:-1] - 1.0)
    matrix = returns_matrix(series)
    blocks = partitions_for(matrix.shape[0])
    if blocks is None:
        return unavailable(f"{matrix.shape[0]} validation returns are too few for CSCV")
    try:
        result = probability_of_backtest_overfitting(matrix, n_partitions=blocks)
    except ValueError as exc:
        return unavailable(str(exc))
    log.info("study.pbo", study_id=str(study.id), pbo=result.pbo, n_trials=result.n_trials)
    return {
        "available": True,
        "on": "validation split of every complete trial",
        "trials": [t.number for t in chosen],
        **result.to_dict(),
    }
