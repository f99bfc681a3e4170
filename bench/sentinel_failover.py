"""Redis failover with Sentinel at full load: the figures of docs/RELIABILITY.md ("Redis failover with Sentinel").

The scenario of tests/chaos/test_sentinel_failover.py (tests/chaos/sentinel_scenario.py) at the issue's
rate: a trader recording 2,000 trades/s and creating one alert a second, a worker, beat, the exporter and
the realtime server on a private primary + replica + three sentinels; the primary killed with -9; then
(``--rejoin``, the default) the old primary started again, which the sentinels turn into a replica of
the new master, so durable writes are confirmed again.

    PYTHONPATH=$PWD .venv/bin/python bench/sentinel_failover.py [--rate 2000] [--before 10] [--after 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.chaos import sentinel_scenario  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=2000, help="trades per second")
    parser.add_argument("--before", type=float, default=10, help="seconds of load before the kill")
    parser.add_argument("--after", type=float, default=20, help="seconds of load after ingest resumed")
    parser.add_argument("--no-rejoin", dest="rejoin", action="store_false", help="leave the old primary dead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gw-sentinel-bench-") as tmp:
        outcome = sentinel_scenario.run(Path(tmp), rate=args.rate, before_seconds=args.before,
                                        after_seconds=args.after, rejoin=args.rejoin)
    print("\n".join(outcome.lines()))
    exact = (outcome.trades_counted == outcome.trades_recorded and not outcome.alerts_missing
             and not outcome.alerts_duplicated and outcome.pids_after == outcome.pids_before)
    print(f"SENTINEL verdict: {'exact' if exact else 'NOT exact'}; ingest resumed within 15 s of the promotion: "
          f"{outcome.ingest_resumed_after < 15}; secrets seen: {outcome.secrets_seen or 'none'}")
    return 0 if exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
