"""Errors of the tuning service."""

from tradeopt_common.errors import Conflict, NotFound


class StudyNotFound(NotFound):
    """No study with that id."""

    code, title = "study-not-found", "Study not found"


class StudyStateConflict(Conflict):
    """The study is not in a state that allows this (resume a running study, …)."""

    code, title = "study-state-conflict", "Study state conflict"


class StudyResultsConflict(Conflict):
    """The study has too few complete trials for this result (importances, a plot)."""

    code, title = "study-results-conflict", "Too few complete trials"


class PlotKindNotFound(NotFound):
    """No plot of that kind."""

    code, title = "plot-kind-not-found", "Unknown plot kind"


class WalkForwardNotFound(NotFound):
    """No walk-forward optimisation with that id."""

    code, title = "walk-forward-optimization-not-found", "Walk-forward optimisation not found"


class WalkForwardNotReady(Conflict):
    """The walk-forward optimisation has no results yet (it has not succeeded)."""

    code, title = "walk-forward-optimization-not-ready", "Walk-forward optimisation not ready"


class WalkForwardStateConflict(Conflict):
    """The walk-forward optimisation is not in a state that allows this (cancel once ended)."""

    code, title = "walk-forward-optimization-state-conflict", "Walk-forward state conflict"
