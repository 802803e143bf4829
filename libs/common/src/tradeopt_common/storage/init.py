"""``python -m tradeopt_common.storage.init``: create the bucket (one-shot deploy job)."""

from tradeopt_common.config import get_settings
from tradeopt_common.logging import configure_logging, get_logger
from tradeopt_common.storage.configured import init_storage

if __name__ == "__main__":
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    get_logger(__name__).info("storage.ready", where=init_storage(settings))
