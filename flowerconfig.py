"""Flower reads ./flowerconfig.py by default; this one is the package's settings-driven file. (The app
points ``celery -A graphwiz_monitoring flower`` at that file from any directory anyway: celery/flower.py.)"""

from graphwiz_monitoring.celery.flowerconfig import *  # noqa: F403
