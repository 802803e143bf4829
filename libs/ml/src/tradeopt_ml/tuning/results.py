"""What a study's trials tell (pure): parameter importances (fANOVA, seeded), the objective's
history with its best-so-far, the Pareto front of a multi-objective study, and Plotly figures of
:mod:`optuna.visualization`.

With several objectives, importances, history and every figure but ``pareto_front`` are about one
of them: a :class:`Target` (its index in the study's values and its metric name, Optuna's
``target=``/``target_name=``).

Functions take an :class:`optuna.Study` (or plain values) and return plain data; the tuning
service loads the study from its storage and serves the results.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import optuna

#: Figures served per study, with the fewest complete trials each needs to mean anything.
PLOT_MIN_TRIALS: dict[str, int] = {
    "optimization_history": 1,
    "slice": 1,
    "parallel_coordinate": 2,
    "param_importances": 2,
    "contour": 2,
    "pareto_front": 1,
}
#: Objectives a Pareto-front figure can show (Optuna draws 2-D and 3-D fronts).
PARETO_PLOT_OBJECTIVES = (2, 3)
#: fANOVA needs at least this many complete trials (one point fits no forest).
IMPORTANCE_MIN_TRIALS = 2

Direction = Literal["maximize", "minimize"]


@dataclass(frozen=True)
class Target:
    """One objective of a multi-objective study: ``index`` into a trial's values, ``name`` (the
    metric) for the figures' axes.
    """

    index: int
    name: str

    def of(self) -> Callable[[optuna.trial.FrozenTrial], float]:
        """Optuna's ``target=``: this objective's value of a (complete) trial."""
        index = self.index

        def value(trial: optuna.trial.FrozenTrial) -> float:
            assert trial.values is not None, "a complete trial has values"
            return float(trial.values[index])

        return value


def _target_kwargs(target: Target | None) -> dict[str, Any]:
    return {} if target is None else {"target": target.of(), "target_name": target.name}


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[Direction]) -> bool:
    """Whether ``a`` is at least as good as ``b`` in every objective and better in one."""
    signs = [1.0 if d == "maximize" else -1.0 for d in directions]
    at_least = all(s * x >= s * y for s, x, y in zip(signs, a, b, strict=True))
    better = any(s * x > s * y for s, x, y in zip(signs, a, b, strict=True))
    return at_least and better


def pareto_front(points: Sequence[Sequence[float]], directions: Sequence[Direction]) -> list[int]:
    """Indices (ascending) of the non-dominated ``points`` (each one value per direction); equal
    points are all on the front, as in Optuna's ``Study.best_trials``.
    """
    return [
        i
        for i, point in enumerate(points)
        if not any(dominates(other, point, directions) for other in points)
    ]


class TooFewTrials(ValueError):
    """The study has fewer complete trials than a result needs."""

    def __init__(self, what: str, needed: int, have: int) -> None:
        super().__init__(f"{what} needs at least {needed} complete trials; the study has {have}")
        self.what, self.needed, self.have = what, needed, have


def complete_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The study's complete trials, by number."""
    import optuna

    return list(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def _searched(trials: Sequence[optuna.trial.FrozenTrial]) -> set[str]:
    """Parameters that took more than one value over ``trials`` (others explain nothing)."""
    values: dict[str, set[str]] = {}
    for trial in trials:
        for name, value in trial.params.items():
            values.setdefault(name, set()).add(repr(value))
    return {name for name, seen in values.items() if len(seen) > 1}


def param_importances(
    study: optuna.Study, seed: int, target: Target | None = None
) -> dict[str, float]:
    """The fANOVA importance of each searched parameter for the objective (``target``: the one of
    a multi-objective study; normalised to sum to 1, most important first). The evaluator's
    random forest is seeded with ``seed``: the same trials and seed give the same importances.

    Raises:
        TooFewTrials: fewer than :data:`IMPORTANCE_MIN_TRIALS` complete trials.
    """
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    trials = complete_trials(study)
    if len(trials) < IMPORTANCE_MIN_TRIALS:
        raise TooFewTrials("parameter importances", IMPORTANCE_MIN_TRIALS, len(trials))
    params = sorted(_searched(trials))
    if not params:
        raise TooFewTrials("parameter importances (a parameter that varied)", 2, len(trials))
    importances = get_param_importances(
        study,
        evaluator=FanovaImportanceEvaluator(seed=seed),
        params=params,
        normalize=True,
        target=None if target is None else target.of(),
    )
    return {name: float(value) for name, value in importances.items()}


@dataclass(frozen=True)
class HistoryPoint:
    """One trial in the objective's history."""

    number: int
    state: str
    value: float | None
    best_so_far: float | None


def history(
    trials: Sequence[tuple[int, str, float | None]], direction: Direction
) -> list[HistoryPoint]:
    """The objective per trial (``(number, state, value)``, any order) with the best value of the
    complete trials up to and including each one; trials without a value carry the best so far.
    """
    ordered = sorted(trials, key=lambda t: t[0])
    raw = np.array(
        [v if (s == "complete" and v is not None) else np.nan for _, s, v in ordered], dtype=float
    )
    sign = 1.0 if direction == "maximize" else -1.0
    filled = np.where(np.isnan(raw), -np.inf, sign * raw)
    best = sign * np.maximum.accumulate(filled) if len(filled) else filled
    return [
        HistoryPoint(
            number=number,
            state=state,
            value=value,
            best_so_far=None if not np.isfinite(b) else float(b),
        )
        for (number, state, value), b in zip(ordered, best, strict=True)
    ]


def plot(
    study: optuna.Study,
    kind: str,
    seed: int,
    target: Target | None = None,
    names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The Plotly figure (``{"data": [...], "layout": {...}}``) of ``kind`` for the study:
    about ``target`` (required with several objectives, except for ``pareto_front``, which
    shows every objective, named ``names``, on a 2-D or 3-D front).

    Raises:
        KeyError: ``kind`` is not one of :data:`PLOT_MIN_TRIALS`.
        TooFewTrials: fewer complete trials than the figure needs.
        ValueError: ``pareto_front`` of a study without 2 or 3 objectives.
    """
    import optuna.visualization as vis
    from optuna.importance import FanovaImportanceEvaluator

    needed = PLOT_MIN_TRIALS[kind]
    trials = complete_trials(study)
    if len(trials) < needed:
        raise TooFewTrials(f"the {kind} plot", needed, len(trials))
    searched = sorted(_searched(trials))
    if kind in ("param_importances", "contour", "parallel_coordinate") and not searched:
        raise TooFewTrials(f"the {kind} plot (a parameter that varied)", 2, len(trials))
    per = _target_kwargs(target)
    if kind == "pareto_front":
        n_objectives = len(study.directions)
        if n_objectives not in PARETO_PLOT_OBJECTIVES:
            raise ValueError(
                f"a Pareto-front figure shows 2 or 3 objectives; the study has {n_objectives}"
            )
        figure = vis.plot_pareto_front(
            study, target_names=list(names) if names else None, include_dominated_trials=True
        )
    elif kind == "optimization_history":
        figure = vis.plot_optimization_history(study, **per)
    elif kind == "slice":
        figure = vis.plot_slice(study, **per)
    elif kind == "parallel_coordinate":
        figure = vis.plot_parallel_coordinate(study, params=searched, **per)
    elif kind == "param_importances":
        figure = vis.plot_param_importances(
            study, evaluator=FanovaImportanceEvaluator(seed=seed), params=searched, **per
        )
    else:
        figure = vis.plot_contour(study, params=searched, **per)
    # Plotly's own encoder turns numpy arrays and NaN into JSON.
    parsed: dict[str, Any] = json.loads(figure.to_json())
    return parsed
