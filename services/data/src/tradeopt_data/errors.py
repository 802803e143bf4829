"""Errors of the data service."""

from tradeopt_common.errors import Conflict, NotFound


class DatasetNotFound(NotFound):
    """No dataset with that id."""

    code, title = "dataset-not-found", "Dataset not found"


class DatasetStateConflict(Conflict):
    """The dataset's state does not allow the operation."""

    code, title = "dataset-state-conflict", "Dataset state conflict"
