"""Every way a helpdesk fails, through a real server on 127.0.0.1, the real connector and the
real Agent: the agent stays up, the failing source's health names the fault, the other source
goes on, the last known tickets stay (marked stale), the count never drops to a false 0, and
the source recovers by itself when the fault ends.
"""

from __future__ import annotations

import re
import socket
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agent.model import Health
from agent.sources.http import MAX_BYTES
from tests.fakes.faults import Certs, FaultProxy, make_certs
from tests.fakes.web import local_server
from tests.reliability.conftest import JSON_KEY, Desk, json_source, wait_until

FAULT_HOST = "helpdesk.invalid"  # RFC 2606: never resolves, anywhere


@dataclass(frozen=True)
class Fault:
    name: str
    message: str  # what the source's health must say (a regex)
    proxy: str = "pass"  # FaultProxy mode
    failure: str | int | None = None  # FakeHelpdesk.failure: the helpdesk answers wrongly
    headers: dict[str, str] = field(default_factory=dict)
    tls: str = ""  # "self_signed" or "expired": the certificate the server presents
    dns: bool = False
    loop: bool = False  # every page links to itself
    wait_at_least: float = 0.0  # seconds the agent must wait before asking again

    def __str__(self) -> str:
        return self.name


FAULTS = [
    Fault("timeout", r"too slow: no answer within 1 s", proxy="hang"),
    # (a pooled keep-alive connection is reset first: "cannot connect" is then as true)
    Fault(
        "connection refused",
        r"refused the connection|cannot connect to 127\.0\.0\.1",
        proxy="refuse",
    ),
    Fault("connection reset", r"cannot connect to 127\.0\.0\.1", proxy="reset"),
    Fault("DNS failure", rf"cannot find {re.escape(FAULT_HOST)}", dns=True),
    Fault("TLS self-signed", r"secure connection to 127\.0\.0\.1 failed", tls="self_signed"),
    Fault("TLS expired", r"secure connection to 127\.0\.0\.1 failed", tls="expired"),
    Fault("HTTP 401", r"did not accept the credentials", failure=401),
    Fault("HTTP 403", r"refused access.*lacks permission", failure=403),
    Fault("HTTP 404", r"has nothing at|has no repository", failure=404),
    # (HTTP 429 is not a failure but "slowed down by the helpdesk": test_deadlines.py)
    Fault("HTTP 500", r"problem of its own \(HTTP 500\)", failure=500),
    Fault("HTTP 502", r"problem of its own \(HTTP 502\)", failure=502),
    Fault("HTTP 503", r"problem of its own \(HTTP 503\)", failure=503),
    Fault("HTML login page", r"web page instead of data", failure="html_login"),
    Fault("redirect to login", r"sent us to its login page", failure="redirect_login"),
    Fault("JSON of the wrong shape", r"not a list", failure="bad_shape"),
    Fault("truncated body", r"was cut off", proxy="truncate"),
    Fault("1 GiB response", r"too large to be a ticket list", proxy="huge"),
    Fault("endless response", r"more than 20 MiB", failure="endless"),
    Fault("page linking to itself", r"page links point back", loop=True),
]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Any, Any]]:
    """Two loopback servers for the whole module (stopping one takes half a second)."""
    with local_server() as one, local_server() as two:
        yield one, two


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


class Stage:
    """A faulty desk (behind a FaultProxy) and a healthy one, watched by one agent."""

    def __init__(
        self, kind: str, fault: Fault, servers: Any, certs: Certs, clock: Any, monkeypatch: Any
    ) -> None:
        self.fault = fault
        self.certs = certs
        self.desk = Desk(kind, servers[0], clock.now())
        self.other = Desk("json", servers[1], clock.now())
        self.proxy = FaultProxy(servers[0].port)
        self.dns_up = True
        if fault.tls:
            self.proxy.use_tls(certs.context(certs.good))
            # A machine-wide CA bundle must not override the source's own (requests would).
            monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs.self_signed[0]))
        if fault.dns:
            real = socket.getaddrinfo

            def getaddrinfo(host: Any, *args: Any, **kw: Any) -> Any:
                if host == FAULT_HOST and self.dns_up:
                    host = "127.0.0.1"
                return real(host, *args, **kw)

            monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def config(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.fault.tls:
            extra["verify"] = str(self.certs.ca_file)
        host = FAULT_HOST if self.fault.dns else "127.0.0.1"
        return {
            "sources": [
                self.desk.source("Desk", self.proxy.url(host), **extra),
                json_source("Other", self.other.fake.url),
            ],
            "alerts": {"remind_every": "off"},
        }

    def break_(self) -> None:
        f = self.fault
        if f.proxy != "pass":
            self.proxy.set_mode(f.proxy)
        if f.failure is not None:
            self.desk.fake.failure = f.failure
            self.desk.fake.failure_headers = dict(f.headers)
        if f.tls:
            pair = self.certs.self_signed if f.tls == "self_signed" else self.certs.expired
            self.proxy.use_tls(self.certs.context(pair))
        if f.dns:
            self.dns_up = False
        if f.loop:
            self.desk.fake.loop_next = True

    def heal(self) -> None:
        self.proxy.set_mode("pass")
        self.desk.fake.failure = None
        self.desk.fake.loop_next = False
        self.dns_up = True
        if self.fault.tls:
            self.proxy.use_tls(self.certs.context(self.certs.good))


@pytest.fixture
def stage(
    request: pytest.FixtureRequest, servers: Any, certs: Certs, clock: Any, monkeypatch: Any
) -> Iterator[Stage]:
    kind, fault = request.param
    for server in servers:
        server.clear()
    s = Stage(kind, fault, servers, certs, clock, monkeypatch)
    yield s
    s.proxy.close()


CASES = [(kind, fault) for kind in ("json", "github") for fault in FAULTS]


@pytest.mark.parametrize(
    "stage", CASES, ids=[f"{k}-{f.name.replace(' ', '_')}" for k, f in CASES], indirect=True
)
def test_the_agent_survives_a_source_fault_and_recovers_by_itself(
    stage: Stage, start_agent: Any, record_property: Any, tmp_path: Path
) -> None:
    fault = stage.fault
    record_property("fault", f"{stage.desk.kind}: {fault.name}")
    stage.desk.add(1, "Printer on fire")
    stage.desk.add(2, "Invoice wrong")
    stage.other.add(11, "Other desk ticket")
    run = start_agent(stage.config(), {"Desk": stage.desk.secret, "Other": JSON_KEY})
    wait_until(
        lambda: run.agent.status.waiting == 3 and not run.agent.status.blind, what="first read"
    )

    # The fault starts; meanwhile the other desk gets a ticket.
    stage.break_()
    stage.other.add(12, "Arrived while Desk is down")
    requests_before = stage.desk.requests
    tracemalloc.start()
    try:
        run.advance(64)  # the interval, 1m ± 5 % jitter
        wait_until(lambda: run.health("Desk").health is Health.FAILING, what="Desk failing")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    wait_until(lambda: run.agent.status.by_source().get("Other") == 2, what="Other goes on")
    wait_until(lambda: run.kinds("source_down", "Desk"), what="the source_down alert")

    agent_thread = run.agent._thread
    assert agent_thread is not None and agent_thread.is_alive()
    desk = run.health("Desk")
    assert re.search(fault.message, desk.message), desk.message
    assert desk.stale and desk.failures == 1
    assert run.health("Other").health is Health.OK
    status = run.agent.status
    assert status.blind  # the badge knows it cannot see everything
    assert status.by_source() == {"Desk": 2, "Other": 2}  # last known, not a false 0
    assert desk.waiting == 2
    assert {w.ticket.id for w in status.tickets if w.stale} == {"1", "2"}
    assert not any(w.stale for w in status.tickets if w.ticket.source == "Other")
    assert len(run.kinds("source_down", "Desk")) == 1
    # An endless or huge body is cut off at the size limit, never held whole in memory.
    assert peak < 3 * MAX_BYTES

    # Retry-After is honoured: no request before it has passed.
    if fault.wait_at_least:
        assert (desk.next_poll - stage.desk.now).total_seconds() >= fault.wait_at_least  # type: ignore[operator]
        run.advance(fault.wait_at_least / 2)
        run.settle()  # a full scheduler pass after the clock moved
        assert stage.desk.requests == requests_before + (0 if fault.proxy != "pass" else 1)

    # It fails again at the next planned poll: still one "down" alert, still the last tickets.
    run.advance_to_next_poll("Desk")
    wait_until(lambda: run.health("Desk").failures == 2, what="second failure")
    assert len(run.kinds("source_down", "Desk")) == 1
    assert run.agent.status.by_source()["Desk"] == 2

    # The fault ends (and a ticket arrived meanwhile): the agent notices by itself.
    stage.heal()
    stage.desk.add(3, "Written while we could not look")
    run.advance_to_next_poll("Desk")
    wait_until(lambda: run.health("Desk").health is Health.OK, what="Desk recovered")
    wait_until(lambda: run.kinds("source_up", "Desk"), what="the source_up alert")
    status = run.agent.status
    assert not status.blind
    assert status.by_source() == {"Desk": 3, "Other": 2}
    assert not any(w.stale for w in status.tickets)
    assert len(run.kinds("source_up", "Desk")) == 1
    # the first sync's two tickets came in one summary, ticket 3 on its own; nothing was
    # announced again after the outage
    summaries = run.kinds("summary", "Desk")
    assert [sorted(w.ticket.id for w in a.tickets) for a in summaries] == [["1", "2"]]
    assert [a.ticket for a in run.kinds("new", "Desk")] == ["3"]

    # Never a false 0: a status that counts fewer of Desk's tickets than it had says it is blind
    # to Desk, and from the first complete read on every status counted them.
    first = next(i for i, s in enumerate(run.statuses) if s.by_source().get("Desk") == 2)
    for i, published in enumerate(run.statuses):
        desk_health = next(s for s in published.sources if s.name == "Desk")
        if published.by_source().get("Desk", 0) < 2:
            assert i < first and desk_health.stale and published.blind, published
