"""The scheduler's worker threads: one daemon thread per fetch, with its deadline, and small
pools of daemon threads for channel sends and for waiting on a helpdesk (IMAP IDLE)."""

from __future__ import annotations

import concurrent.futures
import queue as queue_module
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from agent import secrets as secret_store
from agent.config import SourceConfig
from agent.engine.pipeline import SourceState
from agent.model import utcnow
from agent.sources import source_class
from agent.sources.base import (
    FETCH_DEADLINE_FACTOR,
    NotConfigured,
    Source,
    SourceError,
    TooSlow,
    fetch_budget,
)
from agent.sources.errors import too_slow


class Workers:
    """At most ``size`` daemon threads running submitted callables (sends, IMAP IDLE waits).

    ``concurrent.futures.ThreadPoolExecutor`` joins its threads when the process exits, so a
    send stuck on a server that never answers kept the agent alive after SIGTERM; these do not.
    """

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._jobs: queue_module.Queue[Any] = queue_module.Queue()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        if self._closed:
            raise RuntimeError("the agent is stopping")
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._jobs.put((future, fn))
        if len(self._threads) < self._size:
            thread = threading.Thread(
                target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        return future

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn = job
            if future.set_running_or_notify_cancel():
                _run_into(future, fn)

    def shutdown(self) -> None:
        """Cancel what has not started; running jobs finish (or are left behind) on their own."""
        self._closed = True
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue_module.Empty:
                break
            if job is not None:
                job[0].cancel()
        for _ in self._threads:
            self._jobs.put(None)


def _run_into(future: concurrent.futures.Future[Any], fn: Callable[[], Any]) -> None:
    try:
        future.set_result(fn())
    except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on it
        future.set_exception(exc)


def in_thread(fn: Callable[[], Any], name: str) -> concurrent.futures.Future[Any]:
    """Run ``fn`` on a daemon thread of its own (one fetch: never queued behind anything)."""
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def run() -> None:
        if future.set_running_or_notify_cancel():
            _run_into(future, fn)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


class SystemClock:
    def now(self) -> datetime:
        return utcnow()

    def monotonic(self) -> float:
        return time.monotonic()


def make_source(config: SourceConfig, clock: Callable[[], datetime]) -> Source:
    """Build a source of the configured kind, with its secret from the keyring or environment."""
    cls = source_class(config.kind)
    secret = None
    if cls.needs_secret:
        try:
            secret = secret_store.get(config.name, config.secret_env)
        except secret_store.SecretUnavailable as exc:
            from agent.auth.providers import uses_oauth
            from agent.auth.tokens import sign_in_needed

            if uses_oauth(config):  # its secret is the refresh token of a sign-in
                raise sign_in_needed(config) from None
            raise NotConfigured(exc.text) from None
    return cls(config, secret, clock)


SourceFactory = Callable[[SourceConfig, Callable[[], datetime]], Source]


def fetch_seconds(state: SourceState) -> float:
    return float(state.config.timeout) * FETCH_DEADLINE_FACTOR


def fetch_with_deadline(source: Source, name: str, since: datetime | None) -> Any:
    """``source.fetch(since)`` that ends by the source's deadline (TooSlow past it).

    At the deadline a timer breaks the fetch's connections (a server trickling its answer a
    byte at a time never trips a read timeout); the reads also stop by themselves between two
    socket reads once the budget's deadline has passed.
    """
    seconds = source.fetch_seconds()
    timer = threading.Timer(seconds, source.abort)
    timer.daemon = True
    with fetch_budget(seconds) as budget:
        timer.start()
        try:
            return source.fetch(since)
        except SourceError as exc:
            if budget.time_left() > 0 or isinstance(exc, TooSlow):
                raise
            detail = f"{type(exc).__name__} at the deadline: {exc.english}"
            raise too_slow(name, seconds, detail) from None
        finally:
            timer.cancel()
