"""A helpdesk that answers too slowly or asks for absurd waits: through real servers on 127.0.0.1,
the real connector, the real Agent (and the real ``ticketbell`` process for ``check`` and
SIGTERM).

- A server trickling its answer (a byte every 0.3 s, under the 1 s read timeout, so no read ever
  times out) holds a fetch only until its deadline (4 x ``timeout``): then the source fails
  "too slow", the other source goes on, ``check`` exits 3, SIGTERM stops the agent.
- ``Retry-After: inf`` / ``1e20`` / a reset in milliseconds / a reset in the year 2100 are clamped
  to an hour and never stop the scheduler; a rate limit is "slowed down by the helpdesk until
  …", not a failure: no ``source_down``, the tickets kept and not stale.

Figures for ``make reliability``: ``fetches_past_deadline`` (trickled fetches not cut at their
deadline) and ``scheduler_deaths`` (times the scheduler loop stopped on an error).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent import config as cfg
from agent.config import SourceConfig
from agent.model import Health
from agent.sources import source_class
from agent.sources.base import Source, SourceError, fetch_budget
from tests.conftest import ROOT, run_cli
from tests.fakes.web import local_server
from tests.reliability.conftest import JSON_KEY, Desk, json_source, wait_until

IMAP_PASSWORD = "reliability-imap-pw-5c1b0e77"  # a test secret: Source() registers it
TRICKLE_EVERY = 0.3  # seconds between two bytes: under the sources' 1 s read timeout


class TrickleServer:
    """An HTTP server on 127.0.0.1 that sends its answer one byte at a time, for ever.

    ``mode`` "body": the status line and headers at once, then a JSON body of a million bytes
    one byte per ``TRICKLE_EVERY``. "headers": even the headers come a byte at a time.
    "greeting": an IMAP server whose greeting (RFC 3501 section 7.1.1, an untagged OK sent as
    soon as the client connects) comes a byte at a time, before any request.
    ``cut`` counts connections the client closed while the server still had bytes to send.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.cut = 0
        self.stopped = threading.Event()
        self.socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/tickets"

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self.socks.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        size = 1_000_000
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
        ).encode()
        body = b'{"data": {"tickets": [' + b" " * (size - 24) + b"]}}"
        try:
            if self.mode == "greeting":
                rest = b"* OK [CAPABILITY IMAP4rev1 IDLE] trickling\r\n" * 1000
            elif self.mode == "body":
                conn.recv(65536)
                conn.sendall(head)
                rest = body
            else:
                conn.recv(65536)
                rest = head + body
            for i in range(len(rest)):
                if self.stopped.wait(TRICKLE_EVERY):
                    return
                conn.sendall(rest[i : i + 1])
        except OSError:
            self.cut += 1  # the client gave up on us while bytes remained
        finally:
            conn.close()

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()
        for sock in self.socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def trickle(request: pytest.FixtureRequest) -> Iterator[TrickleServer]:
    server = TrickleServer(getattr(request, "param", "body"))
    yield server
    server.close()


@pytest.fixture
def healthy() -> Iterator[Any]:
    with local_server() as server:
        yield server


def _config(trickle: TrickleServer, other_url: str) -> dict[str, Any]:
    return {
        "sources": [
            json_source("Slow", trickle.url),
            json_source("Other", other_url),
        ],
        "alerts": {"remind_every": "off"},
    }


@pytest.mark.parametrize("trickle", ["body", "headers"], indirect=True)
def test_a_helpdesk_trickling_its_answer_fails_too_slow_at_its_deadline(
    trickle: TrickleServer, healthy: Any, start_agent: Any, clock: Any, record_property: Any
) -> None:
    record_property("fault", f"helpdesk trickles its {trickle.mode} a byte at a time")
    other = Desk("json", healthy, clock.now())
    other.add(1, "Other desk ticket")
    run = start_agent(_config(trickle, other.fake.url), {"Slow": JSON_KEY, "Other": JSON_KEY})
    wait_until(lambda: run.agent.status.by_source().get("Other") == 1, what="Other is read")
    wait_until(lambda: trickle.connections >= 1, what="the slow fetch started")
    # (still in the headers, the scheduler abandons the fetch: deadline 4 s + grace 5 s)
    wait_until(
        lambda: run.health("Slow").health is Health.FAILING,
        timeout=20,
        what="Slow fails at its deadline",
    )
    slow = run.health("Slow")
    assert "too slow" in slow.message and "4 s" in slow.message, slow.message
    wait_until(lambda: bool(run.kinds("source_down", "Slow")), what="the source_down alert")
    # The other source is polled on as before, and the badge knows it cannot see everything.
    other.add(2, "Arrived meanwhile")
    run.advance(64)
    wait_until(lambda: run.agent.status.by_source().get("Other") == 2, what="Other goes on")
    assert run.agent.status.blind
    # The fetch's own deadline cut the connection, in the headers as in the body.
    wait_until(lambda: trickle.cut >= 1, what="the trickling connection closed by us")
    record_property("fetches_past_deadline", 0 if trickle.cut else 1)
    record_property("scheduler_deaths", run.agent.scheduler_deaths)
    assert run.agent.scheduler_deaths == 0


def _fetch_on_a_worker(source: Source) -> tuple[threading.Thread, list[BaseException]]:
    """Run ``source.fetch`` on a thread as the engine's worker does: within the fetch's budget,
    with a timer calling ``source.abort()`` at its deadline. The list receives its error."""
    failed: list[BaseException] = []

    def work() -> None:
        seconds = source.fetch_seconds()
        timer = threading.Timer(seconds, source.abort)
        timer.daemon = True
        with fetch_budget(seconds):
            timer.start()
            try:
                source.fetch(None)
            except SourceError as exc:
                failed.append(exc)
            finally:
                timer.cancel()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    return worker, failed


def _imap_source(trickle: TrickleServer) -> Source:
    config = SourceConfig(
        name="Slow inbox",
        kind="imap",
        url=f"imap://127.0.0.1:{trickle.port}",
        user="support@example.com",
        timeout=1,
        options={"sent_folder": ""},
    )
    return source_class("imap")(config, IMAP_PASSWORD)


def _json_source(trickle: TrickleServer) -> Source:
    config = cfg.from_dict({"sources": [json_source("Slow", trickle.url)]}).sources[0]
    return source_class("json")(config, JSON_KEY)


@pytest.mark.parametrize(
    ("trickle", "make"),
    [("headers", _json_source), ("body", _json_source), ("greeting", _imap_source)],
    ids=["http-headers", "http-body", "imap-greeting"],
    indirect=["trickle"],
)
def test_a_fetch_from_a_trickling_server_ends_soon_after_its_deadline(
    trickle: TrickleServer, make: Callable[[TrickleServer], Source], record_property: Any
) -> None:
    """Not only abandoned at the deadline: the worker thread itself is freed, whether the
    server trickles an HTTP answer's headers or body, or an IMAP server its greeting."""
    record_property("fault", f"the fetch's thread on a server trickling its {trickle.mode}")
    source = make(trickle)
    try:
        worker, failed = _fetch_on_a_worker(source)
        wait_until(lambda: trickle.connections >= 1, what="the fetch connected")
        # deadline 4 s (4 x the 1 s timeout); without the cut it would run for hours
        worker.join(source.fetch_seconds() + 6)
        assert not worker.is_alive(), "the fetch's thread still runs past its deadline"
        assert failed, "a fetch cut at its deadline fails; it never returns a snapshot"
        wait_until(lambda: trickle.cut >= 1, what="the trickling connection closed by us")
    finally:
        source.close()
    record_property("fetches_past_deadline", 0)


@pytest.mark.parametrize("trickle", ["greeting"], indirect=True)
def test_idle_set_up_gives_up_on_a_trickled_greeting_at_its_deadline(
    trickle: TrickleServer, record_property: Any
) -> None:
    """IDLE's own connection has a fetch's deadline from the first byte of the greeting."""
    record_property("fault", "IMAP IDLE set-up against a server trickling its greeting")
    source = _imap_source(trickle)
    answers: list[bool | None] = []
    try:
        worker = threading.Thread(
            target=lambda: answers.append(source.wait_for_change(600)), daemon=True
        )
        worker.start()
        worker.join(source.fetch_seconds() + 6)
        assert not worker.is_alive(), "IDLE's set-up still waits for the greeting"
        assert answers == [None]  # the engine polls on the interval instead
        wait_until(lambda: trickle.cut >= 1, what="the trickling connection closed by us")
    finally:
        source.close()


def _cli_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[[sources]]
name = "Slow"
kind = "json"
url = "{url}"
timeout = 1
secret_env = "TB_RELIABILITY_KEY"
auth_header = "X-Api-Key"
items = "data.tickets"
[sources.fields]
id = "ticket_id"
subject = "title"
created = "opened_at"
waiting_since = "last_customer_message_at"
""",
        encoding="utf-8",
    )
    return path


def test_check_exits_3_within_the_deadline_of_a_trickling_helpdesk(
    trickle: TrickleServer, tmp_path: Path, cli_env: dict[str, str], record_property: Any
) -> None:
    record_property("fault", "check against a helpdesk that trickles its answer")
    config = _cli_config(tmp_path, trickle.url)
    env = {**cli_env, "TB_RELIABILITY_KEY": JSON_KEY}
    args = ["check", "--json", "--config", str(config), "--data-dir", str(tmp_path / "d")]
    # A fetch never ending held `check` for ever; the run_cli timeout would fail the test.
    done = run_cli(args, env, timeout=60)
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    (source,) = report["sources"]
    assert source["health"] == "failing" and "too slow" in source["message"]
    record_property("fetches_past_deadline", 0)


@pytest.mark.parametrize("trickle", ["headers"], indirect=True)
def test_sigterm_stops_the_agent_while_a_fetch_hangs(
    trickle: TrickleServer, tmp_path: Path, cli_env: dict[str, str], record_property: Any
) -> None:
    record_property("fault", "SIGTERM while a fetch hangs on a trickling helpdesk")
    config = _cli_config(tmp_path, trickle.url)
    env = {**cli_env, "TB_RELIABILITY_KEY": JSON_KEY}
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "agent", "run", "--headless", "--no-notify"),
            *("--config", str(config), "--data-dir", str(tmp_path / "d")),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: trickle.connections >= 1, timeout=30, what="the fetch started")
        proc.send_signal(signal.SIGTERM)
        # Before, the worker stuck in the fetch kept the process alive for ever.
        _out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, err
    assert "stopping (SIGTERM)" in err and "Traceback" not in err


# --------------------------------------------------------------------------- absurd numbers

FAR = str(int(datetime(2100, 1, 1).timestamp()))
RATE_LIMITS = [
    ("429 Retry-After 600", 429, {"Retry-After": "600"}, 600),
    ("429 Retry-After inf", 429, {"Retry-After": "inf"}, 3600),
    ("429 Retry-After 1e20", 429, {"Retry-After": "1e20"}, 3600),
    ("429 Retry-After 1000000000", 429, {"Retry-After": "1000000000"}, 3600),
    ("429 reset in ms, 20 min ahead", 429, {"X-RateLimit-Reset": "ms+1200"}, 1200),
    ("429 no Retry-After", 429, {}, 60),
    ("200 with remaining 0 and a reset in 2100", 200, {"X-RateLimit-Reset": FAR}, 3600),
]


@pytest.mark.parametrize(
    ("name", "status", "headers", "wait"), RATE_LIMITS, ids=[r[0] for r in RATE_LIMITS]
)
def test_a_rate_limit_slows_a_source_down_never_silences_it_nor_stops_the_scheduler(
    name: str,
    status: int,
    headers: dict[str, str],
    wait: float,
    healthy: Any,
    start_agent: Any,
    clock: Any,
    record_property: Any,
) -> None:
    record_property("fault", f"rate limit: {name}")
    desk = Desk("json", healthy, clock.now())
    desk.add(1, "Printer on fire")
    run = start_agent(
        {"sources": [json_source("Desk", desk.fake.url)], "alerts": {"remind_every": "off"}},
        {"Desk": JSON_KEY},
    )
    wait_until(lambda: run.agent.status.waiting == 1, what="first read")
    headers = dict(headers)
    if headers.get("X-RateLimit-Reset", "").startswith("ms+"):
        ahead = float(headers["X-RateLimit-Reset"][3:])
        headers["X-RateLimit-Reset"] = str(int((time.time() + ahead) * 1000))
    if status == 200:  # a normal answer whose quota headers say: nothing left until 2100
        headers |= {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0"}
        desk.fake.reply_headers = headers  # type: ignore[attr-defined]
    else:
        desk.fake.failure = status
        desk.fake.failure_headers = headers
    requests = desk.requests
    run.advance(64)
    wait_until(lambda: desk.requests > requests, what="polled")
    wait_until(lambda: run.health("Desk").health is Health.SLOWED, what="slowed down")
    health = run.health("Desk")
    assert health.message.startswith("slowed down by the helpdesk until "), health.message
    left = (health.next_poll - clock.now()).total_seconds()  # type: ignore[operator]
    assert wait * 0.9 <= left <= wait * 1.1 + 5, left
    status_now = run.agent.status
    assert status_now.waiting == 1 and not status_now.blind  # kept, and not stale
    assert not any(w.stale for w in status_now.tickets)
    assert not run.kinds("source_down")
    # It is asked again once the wait is over (at most an hour), and reads again.
    desk.fake.failure = None
    if status == 200:
        desk.fake.reply_headers = {}  # type: ignore[attr-defined]
    requests = desk.requests
    run.advance_to_next_poll("Desk")
    wait_until(lambda: desk.requests > requests, what="polled again after the wait")
    wait_until(lambda: run.health("Desk").health is Health.OK, what="ok again")
    record_property("scheduler_deaths", run.agent.scheduler_deaths)
    assert run.agent.scheduler_deaths == 0
    assert run.agent._thread is not None and run.agent._thread.is_alive()


def test_a_source_slowed_down_longer_than_blind_after_is_failing(
    healthy: Any, start_agent: Any, clock: Any, record_property: Any
) -> None:
    record_property("fault", "rate limited for longer than blind_after")
    desk = Desk("json", healthy, clock.now())
    desk.add(1, "Printer on fire")
    run = start_agent(
        {
            "sources": [json_source("Desk", desk.fake.url)],
            "alerts": {"remind_every": "off"},
            "escalation": {"blind_after": "30m"},
        },
        {"Desk": JSON_KEY},
    )
    wait_until(lambda: run.agent.status.waiting == 1, what="first read")
    desk.fake.failure = 429
    desk.fake.failure_headers = {"Retry-After": "1200"}
    run.advance(64)
    wait_until(lambda: run.health("Desk").health is Health.SLOWED, what="slowed down")
    for _ in range(2):  # 21 min after the last read: still slowed; 41 min: past blind_after
        asked = desk.requests
        run.advance_to_next_poll("Desk")
        wait_until(lambda asked=asked: desk.requests > asked, what="asked again")
    wait_until(lambda: run.health("Desk").health is Health.FAILING, what="failing")
    assert run.agent.status.blind
    wait_until(lambda: bool(run.kinds("source_down", "Desk")), what="source_down")
    assert timedelta(0) < clock.now() - run.health("Desk").failing_since  # type: ignore[operator]
