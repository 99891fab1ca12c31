"""What a fetch may raise and what it may spend: the only errors a source raises, and the
deadline and byte budget of the fetch under way (the engine sets it, HTTP and IMAP read it).

:mod:`agent.sources.base` offers all of these to the connectors; they live here so that the
HTTP layer, which raises them, does not import the Source class that uses it.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from agent.i18n import N_, Text, english


class SourceError(Exception):
    """A fetch failed. ``str()`` and :attr:`message` are for a person, in the language in use
    where they are read; :attr:`english` is for the log and JSON output; ``detail`` goes to the
    log only.

    None may contain a secret: messages are built from status codes, hosts and the helpdesk's
    own error text, never from request headers or URLs with credentials. A message is an
    :class:`~agent.i18n.Text` (translated when shown) or a plain ``str`` (shown as it is).
    """

    label = "failed"
    #: the helpdesk's own error text, when it gave one (a connector may word the message anew)
    said: str = ""

    def __init__(self, message: str | Text, detail: str = "") -> None:
        super().__init__(english(message))
        self.text = message
        self.detail = detail

    @property
    def message(self) -> str:
        """The message in the language in use (:func:`agent.i18n.current`)."""
        return str(self.text)

    @property
    def english(self) -> str:
        """The message in English: what the log and the JSON output say."""
        return english(self.text)

    def __str__(self) -> str:
        return self.message


class AuthError(SourceError):
    label = "authentication failed"


class Forbidden(AuthError):
    label = "forbidden"


class RateLimited(SourceError):
    """The helpdesk asks us to wait ``retry_after`` seconds (None: it did not say how long).

    The wait is clamped by :func:`clamp_wait` (``inf``, ``1e20``: an hour; NaN: unknown), so no
    number from a server can overflow the scheduler or silence a source until restart.
    """

    label = "rate limited"

    def __init__(
        self, message: str | Text, retry_after: float | None = None, detail: str = ""
    ) -> None:
        super().__init__(message, detail)
        self.retry_after = None if retry_after is None else clamp_wait(float(retry_after))


class Unavailable(SourceError):
    label = "unavailable"


class Unreachable(Unavailable):
    label = "unreachable"


class TLSFailure(Unavailable):
    label = "TLS failure"


class TooSlow(Unavailable):
    """The fetch did not finish within its deadline (a server that trickles its answer)."""

    label = "too slow"


def too_slow(name: str, seconds: float, detail: str) -> TooSlow:
    """The fetch of source ``name`` passed its deadline of ``seconds``."""
    text = N_("{name} is too slow: the poll did not finish within {seconds} s")
    return TooSlow(Text(text, name=name, seconds=f"{seconds:g}"), detail)


class BadResponse(SourceError):
    label = "bad response"


class NotFound(BadResponse):
    label = "not found"


class NotConfigured(SourceError):
    """The source cannot run as configured (missing secret, no keyring): needs a person."""

    label = "not configured"


class SignInNeeded(NotConfigured):
    """An OAuth source has no usable sign-in (none yet, or the provider refused the refresh
    token): a person must sign in again; polling until then only repeats the refusal."""

    label = "sign-in needed"


#: A whole fetch (every page, every request) may take this many times the source's
#: ``timeout``; after that it is abandoned and the source fails "too slow". ``timeout`` alone
#: limits each socket read, so a server sending a byte every few seconds held a fetch forever.
FETCH_DEADLINE_FACTOR = 4
#: The longest wait a helpdesk may ask for (Retry-After, a rate-limit reset), in seconds: no
#: number from a server may silence a source for longer, nor overflow a date.
MAX_SERVER_WAIT = 3600.0
#: Bytes one fetch may read in all responses together (one response has its own, lower cap).
MAX_FETCH_BYTES = 100 * 1024 * 1024


def clamp_wait(seconds: float | None) -> float | None:
    """A server's wait in seconds, kept between 0 and :data:`MAX_SERVER_WAIT`; None for garbage
    (NaN).

    ``inf`` and ``1e20`` become an hour: a number from a server never overflows a timedelta or
    silences a source until restart.
    """
    if seconds is None or math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_SERVER_WAIT)


@dataclass
class FetchBudget:
    """What the fetch under way on this thread may still spend: time and bytes."""

    deadline: float  # time.monotonic() by which the fetch must end
    seconds: float  # the whole budget, for messages
    bytes_left: int

    def time_left(self) -> float:
        return self.deadline - time.monotonic()


_budget = threading.local()


@contextlib.contextmanager
def fetch_budget(seconds: float, max_bytes: int = MAX_FETCH_BYTES) -> Iterator[FetchBudget]:
    """Give the fetch run inside this block (on this thread) a deadline and a byte budget.

    The engine wraps every ``Source.fetch()`` in one; HTTP and IMAP read it through
    :func:`current_budget`. Outside of one (a connector's unit test) nothing is limited.
    """
    budget = FetchBudget(time.monotonic() + seconds, seconds, max_bytes)
    previous = getattr(_budget, "value", None)
    _budget.value = budget
    try:
        yield budget
    finally:
        _budget.value = previous


def current_budget() -> FetchBudget | None:
    """The budget of the fetch under way on this thread (None: not limited)."""
    return getattr(_budget, "value", None)
