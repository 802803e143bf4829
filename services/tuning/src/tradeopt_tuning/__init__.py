"""tradeopt tuning service: Optuna studies whose trials are ordinary training runs."""
