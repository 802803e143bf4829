"""``/api/v1/keys``: API keys over HTTP (admin scope), so an admin of a deployment never needs a
shell in a pod. Every service mounts this router (keys are shared, in ``core.api_key``); the
gateway sends ``/api/v1/keys`` to one of them.

The plain key is answered once, by the ``POST`` that creates it; it is stored hashed. ``DELETE``
revokes (the row stays, with ``revoked_at``), and every API process drops the key from its
principal cache at once (:func:`tradeopt_common.auth.keys.revoke_key`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from tradeopt_common.auth import keys
from tradeopt_common.auth.keys import Scope
from tradeopt_common.auth.models import ApiKey
from tradeopt_common.db.repository import RepositoryBase
from tradeopt_common.errors import NotFound
from tradeopt_common.web.deps import AdminPrincipal, SessionDep
from tradeopt_common.web.pagination import CursorQuery, LimitQuery, PageRead, page_read
from tradeopt_common.web.problems import problem_responses

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])
_PROBLEMS = problem_responses(401, 403, 404)


class KeyNotFound(NotFound):
    """No stored API key with this id."""

    code, title = "key-not-found", "API key not found"


class ApiKeyRepository(RepositoryBase[ApiKey]):
    """Queries over stored API keys."""

    model = ApiKey
    noun = "API key"
    not_found = KeyNotFound


class KeyCreate(BaseModel):
    """``POST /api/v1/keys``: a name for people and the scopes (each includes those below it:
    read < write < admin).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    scopes: list[Scope] = Field(default_factory=lambda: [Scope.READ], min_length=1, max_length=3)


class KeyRead(BaseModel):
    """A stored key (never its secret)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str = Field(description="The key's public lookup prefix (to_<prefix>_…)")
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyRead):
    """The created key with its secret: shown this once, stored only hashed."""

    key: str


@router.post(
    "",
    status_code=201,
    response_model=KeyCreated,
    responses=problem_responses(401, 403, 422),
)
async def create_key(
    body: KeyCreate, session: SessionDep, _: AdminPrincipal, response: Response
) -> KeyCreated:
    """Create a key; the answer holds the plain key, which is never shown again."""
    row, secret = await keys.create_key(session, body.name, sorted(set(body.scopes)))
    response.headers["Location"] = f"/api/v1/keys/{row.id}"
    return KeyCreated(**KeyRead.model_validate(row).model_dump(), key=secret)


@router.get("", response_model=PageRead[KeyRead], responses=problem_responses(401, 403, 422))
async def list_keys(
    session: SessionDep,
    _: AdminPrincipal,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    include_revoked: Annotated[bool, Query(description="Also list revoked keys")] = False,
) -> PageRead[KeyRead]:
    """Stored keys, newest first (the bootstrap key of the deployment is not stored)."""
    stmt = select(ApiKey)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    page = await ApiKeyRepository(session).paginate(stmt, limit=limit, cursor=cursor)
    return page_read(page, KeyRead)


@router.get("/{key_id}", response_model=KeyRead, responses=_PROBLEMS)
async def get_key(key_id: uuid.UUID, session: SessionDep, _: AdminPrincipal) -> KeyRead:
    """One stored key."""
    return KeyRead.model_validate(await ApiKeyRepository(session).get_or_raise(key_id))


@router.delete("/{key_id}", response_model=KeyRead, responses=_PROBLEMS)
async def revoke_key(key_id: uuid.UUID, session: SessionDep, _: AdminPrincipal) -> KeyRead:
    """Revoke a key (repeating it is harmless); requests with it are refused from now on, by
    every API process.
    """
    await ApiKeyRepository(session).get_or_raise(key_id)
    row = await keys.revoke_key(session, str(key_id))
    return KeyRead.model_validate(row)
