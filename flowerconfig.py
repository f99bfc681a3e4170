"""Flower reads ./flowerconfig.py by default: so the plain ``celery -A graphwiz_monitoring flower``, run
from this directory, gets the same settings-driven address and basic auth as ``graphwiz-monitoring flower``."""

from graphwiz_monitoring.celery.flowerconfig import *  # noqa: F403
