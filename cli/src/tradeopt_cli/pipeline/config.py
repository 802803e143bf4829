"""The declarative pipeline file (YAML): dataset → features → train → tune → evaluate → paper.

Every section is a strict pydantic model (``extra="forbid"``): a misspelt key is an error that
names the key, never silently ignored. :func:`load_config` turns YAML and validation problems
into one :class:`ConfigError` whose message lists every problem with its location.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Algorithm = Literal["ppo", "a2c", "dqn", "sac", "td3"]
Baseline = Literal["buy_and_hold", "flat", "random", "sma_crossover", "momentum"]
Part = Literal["train", "validation", "test"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SampleDataset(_Strict):
    """A bundled real daily sample (``symbol: SPY``) or several aligned (``[SPY, TLT]``)."""

    source: Literal["sample"]
    symbol: str | list[str]
    name: str | None = None


class SyntheticDataset(_Strict):
    """Seeded synthetic bars (same fields as ``POST /api/v1/datasets`` with ``synthetic``)."""

    source: Literal["synthetic"]
    kind: Literal["gbm", "regime", "jump"] = "gbm"
    symbols: list[str] = Field(default_factory=lambda: ["SYN"], min_length=1)
    bars: int = Field(2000, ge=30)
    seed: int = Field(0, ge=0)
    start: date | None = None
    frequency: Literal["1d", "1h", "1min"] = "1d"
    params: dict[str, Any] = Field(default_factory=dict)
    name: str | None = None


class UploadDataset(_Strict):
    """A CSV or Parquet file; a relative ``path`` is relative to the config file."""

    source: Literal["upload"]
    path: Path
    symbol: str | None = None
    timeframe: str = "1d"
    repair: list[Literal["sort", "drop_duplicates", "ffill"]] = Field(default_factory=list)
    name: str | None = None


DatasetConfig = Annotated[
    SampleDataset | SyntheticDataset | UploadDataset, Field(discriminator="source")
]


class TrainConfig(_Strict):
    """Training runs: every algorithm x every seed is one run of the training service."""

    algorithms: list[Algorithm] = Field(default_factory=lambda: ["ppo"], min_length=1)
    seeds: list[Annotated[int, Field(ge=0, lt=2**31)]] = Field(
        default_factory=lambda: [0], min_length=1
    )
    total_timesteps: int = Field(20_000, ge=1)
    n_envs: int = Field(1, ge=1, le=64)
    #: Hyperparameters per algorithm (``{ppo: {n_steps: 512}}``).
    hyperparams: dict[Algorithm, dict[str, Any]] = Field(default_factory=dict)
    eval_every: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _distinct(self) -> TrainConfig:
        if len(set(self.algorithms)) != len(self.algorithms):
            raise ValueError("'algorithms' must not repeat")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("'seeds' must not repeat")
        return self


class FloatParam(_Strict):
    """A float dimension of the search space."""

    type: Literal["float"]
    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _order(self) -> FloatParam:
        if self.low >= self.high:
            raise ValueError("'low' must be below 'high'")
        if self.log and self.low <= 0:
            raise ValueError("'log' needs 'low' > 0")
        return self


class IntParam(_Strict):
    """An integer dimension of the search space."""

    type: Literal["int"]
    low: int
    high: int
    log: bool = False
    step: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _order(self) -> IntParam:
        if self.low >= self.high:
            raise ValueError("'low' must be below 'high'")
        return self


class CategoricalParam(_Strict):
    """A categorical dimension of the search space."""

    type: Literal["categorical"]
    choices: list[Any] = Field(min_length=1)


SearchParam = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]


class ObjectiveConfig(_Strict):
    """One objective of the study: a validation metric of the trial runs (``max_drawdown``: its
    depth) and its direction (default: the metric's natural one, as the tuning service has it).
    """

    metric: Literal[
        "sharpe", "sortino", "calmar", "total_return", "max_drawdown", "volatility", "turnover"
    ]
    direction: Literal["maximize", "minimize"] | None = None


class TuneConfig(_Strict):
    """A study of the tuning service (seeded sampler); each trial is a training run of
    ``algorithm`` with the pipeline's env and split. Its objective is the validation Sharpe
    ratio, or several ``objectives`` (``[sharpe, max_drawdown]``; one must be ``sharpe``, the
    pipeline's yardstick): a multi-objective study whose tuned model is the Pareto member with
    the highest validation Sharpe.
    """

    enabled: bool = True
    algorithm: Algorithm = "ppo"
    n_trials: int = Field(4, ge=1, le=200)
    #: Trials training at once (``pipeline submit``; in-process they run one after another).
    parallelism: int = Field(1, ge=1, le=32)
    timesteps_per_trial: int = Field(10_000, ge=1)
    seed: int = Field(0, ge=0, lt=2**31)
    sampler: Literal["tpe", "random", "cmaes", "qmc", "gp", "nsga2"] = "tpe"
    #: Hyperparameter name → dimension; fixed hyperparameters go to ``train.hyperparams``.
    search_space: dict[str, SearchParam] = Field(min_length=1)
    #: The study's objectives (metric names or ``{metric, direction}``); default: Sharpe alone.
    objectives: list[ObjectiveConfig] = Field(
        default_factory=lambda: [ObjectiveConfig(metric="sharpe")], min_length=1, max_length=4
    )

    @model_validator(mode="before")
    @classmethod
    def _objective_names(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("objectives"), list):
            data = {
                **data,
                "objectives": [
                    {"metric": o} if isinstance(o, str) else o for o in data["objectives"]
                ],
            }
        return data

    @model_validator(mode="after")
    def _parallelism(self) -> TuneConfig:
        if self.parallelism > self.n_trials:
            raise ValueError("'parallelism' must not exceed 'n_trials'")
        metrics = [o.metric for o in self.objectives]
        if len(set(metrics)) != len(metrics):
            raise ValueError("'objectives' must name each metric once")
        if "sharpe" not in metrics:
            raise ValueError(
                "'objectives' must include sharpe (the pipeline's tuned model is the Pareto "
                "member with the highest validation Sharpe)"
            )
        if len(metrics) > 1 and self.sampler == "cmaes":
            raise ValueError("'sampler' cmaes optimises a single objective only")
        return self


class EvaluateConfig(_Strict):
    """Out-of-sample comparison of every trained model with the baselines."""

    split: Part = "test"
    baselines: list[Baseline] = Field(
        default_factory=lambda: ["buy_and_hold", "flat", "sma_crossover", "momentum"],
        min_length=1,
        max_length=5,
    )
    cost_bps: float | None = Field(None, ge=0, le=1000)
    slippage_bps: float | None = Field(None, ge=0, le=1000)

    @model_validator(mode="after")
    def _buy_and_hold(self) -> EvaluateConfig:
        if "buy_and_hold" not in self.baselines:
            raise ValueError("'baselines' must include 'buy_and_hold' (the verdict is against it)")
        return self


class WalkForwardConfig(_Strict):
    """Expanding-window walk-forward: per fold one run per algorithm (first seed), trained on
    the bars before the fold's test window and evaluated on that window only.
    """

    train_bars: int = Field(ge=50)
    test_bars: int = Field(ge=5)
    step_bars: int | None = Field(None, ge=1)
    max_folds: int = Field(3, ge=1, le=20)
    #: Fraction of each fold's training window used for validation (the tail).
    validation_fraction: float = Field(0.15, gt=0, lt=0.5)


class PaperConfig(_Strict):
    """The paper step: the best evaluated model (out-of-sample Sharpe) promoted to a strategy
    and replayed over the evaluated split by the strategy service, its parity report (vs the
    evaluation backtest, to 1e-9) printed.
    """

    enabled: bool = False
    #: Replay speed in bars per second; 0 = ``max`` (as fast as possible).
    speed: float = Field(0.0, ge=0, le=100_000)


class PipelineConfig(_Strict):
    """A whole pipeline file."""

    name: str = Field("pipeline", min_length=1, max_length=100)
    dataset: DatasetConfig
    #: A feature spec (``{features: [{name, params}]}``); default set when omitted.
    features: dict[str, Any] | None = None
    #: Environment fields (window, cost_bps, slippage_bps, action_space, fill, reward, …).
    env: dict[str, Any] = Field(default_factory=dict)
    #: Fractions (train/validation/test) or dates (train_end/validation_end).
    split: dict[str, Any] = Field(
        default_factory=lambda: {"train": 0.7, "validation": 0.15, "test": 0.15}
    )
    symbols: list[str] | None = None
    train: TrainConfig = Field(default_factory=TrainConfig)
    tune: TuneConfig | None = None
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    walk_forward: WalkForwardConfig | None = None
    paper: PaperConfig = Field(default_factory=PaperConfig)

    @model_validator(mode="after")
    def _env_features(self) -> PipelineConfig:
        if "features" in self.env:
            raise ValueError("give features at the top level ('features:'), not inside 'env'")
        return self

    @property
    def tuning(self) -> TuneConfig | None:
        """The study, when one is configured and enabled."""
        return self.tune if self.tune is not None and self.tune.enabled else None


class ConfigError(ValueError):
    """A pipeline file that cannot be read or is invalid; the message lists every problem."""


def _location(loc: tuple[Any, ...]) -> str:
    # drop pydantic's union tags (e.g. "sample", "float") so paths read like the YAML
    return ".".join(str(p) for p in loc) or "(top level)"


def parse_config(
    raw: Any, *, source: str = "<config>", base_dir: Path | None = None
) -> PipelineConfig:
    """Validate parsed YAML; relative upload paths resolve against ``base_dir``."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(raw).__name__}")
    try:
        config = PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [
            f"  - {_location(e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False, include_context=False)
        ]
        raise ConfigError(f"{source}: invalid pipeline config\n" + "\n".join(lines)) from None
    if isinstance(config.dataset, UploadDataset) and not config.dataset.path.is_absolute():
        config.dataset.path = (base_dir or Path.cwd()) / config.dataset.path
    return config


def load_config(path: Path | str) -> PipelineConfig:
    """Read and validate a pipeline YAML file (:class:`ConfigError` on any problem)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    return parse_config(raw, source=str(path), base_dir=path.parent)
