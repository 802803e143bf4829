"""``/api/v1/auth``: every service mounts this router (keys and sessions are shared records).

``POST /api/v1/auth/session`` exchanges an API key (body ``{"api_key"}`` or ``Authorization:
Bearer``) for a session cookie (:data:`~tradeopt_common.auth.sessions.SESSION_COOKIE`: HttpOnly,
SameSite=Strict, Path=/, Secure when the request came over HTTPS) that every service accepts like
the key (browsers' EventSource and the gateway's ``/optuna/`` cannot send headers);
``DELETE /api/v1/auth/session`` ends it. See :mod:`tradeopt_common.auth.sessions` for the design.

``GET /api/v1/auth/check`` is the gateway's ``auth_request`` target for browser-facing
components that have no auth of their own (optuna-dashboard at ``/optuna/``): 204 when the
caller's credentials are valid and hold the scope the original request needs
(``X-Original-Method``: ``GET``/``HEAD`` need ``read``, every other method ``write``), 401
without valid credentials, 403 without the scope.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from tradeopt_common.auth.cache import announce_revocation, invalidate_local_caches
from tradeopt_common.auth.keys import Principal, Scope
from tradeopt_common.auth.sessions import SESSION_COOKIE, close_session, open_session
from tradeopt_common.db.session import after_commit
from tradeopt_common.errors import Forbidden, Unauthorized
from tradeopt_common.web.deps import (
    SessionDep,
    StateDep,
    bearer_scheme,
    get_principal,
    session_cookie_scheme,
)
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


class SessionCreate(BaseModel):
    """``POST /api/v1/auth/session``: the API key to sign in with (or send it as ``Authorization:
    Bearer`` and no body).
    """

    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr = Field(min_length=1, max_length=512)


class SessionRead(BaseModel):
    """The signed-in session (the token itself is only in the HttpOnly cookie)."""

    name: str = Field(description="the API key's name")
    scopes: list[str]
    expires_at: datetime


def _secure(request: Request) -> bool:
    """Whether the client reached us over HTTPS (directly or through the gateway/ingress)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


@router.post(
    "/session",
    status_code=201,
    response_model=SessionRead,
    responses=problem_responses(400, 401, 422),
)
async def sign_in(
    request: Request,
    response: Response,
    state: StateDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    body: Annotated[SessionCreate | None, Body()] = None,
) -> SessionRead:
    """Exchange an API key for a session cookie (HttpOnly, SameSite=Strict, Path=/, Secure over
    HTTPS; ``TRADING_OPT_SESSION_TTL_SECONDS``) that every service accepts like the key, with the
    key's scopes, until it expires, the key is revoked, or ``DELETE /api/v1/auth/session``.
    401 for a missing, invalid or revoked key.
    """
    if body is not None:
        key = body.api_key.get_secret_value()
    elif credentials is not None and credentials.scheme.lower() == "bearer":
        key = credentials.credentials
    else:
        raise Unauthorized('send the API key as {"api_key": ...} or `Authorization: Bearer`')
    principal = await state.auth.principal(key)
    if principal is None:
        raise Unauthorized("invalid or revoked API key")
    ttl = timedelta(seconds=state.settings.session_ttl_seconds)
    opened = await open_session(session, principal, key, ttl)
    response.set_cookie(
        SESSION_COOKIE,
        opened.token,
        max_age=state.settings.session_ttl_seconds,
        path="/",
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )
    response.headers["Cache-Control"] = "no-store"
    return SessionRead(
        name=principal.name,
        scopes=sorted(s.value for s in principal.scopes),
        expires_at=opened.expires_at,
    )


@router.delete("/session", status_code=204, response_class=Response)
async def sign_out(
    request: Request,
    state: StateDep,
    session: SessionDep,
    token: Annotated[str | None, Depends(session_cookie_scheme)],
) -> Response:
    """End the session of the cookie (if any) and clear the cookie; 204 either way. Every
    process forgets it at once (the revocation broadcast).
    """
    if token and await close_session(session, token):
        redis_uri = state.settings.redis_uri

        async def _announce() -> None:
            invalidate_local_caches()
            await announce_revocation(redis_uri, "session")

        after_commit(session, _announce)
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=_secure(request), httponly=True, samesite="strict"
    )
    return response
