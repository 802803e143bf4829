"""tradeopt training service: runs (jobs on the ``training`` queue) and the model registry."""
