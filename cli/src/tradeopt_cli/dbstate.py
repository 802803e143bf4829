"""What an admin command says when its database cannot serve it: not migrated (or behind the
installed code's migrations), or unreachable, instead of a raw SQLAlchemy traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

#: The command that migrates every tree (``tradeopt db upgrade``).
UPGRADE_COMMAND = "tradeopt db upgrade"


def shown_url(url: str) -> str:
    """The database URL with its password hidden."""
    return make_url(url).render_as_string(hide_password=True)


@dataclass(frozen=True)
class Unmigrated:
    """Migration trees whose revision is not the installed code's head.

    Attributes:
        never: trees with no revision at all (the database was never migrated).
        behind: trees at an older revision than the code's head.
    """

    never: tuple[str, ...]
    behind: tuple[str, ...]

    def __bool__(self) -> bool:
        """Some tree needs ``tradeopt db upgrade``."""
        return bool(self.never or self.behind)

    def message(self, url: str) -> str:
        """``database X is not migrated (...): run `tradeopt db upgrade```."""
        parts = []
        if self.never:
            parts.append(f"no revision: {', '.join(self.never)}")
        if self.behind:
            parts.append(f"behind this version's migrations: {', '.join(self.behind)}")
        return (
            f"database {shown_url(url)} is not migrated ({'; '.join(parts)}): "
            f"run `{UPGRADE_COMMAND}`"
        )


def unmigrated(url: str) -> Unmigrated:
    """Compare every installed tree's current revision in ``url`` with its head.

    A revision the installed code does not know (a newer release migrated the database) is not
    reported: upgrading could not help.

    Raises:
        SQLAlchemyError: the database cannot be reached.
    """
    from alembic.script import ScriptDirectory

    from tradeopt_common.db.migrations import current, discover_trees

    revisions = current(url)
    never: list[str] = []
    behind: list[str] = []
    for tree in discover_trees():
        revision = revisions.get(tree.name)
        if revision is None:
            never.append(tree.name)
            continue
        script = ScriptDirectory.from_config(tree.config(url))
        if revision in script.get_heads():
            continue
        known = {rev.revision for rev in script.walk_revisions()}
        if revision in known:
            behind.append(tree.name)
    return Unmigrated(tuple(never), tuple(behind))


def explain_failure(url: str, exc: SQLAlchemyError | OSError) -> str:
    """One line for a database error met by an admin command: not migrated, unreachable, or
    (when the schema is current) the error's first line.
    """
    if isinstance(exc, OSError):  # the driver could not connect (refused, unknown host)
        return f"cannot reach database {shown_url(url)}: {exc}"
    try:
        state = unmigrated(url)
    except SQLAlchemyError as unusable:
        return f"cannot use database {shown_url(url)}: {_first_line(unusable)}"
    except OSError as unreachable:
        return f"cannot reach database {shown_url(url)}: {unreachable}"
    if state:
        return state.message(url)
    return f"database {shown_url(url)}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    """The driver's message without SQLAlchemy's statement dump and background link."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
