"""Celery tasks for the ingest queue(s): thin wrappers around the library."""
