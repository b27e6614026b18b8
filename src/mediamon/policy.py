"""Pure scheduling decisions: when a feed should be polled next.

No clock, no I/O: ``now`` and the feed's state are arguments, so every rule is a unit test.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

MAX_BACKOFF = 86_400.0  # a failing feed is still tried at least once a day
MAX_RETRY_AFTER = 86_400.0


def next_poll(
    now: datetime,
    *,
    interval: float,
    failures: int = 0,
    retry_after: float | None = None,
    gone: bool = False,
    jitter: float = 0.0,
    rng: random.Random | None = None,
) -> datetime | None:
    """When to poll a feed again after a pass.

    Args:
        interval: the feed's normal interval in seconds.
        failures: consecutive failures *including* this pass (0 after a success).
        retry_after: the server's Retry-After in seconds, if it sent one.
        gone: the server said 410 Gone; the feed is not polled again (None).
        jitter: up to this many seconds are added at random so feeds do not synchronise.

    Returns:
        The next poll time, or None for "never".
    """
    if gone:
        return None
    delay = interval
    if failures > 0:
        # Exponential backoff per consecutive failure, capped (interval x 2^failures).
        delay = min(MAX_BACKOFF, interval * 2 ** min(failures, 20))
        delay = max(delay, interval)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    if jitter > 0:
        delay += (rng or random).uniform(0, jitter)
    return now + timedelta(seconds=delay)
