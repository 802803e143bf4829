"""Database layer: declarative base, engines and units of work, repositories, migrations."""

from tradeopt_common.db.base import Base, UTCDateTime, utcnow
from tradeopt_common.db.session import Database, after_commit

__all__ = ["Base", "Database", "UTCDateTime", "after_commit", "utcnow"]
