"""Celery tasks for the metrics queue(s): thin wrappers around the library."""
