"""Flower configuration file (``celery flower --conf=<this file>``): every option comes from the settings.

Flower executes this file and reads its module-level names as options; ``graphwiz-monitoring flower``
passes it. Settings are found as usual (``$GRAPHWIZ_CONFIG``, then ./monitoring.yaml).
"""

from __future__ import annotations

from graphwiz_monitoring.celery.flower import flower_options, install_host_check
from graphwiz_monitoring.context import get_settings

globals().update(flower_options(get_settings()))
install_host_check(get_settings())  # 403 to a DNS-rebinding Host, as the exporter and realtime server do
