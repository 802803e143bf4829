"""FastAPI dependencies and their ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_common.auth.keys import Principal, Scope
from tradeopt_common.auth.sessions import SESSION_COOKIE
from tradeopt_common.config import CommonSettings
from tradeopt_common.errors import Forbidden, Unauthorized
from tradeopt_common.jobs.dispatch import Dispatcher
from tradeopt_common.storage import ArtifactStore
from tradeopt_common.web.idempotency import HEADER as IDEMPOTENCY_HEADER
from tradeopt_common.web.idempotency import Idempotency
from tradeopt_common.web.state import AppState

SettingsT = TypeVar("SettingsT", bound=CommonSettings)


async def get_state(request: Request) -> AppState:
    """The app's typed state.

    Every dependency here is ``async def``: FastAPI runs plain ``def`` dependencies in a worker
    thread, a thread hand-off per request for a one-line function.
    """
    return request.app.state.tradeopt


StateDep = Annotated[AppState, Depends(get_state)]


async def get_settings_dep(state: StateDep) -> CommonSettings:
    """The app's settings."""
    return state.settings


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: commits after the endpoint returns, before the response is
    sent (``scope="function"``), so a client never sees a resource that is not committed.
    """
    async with state.db.unit_of_work() as session:
        yield session


async def get_read_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    """A session for endpoints that only read (:meth:`Database.read_only`: autocommit on
    PostgreSQL, one round trip per query). Endpoints that write use :data:`SessionDep`.
    """
    async with state.db.read_only() as session:
        yield session


async def get_store(state: StateDep) -> ArtifactStore:
    """The artifact store."""
    return state.store


async def get_dispatcher(state: StateDep) -> Dispatcher:
    """The job dispatcher."""
    return state.dispatcher


def service_settings(kind: type[SettingsT]) -> Callable[[AppState], Awaitable[SettingsT]]:
    """A dependency on the app's settings as the service's own settings class ``kind`` (the
    service's app was created with them): ``Annotated[TrainingSettings,
    Depends(service_settings(TrainingSettings))]``.
    """

    async def get_service_settings(state: StateDep) -> SettingsT:
        settings = state.settings
        if not isinstance(settings, kind):  # pragma: no cover - wiring error
            raise TypeError(f"the {state.service} app must be created with {kind.__name__}")
        return settings

    return get_service_settings


SettingsDep = Annotated[CommonSettings, Depends(get_settings_dep)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
StoreDep = Annotated[ArtifactStore, Depends(get_store)]
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]

bearer_scheme = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer <key>`")


session_cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="browser session: `POST /api/v1/auth/session` sets it (HttpOnly)",
)


async def get_principal(
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    session_token: Annotated[str | None, Depends(session_cookie_scheme)],
) -> Principal:
    """The caller, from ``Authorization: Bearer <key>`` or else the session cookie (same scopes
    as the key it was opened with); 401 without valid credentials.

    Verified keys and sessions are cached in-process and ``last_used_at`` is written outside the
    request's transaction (:class:`~tradeopt_common.auth.cache.Authenticator`).
    """
    if (
        credentials is not None
        and credentials.scheme.lower() == "bearer"
        and credentials.credentials
    ):
        principal = await state.auth.principal(credentials.credentials)
        if principal is None:
            raise Unauthorized("invalid or revoked API key")
        return principal
    if session_token:
        principal = await state.auth.session_principal(session_token)
        if principal is None:
            raise Unauthorized("the session has expired or was ended: sign in again")
        return principal
    raise Unauthorized(
        "missing API key: send `Authorization: Bearer <key>` "
        "(or sign in: POST /api/v1/auth/session)"
    )


async def authenticate(request: Request, scope: Scope) -> Principal:
    """The caller of ``request`` holding ``scope`` — what ``require(scope)`` checks, for code
    that runs before a route's dependencies (the read cache); 401/403 otherwise.
    """
    state: AppState = request.app.state.tradeopt
    principal = await get_principal(
        state, await bearer_scheme(request), await session_cookie_scheme(request)
    )
    if not principal.has(scope):
        raise Forbidden(f"this operation needs the {scope.value!r} scope")
    return principal


def require(scope: Scope) -> object:
    """A dependency that admits callers holding ``scope`` (or a higher one); 403 otherwise."""

    async def _check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.has(scope):
            raise Forbidden(f"this operation needs the {scope.value!r} scope")
        return principal

    _check.required_scope = scope  # type: ignore[attr-defined]  # read by CachedReadRoute
    return Depends(_check)


ReadPrincipal = Annotated[Principal, require(Scope.READ)]
WritePrincipal = Annotated[Principal, require(Scope.WRITE)]
AdminPrincipal = Annotated[Principal, require(Scope.ADMIN)]


async def get_idempotency(
    request: Request,
    session: SessionDep,
    principal: WritePrincipal,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            description=(
                "Optional, 1 to 255 printable characters: a retry with the same key (same "
                "caller, method, path and body) returns the first response instead of creating "
                "again; the same key with a different request is a 422, while the first is still "
                "running a 409. Keys are kept 24 h."
            ),
        ),
    ] = None,
) -> Idempotency:
    """The ``Idempotency-Key`` helper for a creating POST (the header parameter documents it in
    the OpenAPI document; :class:`Idempotency` reads and validates it).
    """
    del idempotency_key
    return Idempotency(request, session, principal.id)


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]
