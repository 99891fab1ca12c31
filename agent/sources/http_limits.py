"""What a helpdesk's rate-limit headers say: Retry-After, the window's reset, the quota left.

Pure functions over header values (``now`` passed in where a date is compared). Every wait a
server names is clamped to between 0 and an hour (:func:`clamp_wait`), so a number from a server
never overflows a timedelta or silences a source until restart.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from agent.sources.errors import clamp_wait as clamp_wait  # offered here as before

SECONDARY_LIMIT_WAIT = 60.0  # GitHub: "wait at least one minute before retrying"

REMAINING_HEADERS = (
    "x-ratelimit-remaining",
    "x-rate-limit-remaining",
    "ratelimit-remaining",
    "x-ratelimit-remaining-minute",  # Help Scout
)
LIMIT_HEADERS = (
    "x-ratelimit-limit",
    "x-rate-limit",
    "ratelimit-limit",
    "x-ratelimit-total",
    "x-ratelimit-limit-minute",  # Help Scout
)
RESET_HEADERS = (
    "ratelimit-reset",
    "x-ratelimit-reset",
    "x-rate-limit-reset",
    "x-ratelimit-retry-after",  # Help Scout: seconds until the minute window reopens
)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse a Retry-After header: delta seconds or an HTTP date. None when absent or garbage.

    At most MAX_SERVER_WAIT: no number from a server may silence a source for longer.
    """
    if not value:
        return None
    value = value.strip()
    try:
        return clamp_wait(float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return clamp_wait(when.timestamp() - now)


def first_header(headers: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    """The value of the first of ``names`` present in ``headers``."""
    for name in names:
        value = headers.get(name)
        if value is not None:
            return value
    return None


def reset_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds until a rate-limit window resets, from the reset headers helpdesks send.

    Values larger than a day are epoch timestamps (GitHub, Freshdesk), in milliseconds when
    larger than 10^11 (a date past the year 5000 in seconds); smaller are deltas. The answer is
    at most MAX_SERVER_WAIT.
    """
    raw = first_header(headers, RESET_HEADERS)
    if raw is None:
        return None
    try:
        value = float(raw.split(";")[0].strip())
    except ValueError:
        return None
    if math.isnan(value):
        return None
    if 86400 < value < math.inf:
        if value > 1e11:
            value /= 1000  # epoch milliseconds
        now = time.time() if now is None else now
        return clamp_wait(value - now)
    return clamp_wait(value)


def _whole_number(raw: str | None) -> int | None:
    try:
        return int(float(raw)) if raw is not None else None
    except (ValueError, OverflowError):
        return None


def throttle_hint(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """A delay to wait before the next poll when the remaining quota is nearly gone.

    When fewer than 10% (or 5) requests remain, wait for the window to reset (or a minute
    when the helpdesk does not say when it resets).
    """
    remaining = _whole_number(first_header(headers, REMAINING_HEADERS))
    if remaining is None:
        return None
    limit = _whole_number(first_header(headers, LIMIT_HEADERS))
    if remaining > max(5, (limit or 0) // 10):
        return None
    reset = reset_seconds(headers, now)
    return reset if reset is not None else 60.0


def rate_limit_wait(status: int, headers: Mapping[str, str], body: bytes) -> float | None:
    """The wait a 403, 429 or 503 rate-limit answer asks for (None: it does not say).

    GitHub's secondary rate limit (a 403 or 429 whose body says so): its docs say wait for
    Retry-After when given, else until x-ratelimit-reset when no requests remain, else at least
    one minute.
    """
    retry = retry_after_seconds(headers.get("Retry-After"))
    if retry is not None:
        return retry
    secondary = b"secondary rate limit" in body.lower()
    remaining = first_header(headers, REMAINING_HEADERS)
    if status == 403 and secondary:
        reset = reset_seconds(headers) if remaining == "0" else None
        return max(SECONDARY_LIMIT_WAIT, reset or 0.0)
    wait = reset_seconds(headers)
    if secondary and "Retry-After" not in headers:
        wait = max(SECONDARY_LIMIT_WAIT, wait or 0.0)
    return wait


def is_rate_limit(status: int, headers: Mapping[str, str], body: bytes) -> bool:
    """Whether an error status is a rate limit rather than a refusal or an outage."""
    if status == 403:
        return (
            b"secondary rate limit" in body.lower()
            or retry_after_seconds(headers.get("Retry-After")) is not None
            or first_header(headers, REMAINING_HEADERS) == "0"
        )
    return status == 429 or (status == 503 and "Retry-After" in headers)
