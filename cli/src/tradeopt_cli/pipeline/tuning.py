"""The pipeline's seeded TPE study, shared by ``pipeline run`` and ``pipeline submit``: each trial
is a training run (its request from :func:`run_request`), its objective the run's validation
Sharpe ratio.
"""

from __future__ import annotations

import uuid
from typing import Any

from tradeopt_cli.pipeline.config import PipelineConfig
from tradeopt_cli.pipeline.requests import run_request, suggest
from tradeopt_cli.pipeline.results import StudySummary


class TuningStudy:
    """The study of ``config.tuning`` on one dataset: :meth:`ask` for the next trial's run
    request, train it, :meth:`tell` its result; :meth:`summary` once every trial ran.
    """

    def __init__(self, config: PipelineConfig, dataset_id: uuid.UUID | str) -> None:
        import optuna

        assert config.tuning is not None
        self.config, self.dataset_id, self.tune = config, dataset_id, config.tuning
        self.id = uuid.uuid4()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(
            seed=self.tune.seed, n_startup_trials=min(self.tune.n_trials, 5)
        )
        self._study = optuna.create_study(direction="maximize", sampler=sampler)
        self._trial: Any = None
        self._params: dict[str, Any] = {}
        self.trials: list[dict[str, Any]] = []

    def ask(self) -> dict[str, Any]:
        """The ``POST /api/v1/runs`` body of the next trial (hyperparameters drawn by TPE)."""
        self._trial = self._study.ask()
        space = self.tune.search_space
        self._params = {name: suggest(self._trial, name, p) for name, p in space.items()}
        return run_request(
            self.config,
            self.dataset_id,
            self.tune.algorithm,
            self.tune.seed,
            total_timesteps=self.tune.timesteps_per_trial,
            hyperparams=self._params,
            study_id=self.id,
            trial_number=len(self.trials),
        )

    def tell(self, validation_sharpe: float | None, model_id: str | None) -> float:
        """Record the asked trial's run; returns its objective (a run without a validation
        Sharpe ratio counts as 0).
        """
        value = validation_sharpe if validation_sharpe is not None else 0.0
        self._study.tell(self._trial, value)
        self.trials.append(
            {
                "number": len(self.trials),
                "params": self._params,
                "value": value,
                "model_id": model_id,
            }
        )
        return value

    def summary(self) -> StudySummary:
        """The finished study: best trial and the variance of the trials' Sharpe ratios."""
        return StudySummary.from_trials(str(self.id), self.trials)
