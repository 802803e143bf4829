"""The ``GET`` list route of a resource collection (datasets, runs, models, evaluations, studies):
the collection's filters as optional query parameters after ``limit`` and ``cursor``, answered
with a newest-first :class:`PageRead` of the resource's read model.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_common.db.repository import Page
from tradeopt_common.web.deps import ReadPrincipal, ReadSessionDep, SessionDep
from tradeopt_common.web.pagination import (
    CursorQuery,
    LimitQuery,
    PageRead,
    TotalQuery,
    page_read,
)
from tradeopt_common.web.problems import problem_responses

ListPage = Callable[..., Awaitable[Page[Any]]]
"""``list_page(session, limit=…, cursor=…, **filters)``: a page of rows (a service's lister)."""


def add_list_route(
    router: APIRouter,
    name: str,
    list_page: ListPage,
    read: type[BaseModel],
    filters: type[BaseModel],
    *,
    read_only: bool = False,
) -> None:
    """Add ``GET ""`` (operation ``name``, described by the docstring of ``filters``) to
    ``router``: the page that ``list_page`` returns for ``limit``, ``cursor`` and the fields
    of ``filters`` (each an optional query parameter; unset ones do not filter), every row
    validated into ``read``; ``total=true`` passes ``count=True`` and answers ``total``.
    Callers need a read key; ``read_only`` serves it from a read-only session
    (:data:`ReadSessionDep`).
    """

    async def endpoint(
        session: AsyncSession,
        _: object,
        limit: int,
        cursor: str | None,
        total: bool,
        query: BaseModel,
    ) -> PageRead[Any]:
        filters = {**dict(query), **({"count": True} if total else {})}
        page = await list_page(session, limit=limit, cursor=cursor, **filters)
        return page_read(page, read, counted=total)

    param = inspect.Parameter
    kind = param.POSITIONAL_OR_KEYWORD
    signature = inspect.Signature(
        [
            param("session", kind, annotation=ReadSessionDep if read_only else SessionDep),
            param("_", kind, annotation=ReadPrincipal),
            param("limit", kind, annotation=LimitQuery, default=50),
            param("cursor", kind, annotation=CursorQuery, default=None),
            param("total", kind, annotation=TotalQuery, default=False),
            param("query", kind, annotation=Annotated[filters, Query()], default=filters()),
        ]
    )
    endpoint.__signature__ = signature  # type: ignore[attr-defined]
    endpoint.__doc__ = filters.__doc__
    router.add_api_route(
        "",
        endpoint,
        methods=["GET"],
        name=name,
        response_model=PageRead[read],  # type: ignore[valid-type]
        responses=problem_responses(401, 403, 422),
    )
