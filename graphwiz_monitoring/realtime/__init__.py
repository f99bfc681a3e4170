"""Live view: the WebSocket server fed by Redis pub/sub, its HTTP routes and the status page.

Run by: the realtime process (and ``run``), and a trader with ``monitoring.enable_realtime: true``
(trader/servers.py). May import: config, state, events, metrics, alerting,
health, http_access, errors.
"""

