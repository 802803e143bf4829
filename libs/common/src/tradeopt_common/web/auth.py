"""``/api/v1/auth``: every service mounts this router (keys and sessions are shared records).

``GET /api/v1/auth/check`` is the gateway's ``auth_request`` target for browser-facing
components that have no auth of their own (optuna-dashboard at ``/optuna/``): 204 when the
caller's credentials are valid and hold the scope the original request needs
(``X-Original-Method``: ``GET``/``HEAD`` need ``read``, every other method ``write``), 401
without valid credentials, 403 without the scope.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response

from tradeopt_common.auth.keys import Principal, Scope
from tradeopt_common.errors import Forbidden
from tradeopt_common.web.deps import get_principal
from tradeopt_common.web.problems import problem_responses

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

#: Methods that only read (``auth_request`` maps every other method to ``write``).
READ_METHODS = frozenset({"GET", "HEAD"})


def scope_for_method(method: str | None) -> Scope:
    """The scope a request with ``method`` needs (no method: a read)."""
    if method is None or method.strip().upper() in READ_METHODS or not method.strip():
        return Scope.READ
    return Scope.WRITE


@router.get(
    "/check",
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403),
)
async def check(
    principal: Annotated[Principal, Depends(get_principal)],
    x_original_method: Annotated[
        str | None,
        Header(
            max_length=32,
            description="the method of the request the gateway authorises (default GET)",
        ),
    ] = None,
) -> Response:
    """204 when the API key (``Authorization: Bearer``) or session cookie is valid and holds the
    scope the original method needs; 401 without valid credentials; 403 without the scope.
    """
    needed = scope_for_method(x_original_method)
    if not principal.has(needed):
        raise Forbidden(f"{x_original_method or 'GET'} needs the {needed.value!r} scope")
    return Response(status_code=204)
