"""Embedded PostgreSQL and Redis for development and tests.

Nothing here imports Django: settings import `paths` to find the sockets, and the
launcher runs before Django is configured.
"""
