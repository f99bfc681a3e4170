"""Celery tasks for the notify queue(s): thin wrappers around the library."""
