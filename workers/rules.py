"""Celery tasks for the rules queue(s): thin wrappers around the library."""
