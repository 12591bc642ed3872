"""Parameters every route shares: row ids in paths, and the one way to paginate
(``?limit=&offset=`` in, ``{items, total, limit, offset}`` out)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")


ID_MAX = 2**31 - 1  # row ids are PostgreSQL ``integer``
RowId = Annotated[int, Path(ge=1, le=ID_MAX, description="Row id.")]
"""A row id in a path: a positive 32-bit integer."""
RefId = Annotated[int, Field(ge=1, le=ID_MAX)]
"""A row id in a request body or query (a reference to another row)."""


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int


def _page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="Items per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=ID_MAX, description="Items to skip.")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageQuery = Annotated[PageParams, Depends(_page_params)]


def paginate(session: Session, stmt: Select[Any], params: PageParams) -> tuple[list[Any], int]:
    """Run ``stmt`` for one page; returns the rows and the total count."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = list(session.scalars(stmt.limit(params.limit).offset(params.offset)))
    return rows, total
