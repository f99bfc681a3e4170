"""Flower configuration file (``celery flower --conf=<this file>``): every option comes from the settings.

Flower executes this file and reads its module-level names as options; ``graphwiz-monitoring flower``
passes it. Settings are found as usual (``$GRAPHWIZ_CONFIG``, then ./monitoring.yaml).
"""

from __future__ import annotations

import sys

from graphwiz_monitoring.celery.flower import flower_options, install_host_check
from graphwiz_monitoring.context import get_settings
from graphwiz_monitoring.errors import ConfigError

try:
    globals().update(flower_options(get_settings()))
except ConfigError as exc:  # e.g. exposed without a password: one message and exit 1, no traceback
    sys.exit(str(exc))
install_host_check(get_settings())  # 403 to a DNS-rebinding Host, as the exporter and realtime server do
