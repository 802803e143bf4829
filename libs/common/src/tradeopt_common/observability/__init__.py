"""Prometheus metrics, declared in one module."""
