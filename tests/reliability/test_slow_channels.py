"""Channels that answer slowly, through real servers on 127.0.0.1 (aiosmtpd, a local HTTP server)
and the real agent with a fake clock.

- A webhook answering after 5 s (apprise waits 4 s) was delivered, counted failed and re-sent at
  every retry: it is delivered once and counted delivered.
- An SMTP server that takes the message but answers after Ticketbell stopped waiting: the send
  is "in doubt", reported, and never sent again (hours of retries later: still one copy).
- Two channels that never answer do not stop the helpdesks from being polled.

Figure for ``make reliability``: ``sent_twice_slow_channel`` (copies beyond the first that a
slow channel received).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from werkzeug import Request, Response

from agent import escalation
from tests.fakes.web import local_server
from tests.test_escalation import Mailbox, Owner, make_config, ticket, wait_until


class SlowHook:
    """A webhook on 127.0.0.1 that takes each POST and answers ``delay`` seconds later."""

    def __init__(self, server: Any, delay: float) -> None:
        self.delay = delay
        self.received: list[Any] = []
        self.release = threading.Event()
        server.expect_request("/hook", method="POST").respond_with_handler(self.handle)
        self.url = f"json://127.0.0.1:{server.port}/hook"

    def handle(self, request: Request) -> Response:
        self.received.append(request.get_json())
        self.release.wait(self.delay)
        return Response("ok")


@pytest.fixture
def owner(tmp_path: Path, clock: Any) -> Iterator[Callable[..., Owner]]:
    made: list[Owner] = []

    def make(config: Any) -> Owner:
        made.append(Owner(tmp_path, clock, config))
        return made[-1]

    yield make
    for o in made:
        o.stop()


@pytest.fixture
def server() -> Iterator[Any]:
    with local_server() as s:
        yield s


class SlowMailbox(Mailbox):
    """aiosmtpd that keeps the message, then answers DATA only ``delay`` seconds later."""

    delay = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(self.delay)
        return reply


@pytest.fixture
def slow_mailbox() -> Iterator[SlowMailbox]:
    box = SlowMailbox()
    box.start()
    yield box
    box.stop()


def test_a_webhook_answering_after_5_s_gets_the_escalation_once(
    owner: Any, clock: Any, server: Any, record_property: Any
) -> None:
    record_property("fault", "webhook answers after 5 s")
    hook = SlowHook(server, delay=5.0)
    o = owner(make_config([{"after": "0m", "notify": [hook.url]}]))
    o.source.tickets = [ticket(clock.now() - timedelta(hours=2, minutes=1))]
    o.start()
    wait_until(lambda: len(hook.received) == 1, timeout=15)
    wait_until(lambda: any(e.delivered_at for e in o.outbox()), timeout=15)
    for _ in range(6):  # every retry there would have been (30 s … 30 min)
        o.advance(30 * 60)
    copies = len(hook.received)
    record_property("sent_twice_slow_channel", copies - 1)
    assert copies == 1
    (entry,) = o.outbox()
    assert entry.delivered_at and not entry.last_error


def test_an_smtp_answer_after_the_send_timeout_is_in_doubt_and_never_resent(
    owner: Any,
    clock: Any,
    slow_mailbox: SlowMailbox,
    monkeypatch: pytest.MonkeyPatch,
    record_property: Any,
) -> None:
    record_property("fault", "SMTP server answers after Ticketbell stopped waiting")
    monkeypatch.setattr(escalation, "SEND_TIMEOUT", 1.0)
    slow_mailbox.delay = 3.0
    o = owner(make_config([{"after": "0m", "notify": [slow_mailbox.url]}]))
    o.source.tickets = [ticket(clock.now() - timedelta(hours=2, minutes=1))]
    o.start()
    wait_until(lambda: len(slow_mailbox.messages) == 1, timeout=15)
    wait_until(lambda: any(e.failed_at for e in o.outbox()), timeout=15)
    for _ in range(6):
        o.advance(30 * 60)
    time.sleep(slow_mailbox.delay)  # a resend, had there been one, would have arrived by now
    copies = len(slow_mailbox.messages)
    record_property("sent_twice_slow_channel", copies - 1)
    assert copies == 1
    (entry,) = o.outbox()
    assert entry.in_doubt and entry.attempts == 1
    assert "not sent again" in entry.last_error
    notices = o.agent.status.notices
    assert any("may not have been delivered" in n for n in notices), notices


@pytest.fixture
def blackholed_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose connects hang: a listener that never accepts, its backlog full
    (the kernel then drops further SYNs, as a firewall that drops packets does)."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):  # fill the accept queue; later connects get no answer
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    time.sleep(0.2)
    yield port
    for s in fillers:
        s.close()
    listener.close()


def test_an_smtp_server_that_cannot_be_reached_is_retried_not_in_doubt(
    blackholed_port: int, monkeypatch: pytest.MonkeyPatch, record_property: Any
) -> None:
    """Nothing reached a mail server whose connects time out: that is a failure to retry, not
    a message that may have arrived (it was given up after one try as "in doubt")."""
    import socket

    record_property("fault", "SMTP server unreachable (connect times out)")
    monkeypatch.setattr(escalation, "SMTP_CONNECT_TIMEOUT", 1.0)
    probe = socket.socket()
    probe.settimeout(0.5)
    with pytest.raises(OSError):  # the port really blackholes connects on this machine
        probe.connect(("127.0.0.1", blackholed_port))
    probe.close()
    target = f"mailto://127.0.0.1:{blackholed_port}?to=owner@example.com&from=tb@example.com"
    began = time.monotonic()
    error = escalation.send(target, "Overdue: Desk #1", "body")
    assert error is not None and "not connected to the mail server" in error
    assert not escalation.in_doubt(error)  # retried with back-off like any failure
    assert time.monotonic() - began < 10  # the connect check's timeout, not apprise's 30 s


def test_channels_that_never_answer_do_not_stop_polling(
    owner: Any, clock: Any, monkeypatch: pytest.MonkeyPatch, record_property: Any
) -> None:
    record_property("fault", "two channels that never answer")
    with local_server() as one, local_server() as two:
        hooks = [SlowHook(one, delay=60.0), SlowHook(two, delay=60.0)]
        o = owner(make_config([{"after": "0m", "notify": [h.url for h in hooks]}]))
        calls: list[Any] = []
        fetch = o.source.fetch
        monkeypatch.setattr(o.source, "fetch", lambda since: calls.append(since) or fetch(since))
        o.source.tickets = [ticket(clock.now() - timedelta(hours=2, minutes=1))]
        o.start()
        try:
            wait_until(lambda: all(h.received for h in hooks), timeout=15)  # both hang now
            for n in range(2, 5):
                o.clock.advance(11 * 60)  # the source's 10 min interval
                o.agent.step()
                wait_until(lambda n=n: len(calls) >= n, timeout=10)
        finally:
            for h in hooks:
                h.release.set()
