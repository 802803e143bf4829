"""Column-name aliases for uploaded bar files.

Header names are matched case-, space-, underscore-, hyphen- and dot-insensitively
(``Adj Close`` = ``adj_close`` = ``ADJCLOSE``). Each canonical field has a list of accepted
spellings; a file column that matches none is ignored (and listed as ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Canonical field -> accepted spellings, already normalised by :func:`normalise_name`.
ALIASES: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "datetime", "date", "time", "ts", "dt", "tradedate", "day"),
    "symbol": ("symbol", "ticker", "sym", "instrument"),
    "open": ("open", "o", "openprice", "opening"),
    "high": ("high", "h", "hi", "highprice"),
    "low": ("low", "l", "lo", "lowprice"),
    "close": ("close", "c", "closeprice", "closing", "last"),
    "adj_close": ("adjclose", "adjustedclose", "adjclosing", "closeadj", "adjcloseprice"),
    "volume": ("volume", "v", "vol", "qty"),
}

#: Fields every upload must have (``adj_close`` and ``symbol`` are optional).
REQUIRED: tuple[str, ...] = ("timestamp", "open", "high", "low", "close", "volume")

_STRIP = re.compile(r"[\s_\-.]+")


def normalise_name(name: object) -> str:
    """Lower-case a header name and drop spaces, underscores, hyphens and dots."""
    return _STRIP.sub("", str(name)).lower()


_LOOKUP: dict[str, str] = {alias: field for field, names in ALIASES.items() for alias in names}


class ColumnMapping:
    """The result of matching a file's header against :data:`ALIASES`.

    Attributes:
        columns: canonical field -> source column name, for the fields found.
        ignored: source columns that match no field.
        ambiguous: canonical field -> all source columns that match it, when more than one does
            (``timestamp`` is exempt: ``date`` + ``time`` are combined, otherwise the most
            specific name wins).
        date_time: ``(date column, time column)`` when the timestamp is split over two columns.
    """

    def __init__(self, header: Iterable[object]) -> None:
        """Match ``header`` (source column names, in file order)."""
        found: dict[str, list[str]] = {}
        self.ignored: list[str] = []
        for name in header:
            field = _LOOKUP.get(normalise_name(name))
            if field is None:
                self.ignored.append(str(name))
            else:
                found.setdefault(field, []).append(str(name))
        self.date_time: tuple[str, str] | None = None
        stamps = found.pop("timestamp", [])
        self.columns: dict[str, str] = {}
        self.ambiguous: dict[str, list[str]] = {}
        if stamps:
            by_alias = {normalise_name(s): s for s in stamps}
            if "date" in by_alias and "time" in by_alias and len(by_alias) == 2:
                self.date_time = (by_alias["date"], by_alias["time"])
                self.columns["timestamp"] = by_alias["date"]
            else:
                # Most specific first: an explicit timestamp beats a plain date.
                for alias in ALIASES["timestamp"]:
                    if alias in by_alias:
                        self.columns["timestamp"] = by_alias[alias]
                        break
                self.ignored.extend(s for s in stamps if s != self.columns["timestamp"])
        for field, names in found.items():
            if len(names) > 1:
                self.ambiguous[field] = names
            else:
                self.columns[field] = names[0]

    def missing(self) -> list[str]:
        """Required canonical fields that no source column provides."""
        return [f for f in REQUIRED if f not in self.columns]
