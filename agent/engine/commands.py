"""The scheduler's commands: what the UI asks of the agent and what its workers hand back, each
a small type (the scheduler dispatches on the type, never on a string tag)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from agent.config import Config
from agent.engine.pipeline import FetchResult
from agent.escalation import DeliveryResult
from agent.sources.base import Source


@dataclass(frozen=True)
class Stop:
    """Leave the loop (from :meth:`Agent.stop`)."""


@dataclass(frozen=True)
class CheckNow:
    source: str | None  # None: every source


@dataclass(frozen=True)
class Acknowledge:
    """ "I'm on it" (``release``: undo it)."""

    source: str
    ticket: str
    release: bool = False


@dataclass(frozen=True)
class Snooze:
    source: str
    ticket: str
    minutes: float


@dataclass(frozen=True)
class Reconfigure:
    config: Config


@dataclass(frozen=True)
class Mute:
    until: datetime | None  # None: unmute


@dataclass(frozen=True)
class Pin:
    key: str  # the ticket's key (``Ticket.key``)
    pinned: bool


@dataclass(frozen=True)
class Watched:
    """A source's ``wait_for_change()`` ended: True changed, False nothing, None stop waiting."""

    name: str
    source: Source
    changed: bool | None


@dataclass(frozen=True)
class Delivered:
    result: DeliveryResult


Command = (
    Stop
    | CheckNow
    | Acknowledge
    | Snooze
    | Reconfigure
    | Mute
    | Pin
    | FetchResult
    | Watched
    | Delivered
)
#: commands a worker puts: kept for the loop restarted after an exception
WORKER_RESULTS = (FetchResult, Watched, Delivered)
