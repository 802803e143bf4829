"""The ``tradeopt`` command line."""
