"""tradeopt data service: datasets of OHLCV bars (API on :8001, Celery worker on queue ``data``)."""
