"""tradeopt strategy service: strategies, signals, paper trading, risk, parity."""
