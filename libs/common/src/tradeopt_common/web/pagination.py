"""Cursor pagination parameters and the list envelope."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

T = TypeVar("T")

LimitQuery = Annotated[int, Query(ge=1, le=200, description="Page size (1..200).")]
CursorQuery = Annotated[
    str | None,
    Query(max_length=512, description="`next_cursor` from the previous page; omit for the first."),
]


class PageRead(BaseModel, Generic[T]):
    """A page of a newest-first list."""

    items: list[T]
    next_cursor: str | None = None
