"""From bars to a trained agent: the one code path the training service, the tuning service and
``tradeopt pipeline run`` share.

:func:`prepare` turns canonical bars into an aligned panel, computes the feature set once, splits
it by time and fits the normalisation on the training part only. :func:`run_experiment` builds the
training envs (train split) and the evaluation env (validation split), calls
:func:`tradeopt_ml.training.train`, and describes the result with everything needed to rebuild the
observations later (the lineage written next to ``model.zip``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tradeopt_ml.data import Panel, Splits, SplitSpec, make_splits
from tradeopt_ml.envs import EnvConfig
from tradeopt_ml.evaluation.config import evaluation_config
from tradeopt_ml.features import FeatureSet, FeatureSpec, Normalizer, compute_features
from tradeopt_ml.instants import UtcDateTime
from tradeopt_ml.lineage import ModelRecipe, NormalizerState, SplitLayout
from tradeopt_ml.training.spec import TrainHooks, TrainResult, TrainSpec


class ExperimentSpec(BaseModel):
    """Everything that decides a trained model, apart from the data (DESIGN §3.1 ``POST /runs``)."""

    model_config = ConfigDict(extra="forbid")

    algorithm: str = "ppo"
    hyperparams: dict[str, Any] = Field(default_factory=dict)
    total_timesteps: int = Field(10_000, ge=1, le=100_000_000)
    seed: int = Field(0, ge=0, lt=2**31)
    n_envs: int = Field(1, ge=1, le=256)
    symbols: list[str] | None = Field(None, min_length=1, description="default: every symbol")
    start: UtcDateTime | None = Field(
        None, description="Ignore bars before this instant (rolling walk-forward windows)"
    )
    env: EnvConfig = Field(default_factory=EnvConfig)
    features: FeatureSpec = Field(default_factory=FeatureSpec.default)
    split: SplitSpec = Field(default_factory=SplitSpec)
    normalize_per_asset: bool = False
    checkpoint_every: int | None = Field(None, ge=1)
    eval_every: int | None = Field(None, ge=1)
    eval_episodes: int = Field(1, ge=1, le=100)
    device: str = "auto"
    torch_threads: int | None = Field(1, ge=1, le=256)

    @field_validator("features", mode="before")
    @classmethod
    def _features(cls, value: Any) -> Any:
        return FeatureSpec.default() if value is None else value

    def train_spec(self) -> TrainSpec:
        """The runner's spec for this experiment."""
        return TrainSpec(
            algorithm=self.algorithm,
            hyperparams=self.hyperparams,
            total_timesteps=self.total_timesteps,
            seed=self.seed,
            n_envs=self.n_envs,
            device=self.device,
            torch_threads=self.torch_threads,
            checkpoint_every=self.checkpoint_every,
            eval_every=self.eval_every,
            eval_episodes=self.eval_episodes,
            deterministic=True,
        )


@dataclass
class PreparedData:
    """Arrays an experiment trains and evaluates on (built once)."""

    panel: Panel
    features: FeatureSet
    observations: np.ndarray  # (T, N, F) float32, normalised with train-only statistics
    splits: Splits
    normalizer: Normalizer

    def segment(self, name: str) -> tuple[int, int]:
        """``(start, stop)`` bar indices of a split part."""
        try:
            part = self.splits.get(name)
        except KeyError:
            part = None
        if part is None or part.n_bars == 0:
            raise ValueError(f"the split has no {name} part")
        return part.start, part.stop


def prepare(bars: pd.DataFrame, spec: ExperimentSpec) -> PreparedData:
    """Panel → features → splits → train-only normalisation. Raises ``ValueError`` with a clear
    message when the data cannot support the spec (too short, unknown symbol, ...).
    """
    if spec.start is not None:
        first = pd.Timestamp(spec.start)
        first = first.tz_localize("UTC") if first.tzinfo is None else first.tz_convert("UTC")
        bars = bars[bars["timestamp"] >= first]
        if bars.empty:
            raise ValueError(f"no bars on or after start={spec.start.isoformat()}")
    panel = Panel.from_bars(bars, symbols=spec.symbols)
    features = compute_features(panel, spec.features)
    splits = make_splits(panel.timestamps, spec.split, min_bars=2)
    train_start = max(features.valid_from, 0)
    if splits.train.stop - train_start < spec.env.window + 2:
        raise ValueError(
            f"the training split has {splits.train.stop - train_start} bars after the features' "
            f"warm-up ({features.valid_from} bars); the env needs more than window="
            f"{spec.env.window}"
        )
    normalizer = Normalizer.fit(
        features, (0, splits.train.stop), per_asset=spec.normalize_per_asset
    )
    observations = np.ascontiguousarray(normalizer.transform(features), dtype=np.float32)
    return PreparedData(panel, features, observations, splits, normalizer)


@dataclass
class ExperimentResult:
    """A finished training run with its validation check and lineage."""

    train: TrainResult
    model_path: Path
    validation: dict[str, float | None]
    lineage: ModelRecipe


def run_experiment(
    bars: pd.DataFrame,
    spec: ExperimentSpec,
    workdir: Path,
    hooks: TrainHooks | None = None,
    resume_from: Path | None = None,
    *,
    prepared: PreparedData | None = None,
) -> ExperimentResult:
    """Train on the train split, evaluate on the validation split, keep the best model."""
    from tradeopt_ml.envs import make_env, make_vec_env

    data = prepared or prepare(bars, spec)
    train_start, train_stop = 0, data.splits.train.stop
    val_start, val_stop = data.segment("validation")
    eval_config = evaluation_config(spec.env)

    def make_train_env(seed: int) -> Any:
        return make_vec_env(
            data.panel,
            data.observations,
            spec.env,
            n_envs=spec.n_envs,
            start=train_start,
            stop=train_stop,
            seed=seed,
        )

    def make_eval_env() -> Any:
        return make_env(data.panel, data.observations, eval_config, start=val_start, stop=val_stop)

    from tradeopt_ml.training.runner import train  # stable-baselines3 and torch: only to train

    result = train(
        spec.train_spec(),
        make_train_env,
        make_eval_env if spec.eval_every else None,
        workdir,
        hooks,
        resume_from,
    )
    model_path = result.best_model_path or result.final_model_path
    validation = validate_model(spec, data, model_path, "validation")
    return ExperimentResult(result, model_path, validation, lineage_of(spec, data))


def validate_model(
    spec: ExperimentSpec, data: PreparedData, model_path: Path, part: str
) -> dict[str, float | None]:
    """Run the model deterministically over a split part once; simple out-of-sample figures
    (:func:`summary_figures`, with the turnover of the positions it held).

    (The evaluation service computes the full metric set; this is the run's own sanity check,
    and what a study's objectives read.)
    """
    from tradeopt_ml.agents import load_model
    from tradeopt_ml.envs import make_env

    start, stop = data.segment(part)
    env = make_env(
        data.panel, data.observations, evaluation_config(spec.env), start=start, stop=stop
    )
    model = load_model(spec.algorithm, model_path, device="cpu")
    obs, info = env.reset(seed=spec.seed)
    values = [float(info["portfolio_value"])]
    positions = [np.atleast_1d(np.array(info["position"], dtype=np.float64))]
    done = False
    while not done:
        action, _ = model.predict(obs, deterministic=True)
        obs, _, terminated, truncated, info = env.step(action)
        values.append(float(info["portfolio_value"]))
        positions.append(np.atleast_1d(np.array(info["position"], dtype=np.float64)))
        done = terminated or truncated
    return summary_figures(
        np.asarray(values), data.panel.bars_per_year(), positions=np.vstack(positions)
    )


def summary_figures(
    equity: np.ndarray, bars_per_year: float, positions: np.ndarray | None = None
) -> dict[str, float | None]:
    """Total return, annualised Sharpe (simple returns, ddof=1, risk-free 0; ``None`` for a
    constant curve) and max drawdown, plus Sortino, Calmar, volatility and, given the
    ``positions`` held (``(T, N)`` weights aligned with ``equity``), turnover, as
    :func:`tradeopt_ml.evaluation.metrics.compute_metrics` defines them.
    """
    from tradeopt_ml.evaluation.metrics import compute_metrics

    returns = np.diff(equity) / equity[:-1]
    std = float(returns.std(ddof=1)) if returns.size > 1 else 0.0
    sharpe = float(returns.mean() / std * math.sqrt(bars_per_year)) if std > 0 else None
    drawdown = equity / np.maximum.accumulate(equity) - 1.0
    figures: dict[str, float | None] = {
        "total_return": float(equity[-1] / equity[0] - 1.0),
        "sharpe": sharpe,
        "max_drawdown": float(drawdown.min()),
        "bars": int(returns.size),
    }
    if equity.shape[0] >= 2:
        full = compute_metrics(equity, bars_per_year=bars_per_year, positions=positions)
        for key in ("sortino", "calmar", "volatility", "turnover"):
            value = full.get(key)
            figures[key] = None if value is None else float(value)
    return figures


def lineage_of(spec: ExperimentSpec, data: PreparedData) -> ModelRecipe:
    """What rebuilds the model's observations: features, normalisation, env, split, symbols
    (the library part of the typed lineage, :class:`tradeopt_ml.lineage.ModelRecipe`).
    """
    return ModelRecipe(
        algorithm=spec.algorithm,
        hyperparams=spec.hyperparams,
        seed=spec.seed,
        total_timesteps=spec.total_timesteps,
        n_envs=spec.n_envs,
        symbols=list(data.panel.symbols),
        start=spec.start,
        features=spec.features,
        features_hash=spec.features.hash(),
        normalizer=NormalizerState.of(data.normalizer),
        env=spec.env,
        splits=SplitLayout.model_validate(data.splits.as_dict()),
        split_spec=spec.split,
        bars_per_year=data.panel.bars_per_year(),
    )


def validate_experiment(spec: ExperimentSpec) -> list[dict[str, Any]]:
    """Check that ``spec``'s algorithm supports its env's action space and that its
    hyperparameters are valid for it (after defaults, with ``n_envs`` for batch-size rules).

    Returns:
        Field errors, ``[]`` when valid: ``{"loc": [...], "msg", "type"}`` with ``loc`` relative
        to the spec (``["hyperparams", "batch_size"]``, ``["algorithm"]``).
    """
    from gymnasium import spaces
    from pydantic import ValidationError

    from tradeopt_ml.agents import validate_hyperparams

    space: spaces.Space[Any] = (
        spaces.Discrete(3)
        if spec.env.action_space == "discrete"
        else spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
    )
    try:
        validate_hyperparams(
            spec.algorithm, spec.hyperparams, action_space=space, n_envs=spec.n_envs
        )
    except ValidationError as exc:
        return [
            {
                "loc": ["hyperparams", *(str(p) for p in e["loc"])],
                "msg": e["msg"],
                "type": e["type"],
            }
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
    except ValueError as exc:
        return [{"loc": ["algorithm"], "msg": str(exc), "type": "value_error"}]
    return []
