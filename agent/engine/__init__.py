"""The agent: polls every source on its own interval and runs the pipeline of docs/architecture.md.

In three parts, by job: :mod:`~agent.engine.scheduler` (the clock, the commands, the fetch
threads and the worker pools; :class:`Agent` is its public face), :mod:`~agent.engine.pipeline`
(snapshot → queue → policy → status and alerts) and :mod:`~agent.engine.escalator` (the outbox,
follow-ups, blind-source alerts and the digest).

Subscribers (tray, headless log, ``check``) receive an immutable :class:`~agent.model.Status`
and tuples of :class:`~agent.model.Alert` on the scheduler thread; the tray re-emits them as Qt
signals. UI actions (check now, acknowledge, snooze, mute, pin, reconfigure) are commands on the
scheduler's queue.
"""

from agent.engine.scheduler import Agent, PollReport
from agent.engine.workers import SystemClock, make_source

__all__ = ["Agent", "PollReport", "SystemClock", "make_source"]
