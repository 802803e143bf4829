"""The fault soak (issue 17): a stream of dataset, training and evaluation jobs through the
gateway of a throwaway fleet while workers are killed, Redis and PostgreSQL restart and bad
requests arrive in bursts. ``python -m scripts.soak`` (``make soak``); ``tests/soak`` runs a
2-minute version in ``make test``.
"""
