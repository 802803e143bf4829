"""``python -m tradeopt_common.db.upgrade``: migrate the core schema and every installed service.

Run once per deployment from a one-shot job (compose ``migrate``, the k8s migration Job), never
from every replica.
"""

from __future__ import annotations

from tradeopt_common.config import get_settings
from tradeopt_common.db.migrations import upgrade
from tradeopt_common.logging import configure_logging


def main() -> None:
    """Upgrade the configured database to the newest revision of every tree."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    upgrade(settings.db_uri)


if __name__ == "__main__":
    main()
