"""Queries over strategies and paper sessions."""

from __future__ import annotations

from tradeopt_common.db.repository import RepositoryBase
from tradeopt_strategy.errors import PaperSessionNotFound, StrategyNotFound
from tradeopt_strategy.models import PaperSession, Strategy


class StrategyRepository(RepositoryBase[Strategy]):
    """Statements for :class:`Strategy`."""

    model = Strategy
    noun, not_found = "strategy", StrategyNotFound


class PaperSessionRepository(RepositoryBase[PaperSession]):
    """Statements for :class:`PaperSession`."""

    model = PaperSession
    noun, not_found = "paper session", PaperSessionNotFound
