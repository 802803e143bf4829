"""OpenAPI descriptions of the problem responses."""

from __future__ import annotations

from tradeopt_common.web.problems import PROBLEM_JSON

_NAMES = {
    400: "Malformed request",
    401: "No valid API key",
    403: "Missing scope",
    404: "Unknown id",
    409: "State conflict",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Invalid request",
}


def problems(*codes: int) -> dict[int | str, dict[str, object]]:
    """``responses=`` entries for the given problem statuses."""
    return {c: {"content": {PROBLEM_JSON: {}}, "description": _NAMES[c]} for c in codes}
