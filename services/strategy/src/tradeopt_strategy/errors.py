"""Errors of the strategy service."""

from tradeopt_common.errors import Conflict, NotFound


class StrategyNotFound(NotFound):
    """No strategy with that id."""

    code, title = "strategy-not-found", "Strategy not found"


class PaperSessionNotFound(NotFound):
    """No paper session with that id."""

    code, title = "paper-session-not-found", "Paper session not found"


class ModelNotEvaluated(Conflict):
    """The model has no succeeded evaluation on record: it cannot become a strategy."""

    code, title = "model-not-evaluated", "Model not evaluated"


class StrategyStateConflict(Conflict):
    """The strategy's state does not allow the request."""

    code, title = "strategy-state-conflict", "Strategy state conflict"


class SessionStateConflict(Conflict):
    """The paper session's state does not allow the request."""

    code, title = "paper-session-state-conflict", "Paper session state conflict"


class DuplicateBar(Conflict):
    """A live bar with that timestamp was already processed."""

    code, title = "duplicate-bar", "Duplicate bar"


class ParityNotReady(Conflict):
    """The session has no parity report (not a finished replay)."""

    code, title = "parity-not-ready", "Parity report not ready"
