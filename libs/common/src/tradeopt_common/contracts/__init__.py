"""Contracts between services that are not HTTP calls: object layouts other services read."""
