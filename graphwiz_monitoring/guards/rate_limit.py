"""The cluster-wide rate limit of a notification channel: a token bucket in Redis (token_bucket.lua)
that hands out slots, and a hold after a 429's Retry-After (notify_hold.lua) that every worker honours.

A notification that cannot send now reserves its own future slot (kept in its delivery record), so a
backlog drains one send per slot instead of waking every waiting task for each new token.
"""

from __future__ import annotations

from graphwiz_monitoring.config import RateLimit
from graphwiz_monitoring.state import KeySpace, Store

# No slot is reserved further ahead than this: the bucket's debt (and what a 429 voids or an ended
# task wastes) stays within an hour of sending; beyond it a notification looks again once half the
# horizon has drained. Not tied to the retry countdown cap: a task woken before its slot (see
# workers/notify.py) just waits the rest, keeping its slot.
RESERVE_AHEAD_MAX_SECONDS = 3600.0
# token_bucket.lua verdicts that mean "this notification has its own slot": no herd to spread.
OWN_SLOT = frozenset({"reserved", "early"})


def take_token(store: Store, keys: KeySpace, channel: str, rate: RateLimit | None,
               record: str) -> tuple[str, float]:
    """(verdict, seconds to wait) of ``token_bucket.lua`` for the notification whose record is ``record``.

    Wait 0 ("go", "slot"): send now. Otherwise "held" (429 pause), "reserved"/"early" (its own slot
    is that far ahead, kept in ``record``), "full" (no slot within the horizon).
    """
    if rate is None:  # unlimited, but a 429's Retry-After still pauses the channel
        hold_ms = int(store.r.pttl(keys.channel_hold(channel)) or 0)
        return ("held", hold_ms / 1000.0) if hold_ms > 0 else ("go", 0.0)
    verdict, wait_ms = store.run_script(
        "token_bucket", [keys.channel_bucket(channel), keys.channel_hold(channel), record],
        [repr(rate.count / rate.per_seconds), rate.burst or rate.count, int(RESERVE_AHEAD_MAX_SECONDS * 1000)])
    return str(verdict), int(wait_ms) / 1000.0


def hold_channel(store: Store, keys: KeySpace, channel: str, seconds: float) -> None:
    """Pause ``channel`` for every worker (after a 429 with Retry-After); voids reserved slots."""
    store.run_script("notify_hold", [keys.channel_hold(channel), keys.channel_bucket(channel)],
                     [max(1, int(seconds * 1000))])
