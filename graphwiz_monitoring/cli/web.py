"""The exporter and the realtime server in one process (`python -m graphwiz_monitoring.cli.web`), for `run`.

Both only wait on sockets and Redis, so one process serves them: /metrics from the exporter's thread,
the WebSocket stream and status page from the asyncio loop. `run` saves a Python interpreter this way
(issue 16: the single-machine default fits a small VPS); multi-host deployments start
`graphwiz-monitoring exporter` and `graphwiz-monitoring realtime` on their own. ``--exporter`` and
``--realtime`` say which of the two to serve.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from graphwiz_monitoring import context
from graphwiz_monitoring.errors import GraphwizError


def serve(exporter: bool, realtime: bool) -> int:
    from graphwiz_monitoring.exporter.server import ExporterServer
    from graphwiz_monitoring.realtime.server import RealtimeServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = context.get_settings()
    store, keys = context.get_store(settings), context.get_keys(settings)
    metrics = ExporterServer(settings).start() if exporter else None
    if metrics is not None:
        logging.getLogger(__name__).info("exporter: %s/metrics (healthz: %s/healthz)", metrics.url, metrics.url)
    try:
        # Without the realtime server, the loop only waits for SIGTERM/SIGINT (run() installs the handlers).
        asyncio.run(RealtimeServer(settings, store, keys).run() if realtime else _until_signalled())
    finally:
        if metrics is not None:
            metrics.stop()
    return 0


async def _until_signalled() -> None:
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graphwiz_monitoring.cli.web", description=__doc__.splitlines()[0])
    parser.add_argument("--exporter", action="store_true", help="serve /metrics (monitoring.prometheus_host/port)")
    parser.add_argument("--realtime", action="store_true", help="serve the live stream (websocket.host/port)")
    args = parser.parse_args(argv)
    try:
        return serve(args.exporter, args.realtime)
    except (GraphwizError, OSError) as exc:
        print(f"web: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
