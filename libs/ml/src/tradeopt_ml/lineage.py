"""The typed model lineage (``models/{id}/model.json``, DESIGN §7): one schema, one parser.

Where it lives, and why: the lineage is mostly the library's own recipe — the feature spec, the
normalisation statistics, the env config, the split — which only :mod:`tradeopt_ml` can type and
which :func:`tradeopt_ml.evaluation.backtest_model` reads back to rebuild a model's observations.
``tradeopt_ml`` never imports ``tradeopt_common``, so the schema is defined here as plain pydantic
(no I/O), and :mod:`tradeopt_common.contracts.models` re-exports it together with the only
functions that read and write it in object storage (``read_lineage`` / ``write_lineage``).
Every service and the CLI reads a lineage through that one parser.

Strict by design: every block forbids unknown fields and every field without a default is
required, so a writer and a reader that drift apart fail loudly instead of silently reading
``None`` (the bug this replaced: evaluation read a ``study`` key no writer wrote).

Layers:
- :class:`ModelRecipe` — written by :func:`tradeopt_ml.training.experiment.lineage_of`: what
  rebuilds the model's observations and what trained it.
- :class:`ModelLineage` — the recipe plus provenance the training service adds when it registers
  the model (ids, dataset, code version, checksums, creation time) and the optional
  :class:`LineageStudy` block (a trial of a tuning study; its outcome once the study finished,
  the deflated Sharpe ratio's inputs).
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tradeopt_ml.data import SplitSpec
from tradeopt_ml.envs import EnvConfig
from tradeopt_ml.features import FeatureSpec, Normalizer

#: Bumped when the lineage layout changes (2: typed blocks, dataset/checksums/study blocks).
LINEAGE_VERSION = 2


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")


class NormalizerState(_Strict):
    """Fitted normalisation statistics (:meth:`tradeopt_ml.features.Normalizer.to_dict`)."""

    version: Literal[1]
    columns: list[str]
    symbols: list[str]
    per_asset: bool
    clip: float
    train: list[int] = Field(min_length=2, max_length=2)
    mean: list[float] | list[list[float]]
    std: list[float] | list[list[float]]

    @classmethod
    def of(cls, normalizer: Normalizer) -> NormalizerState:
        """The state of a fitted normalizer."""
        return cls.model_validate(normalizer.to_dict())

    def normalizer(self) -> Normalizer:
        """The normalizer these statistics describe (never refitted)."""
        return Normalizer.from_dict(self.model_dump())


class SegmentRef(_Strict):
    """One part of the split, as bar indices and times (:meth:`Segment.as_dict`)."""

    name: str
    start: int
    stop: int
    start_time: str
    end_time: str
    n_bars: int


class SplitLayout(_Strict):
    """The split training used on its bars (:meth:`tradeopt_ml.data.Splits.as_dict`)."""

    train: SegmentRef
    validation: SegmentRef | None
    test: SegmentRef
    embargo: int
    n_bars: int


class ModelRecipe(_Strict):
    """What trained a model and what rebuilds its observations on any bars of the dataset."""

    algorithm: str
    hyperparams: dict[str, Any]
    seed: int
    total_timesteps: int
    n_envs: int
    symbols: list[str] = Field(min_length=1)
    start: datetime | None
    features: FeatureSpec
    features_hash: str
    normalizer: NormalizerState
    env: EnvConfig
    splits: SplitLayout
    split_spec: SplitSpec
    bars_per_year: float = Field(gt=0)


class DatasetRef(_Strict):
    """The dataset a model was trained on (its manifest's id and checksum)."""

    id: uuid.UUID
    checksum: str
    symbols: list[str] = Field(min_length=1)


class ModelChecksums(_Strict):
    """The stored ``model.zip``: its sha256 and size, and which checkpoint it is."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    artifact: Literal["best", "final"]


class StudyOutcome(_Strict):
    """A finished study's numbers for the deflated Sharpe ratio of one of its trials' models."""

    study_id: uuid.UUID
    trial_number: int = Field(ge=0)
    n_trials: int = Field(ge=1)
    trials_sharpe_variance: float = Field(ge=0)
    pbo: float | None = Field(
        None,
        ge=0,
        le=1,
        description="The study's probability of backtest overfitting (CSCV over the complete "
        "trials' validation returns); null when it could not be computed",
    )

    @field_validator("trials_sharpe_variance")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be finite")
        return value


class LineageStudy(_Strict):
    """The study a model was trained in as a trial. ``n_trials`` and ``trials_sharpe_variance``
    (variance of the trials' Sharpe ratios) are ``null`` until the study's outcome is recorded.
    """

    study_id: uuid.UUID
    trial_number: int = Field(ge=0)
    n_trials: int | None = Field(ge=1)
    trials_sharpe_variance: float | None = Field(ge=0)
    pbo: float | None = Field(None, ge=0, le=1)

    @model_validator(mode="after")
    def _both_or_neither(self) -> LineageStudy:
        if (self.n_trials is None) != (self.trials_sharpe_variance is None):
            raise ValueError("n_trials and trials_sharpe_variance are recorded together")
        if self.trials_sharpe_variance is not None and not math.isfinite(
            self.trials_sharpe_variance
        ):
            raise ValueError("trials_sharpe_variance must be finite")
        return self

    @property
    def finished(self) -> bool:
        """Whether the study's outcome (trial count, Sharpe variance) is recorded."""
        return self.n_trials is not None

    def with_outcome(self, outcome: StudyOutcome) -> LineageStudy:
        """This block with the study's outcome; ``ValueError`` when ``outcome`` belongs to
        another study or trial.
        """
        if (outcome.study_id, outcome.trial_number) != (self.study_id, self.trial_number):
            raise ValueError(
                f"the model was trained as trial {self.trial_number} of study {self.study_id}, "
                f"not trial {outcome.trial_number} of study {outcome.study_id}"
            )
        return LineageStudy(**outcome.model_dump())


class ModelLineage(ModelRecipe):
    """``model.json``: the recipe plus the registered model's provenance."""

    lineage_version: Literal[2]
    model_id: uuid.UUID
    run_id: uuid.UUID
    dataset: DatasetRef
    code_version: str
    checksums: ModelChecksums
    validation: dict[str, float | int | None]
    created_at: datetime
    study: LineageStudy | None

    @classmethod
    def parse(cls, raw: bytes | str) -> ModelLineage:
        """The one parser of a stored ``model.json`` (``ValidationError`` on any drift)."""
        return cls.model_validate(json.loads(raw))

    def dumps(self) -> bytes:
        """The stored form (sorted keys; NaN statistics kept as JSON ``NaN``, as they were)."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=2).encode()

    def recipe(self) -> ModelRecipe:
        """The library part (what rebuilds the observations)."""
        return ModelRecipe.model_validate(
            {k: v for k, v in self.model_dump().items() if k in ModelRecipe.model_fields}
        )
