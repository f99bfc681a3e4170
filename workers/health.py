"""Celery tasks for the health queue(s): thin wrappers around the library."""
