"""Alembic environment of the ``core`` tree."""

from tradeopt_common.auth.models import ApiKey  # noqa: F401 - registers the table
from tradeopt_common.db.base import Base
from tradeopt_common.db.migrations import run_env
from tradeopt_common.jobs.models import Job  # noqa: F401
from tradeopt_common.references import ResourceReference  # noqa: F401
from tradeopt_common.storage.integrity import ArtifactDigest  # noqa: F401
from tradeopt_common.web.idempotency import IdempotencyRecord  # noqa: F401

run_env(Base.metadata)
