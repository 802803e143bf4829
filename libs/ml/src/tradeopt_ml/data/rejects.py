"""File-level upload problems (:class:`UploadRejected`), shared by the CSV reader and the ingest."""

from __future__ import annotations

from typing import Literal

RejectKind = Literal[
    "empty", "binary", "media_type", "format", "columns", "symbol", "too_many_rows"
]


class UploadRejected(ValueError):
    """A file-level problem: the upload is unusable as a whole.

    ``kind`` is one of ``empty, binary, media_type, format, columns, symbol, too_many_rows``; the
    data service answers 415 for ``media_type`` and 422 for the others. ``details`` carries
    machine-readable context (e.g. ``missing`` and ``found`` columns).
    """

    def __init__(self, kind: RejectKind, message: str, **details: object) -> None:
        super().__init__(message)
        self.kind: RejectKind = kind
        self.message = message
        self.details: dict[str, object] = details

    def to_dict(self) -> dict[str, object]:
        """JSON-ready ``{kind, message, **details}``."""
        return {"kind": self.kind, "message": self.message, **self.details}
