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
from tradeopt_common.web.deps import ReadPrincipal, SessionDep, StateDep
from tradeopt_common.web.pagination import CursorQuery, LimitQuery, PageRead, TotalQuery
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
    read_only: bool = True,
) -> None:
    """Add ``GET ""`` (operation ``name``, described by the docstring of ``filters``) to
    ``router``: the page that ``list_page`` returns for ``limit``, ``cursor`` and the fields of
    ``filters`` (each an optional query parameter; unset ones do not filter), every row validated
    into ``read``; ``total=true`` passes ``count=True`` to the lister and answers ``total``.
    Callers need a read key; the page comes from a read-only session
    (:meth:`Database.read_only`: autocommit on PostgreSQL, one round trip) unless ``read_only`` is
    false (a lister that writes; none does today). On a router built with
    ``route_class=CachedReadRoute`` the page may come from the app's
    :class:`~tradeopt_common.web.read_cache.ReadCache` (keyed by the URL).
    """
    page_model: type[PageRead[Any]] = PageRead[read]  # type: ignore[valid-type]

    async def page_of(
        session: AsyncSession, limit: int, cursor: str | None, total: bool, query: BaseModel
    ) -> PageRead[Any]:
        filters = {**dict(query), **({"count": True} if total else {})}
        page = await list_page(session, limit=limit, cursor=cursor, **filters)
        counted = page.total
        if total and counted is None and page.next_cursor is None:
            counted = len(page.items)  # a lister without a count (a lookup) answers one page
        # Validated while the session is open (deferred columns, lazy="raise" relationships).
        return page_model(
            items=[read.model_validate(row) for row in page.items],
            next_cursor=page.next_cursor,
            total=counted if total else None,
        )

    async def endpoint(
        source: Any,  # the app state (read-only: the session is opened here) or the session
        _: object,
        limit: int,
        cursor: str | None,
        total: bool,
        query: BaseModel,
    ) -> PageRead[Any]:
        if read_only:
            async with source.db.read_only() as session:
                return await page_of(session, limit, cursor, total, query)
        return await page_of(source, limit, cursor, total, query)

    param = inspect.Parameter
    kind = param.POSITIONAL_OR_KEYWORD
    signature = inspect.Signature(
        [
            param("source", kind, annotation=StateDep if read_only else SessionDep),
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
