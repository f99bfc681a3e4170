"""Flower (Celery's web UI) configured from the settings: address, basic auth, task events.

``graphwiz-monitoring flower`` runs ``celery -A graphwiz_monitoring flower --conf=<flowerconfig.py>``;
that file asks ``flower_options()`` for its options, so the password travels from monitoring.yaml
(or ``${VAR}`` in it) into Flower without ever appearing on a command line or in ``ps``.
Task arguments are summarised at the source (``redaction.task_argsrepr``) so Flower never shows
raw batches.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from typing import Any

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.errors import ConfigError

FLOWER_CONFIG_FILE = Path(__file__).with_name("flowerconfig.py")
# Columns of Flower's task list; args are safe to show because they are summaries.
TASK_COLUMNS = "name,uuid,state,args,received,started,runtime,worker"
PURGE_OFFLINE_WORKERS_SECONDS = 3600


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def flower_options(settings: Settings) -> dict[str, Any]:
    """Flower's options (tornado option names); ConfigError if Flower would be exposed without auth."""
    flower = settings.flower
    password = flower.basic_auth_password.get_secret_value() if flower.basic_auth_password else ""
    if not password and not is_loopback(flower.host):
        raise ConfigError([f"flower.basic_auth_password: required when flower.host ({flower.host}) is not a "
                           "loopback address; set it (e.g. ${FLOWER_PASSWORD}) or bind flower to 127.0.0.1"])
    options: dict[str, Any] = {
        "address": flower.host,
        "port": flower.port,
        "enable_events": True,  # Flower re-enables worker events periodically so tasks always show
        "max_tasks": flower.max_tasks,
        "tasks_columns": TASK_COLUMNS,
        "purge_offline_workers": PURGE_OFFLINE_WORKERS_SECONDS,
    }
    if password:
        options["basic_auth"] = [f"{flower.basic_auth_user}:{password}"]
    return options


def flower_command(extra_args: tuple[str, ...] = ()) -> list[str]:
    """The argv that starts Flower with the settings-driven config file."""
    return [sys.executable, "-m", "celery", "-A", "graphwiz_monitoring", "flower",
            f"--conf={FLOWER_CONFIG_FILE}", *extra_args]
