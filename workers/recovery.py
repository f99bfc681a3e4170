"""Celery tasks for the recovery queue(s): thin wrappers around the library."""
