"""Cursor pagination parameters and the list envelope."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from tradeopt_common.db.repository import Page

T = TypeVar("T")
ReadT = TypeVar("ReadT", bound=BaseModel)

LimitQuery = Annotated[int, Query(ge=1, le=200, description="Page size (1..200).")]
CursorQuery = Annotated[
    str | None,
    Query(max_length=512, description="`next_cursor` from the previous page; omit for the first."),
]


class PageRead(BaseModel, Generic[T]):
    """A page of a newest-first list."""

    items: list[T]
    next_cursor: str | None = None
    total: int | None = Field(
        None, description="Rows matching the filters over every page (with `total=true` only)"
    )


TotalQuery = Annotated[
    bool,
    Query(description="Also count every row matching the filters (`total`; one more query)."),
]


def page_read(page: Page[Any], read: type[ReadT], *, counted: bool = False) -> PageRead[ReadT]:
    """The list envelope of a repository page, each row validated into ``read``; ``counted``:
    the caller asked for ``total`` (a lister without a count, e.g. a lookup by alias, answers
    a single page, so its length is the total).
    """
    total = page.total
    if counted and total is None and page.next_cursor is None:
        total = len(page.items)
    return PageRead(
        items=[read.model_validate(row) for row in page.items],
        next_cursor=page.next_cursor,
        total=total if counted else None,
    )
