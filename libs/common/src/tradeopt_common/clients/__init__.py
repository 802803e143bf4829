"""Clients of the services' HTTP APIs, for one service's jobs to call another's (services never
import each other; they talk over HTTP).
"""
