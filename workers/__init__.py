"""Thin Celery tasks: resolve settings, call the library, map errors to retries or dead letters."""
