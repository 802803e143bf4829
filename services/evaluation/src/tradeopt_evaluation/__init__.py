"""tradeopt evaluation service: out-of-sample backtests, metrics, statistics, reports."""
