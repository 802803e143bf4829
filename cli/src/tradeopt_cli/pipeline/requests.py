"""Config → API request bodies, shared by ``pipeline run`` (validated into the services' own
schemas) and ``pipeline submit`` (sent as JSON), so both paths ask for exactly the same work.
"""

from __future__ import annotations

import uuid
from typing import Any

from tradeopt_cli.pipeline.config import (
    PipelineConfig,
    SampleDataset,
    SyntheticDataset,
    UploadDataset,
)


def dataset_request(config: PipelineConfig) -> dict[str, Any]:
    """JSON body of ``POST /api/v1/datasets`` (uploads: the multipart form fields)."""
    ds = config.dataset
    if isinstance(ds, SampleDataset):
        body: dict[str, Any] = {"source": "sample", "symbol": ds.symbol}
    elif isinstance(ds, SyntheticDataset):
        body = ds.model_dump(mode="json", exclude_none=True)
    elif isinstance(ds, UploadDataset):
        body = {"source": "upload", "symbol": ds.symbol, "timeframe": ds.timeframe}
        if ds.repair:
            body["repair"] = ",".join(ds.repair)
    else:  # pragma: no cover - the discriminated union has three members
        raise TypeError(type(ds))
    if ds.name:
        body["name"] = ds.name
    return {k: v for k, v in body.items() if v is not None}


def run_request(
    config: PipelineConfig,
    dataset_id: uuid.UUID | str,
    algorithm: str,
    seed: int,
    *,
    total_timesteps: int | None = None,
    hyperparams: dict[str, Any] | None = None,
    split: dict[str, Any] | None = None,
    study_id: uuid.UUID | str | None = None,
    trial_number: int | None = None,
) -> dict[str, Any]:
    """JSON body of ``POST /api/v1/runs`` for one algorithm and seed."""
    env = dict(config.env)
    if config.features is not None:
        env["features"] = config.features
    params = {**config.train.hyperparams.get(algorithm, {}), **(hyperparams or {})}  # type: ignore[call-overload]
    body: dict[str, Any] = {
        "dataset_id": str(dataset_id),
        "algorithm": algorithm,
        "total_timesteps": total_timesteps or config.train.total_timesteps,
        "seed": seed,
        "n_envs": config.train.n_envs,
        "env": env,
        "hyperparams": params,
        "split": split if split is not None else dict(config.split),
        "device": "cpu",
    }
    if config.symbols:
        body["symbols"] = list(config.symbols)
    if config.train.eval_every:
        body["eval_every"] = config.train.eval_every
    if study_id is not None:
        body["study_id"] = str(study_id)
        body["trial_number"] = trial_number
    return body


def compare_request(
    config: PipelineConfig,
    dataset_id: uuid.UUID | str,
    model_ids: list[uuid.UUID | str],
    *,
    start: str | None = None,
    end: str | None = None,
) -> dict[str, Any]:
    """JSON body of ``POST /api/v1/evaluations/compare`` (a date range replaces the split)."""
    ev = config.evaluate
    body: dict[str, Any] = {
        "dataset_id": str(dataset_id),
        "model_ids": [str(m) for m in model_ids],
        "baselines": list(ev.baselines),
    }
    if start is not None or end is not None:
        body.update({"start": start, "end": end})
    else:
        body["split"] = ev.split
    if ev.cost_bps is not None:
        body["cost_bps"] = ev.cost_bps
    if ev.slippage_bps is not None:
        body["slippage_bps"] = ev.slippage_bps
    return body


def paper_model(subjects: list[Any]) -> Any | None:
    """The model the paper step replays: the evaluated model with the highest out-of-sample
    Sharpe ratio (the first one on ties or when no Sharpe is finite); None without models.
    """
    import math

    models = [s for s in subjects if s.kind == "model" and s.model_id]
    if not models:
        return None

    def sharpe(s: Any) -> float:
        value = s.metrics.get("sharpe")
        return value if isinstance(value, float) and math.isfinite(value) else -math.inf

    return max(models, key=sharpe)


def paper_request(
    config: PipelineConfig, dataset_id: uuid.UUID | str, strategy_id: uuid.UUID | str
) -> dict[str, Any]:
    """JSON body of ``POST /api/v1/paper-sessions``: a replay of the evaluated split with the
    evaluation's costs (so its parity report compares like with like).
    """
    ev = config.evaluate
    speed = config.paper.speed
    body: dict[str, Any] = {
        "strategy_id": str(strategy_id),
        "dataset_id": str(dataset_id),
        "split": ev.split,
        "speed": "max" if speed == 0 else speed,
    }
    if ev.cost_bps is not None:
        body["cost_bps"] = ev.cost_bps
    if ev.slippage_bps is not None:
        body["slippage_bps"] = ev.slippage_bps
    return body
