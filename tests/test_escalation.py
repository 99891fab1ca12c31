"""Escalation to the owner: real SMTP (aiosmtpd) and a real webhook server on 127.0.0.1, real
threads, and a fake clock for time."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from pytest_httpserver import HTTPServer

from agent import config as cfg
from agent import digest, escalation
from agent import secrets as secret_store
from agent.engine import Agent
from agent.i18n import N_, Text
from agent.model import UTC, Alert, Health, Snapshot, Ticket
from agent.queue import LocalQueue
from agent.sources.base import AuthError, Source
from agent.storage import LedgerEntry
from tests import secretscan
from tests.fakes.web import local_server

# --------------------------------------------------------------------------- real servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """An SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it accepts; can be down."""

    def __init__(self) -> None:
        self.port = free_port()
        self.reply = "250 OK"
        self.messages: list[email.message.EmailMessage] = []
        self.controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply.startswith("250"):
            self.messages.append(
                email.message_from_bytes(envelope.content, policy=email.policy.default)  # type: ignore[arg-type]
            )
        return self.reply

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=ticketbell@example.com&to=owner@example.com"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]

    def body(self, index: int) -> str:
        part = self.messages[index].get_body(preferencelist=("plain",))
        assert part is not None
        return part.get_content()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def webhook() -> Iterator[HTTPServer]:
    with local_server() as server:
        server.expect_request("/hook", method="POST").respond_with_data("ok")
        yield server


def posts(server: HTTPServer) -> list[dict[str, Any]]:
    return [req.get_json() for req, _ in server.log if req.path == "/hook"]


# --------------------------------------------------------------------------- the agent


class ScriptedSource(Source):
    kind = "demo"
    needs_secret = False

    def __init__(self, config: cfg.SourceConfig, clock: Callable[[], datetime]) -> None:
        super().__init__(config, None, clock)
        self.tickets: list[Ticket] = []
        self.error: Exception | None = None

    def fetch(self, since: datetime | None) -> Snapshot:
        if self.error is not None:
            raise self.error
        return Snapshot(self.name, tuple(self.tickets), self.clock())


def ticket(since: datetime, i: int = 1, **kw: Any) -> Ticket:
    return Ticket(
        source="Desk",
        id=str(i),
        subject=f"Invoice {i} shows the wrong VAT number",
        created_at=since,
        waiting_since=since,
        category="Billing",
        url=f"https://desk.example.com/t/{i}",
        **kw,
    )


def make_config(levels: list[dict[str, Any]], role: str = "owner", **esc: Any) -> cfg.Config:
    return cfg.from_dict(
        {
            "role": role,
            "sources": [
                {
                    "name": "Desk",
                    "kind": "demo",
                    "url": "https://desk.example.com",
                    "interval": "10m",
                }
            ],
            "windows": {"default": "2h"},
            "alerts": {"remind_every": "off"},
            "escalation": {"levels": levels, **esc},
        }
    )


#: the agents under test: driven pass by pass (``Agent.step``) by the test thread, never started
_DRIVEN: list[Owner] = []


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Run scheduler passes of every agent under test until ``check`` holds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for o in _DRIVEN:
            o.agent.step(wait=0.002)
        if check():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")


class Owner:
    """An agent with a scripted source, a fake clock and real delivery."""

    def __init__(self, tmp_path: Path, clock: Any, config: cfg.Config) -> None:
        self.clock = clock
        self.config = config
        self.source = ScriptedSource(config.sources[0], clock.now)
        self.data = tmp_path / "data"
        self.alerts: list[Alert] = []
        self.agent = self._open()

    def _open(self) -> Agent:
        agent = Agent(
            self.config,
            LocalQueue(self.data),
            clock=self.clock,
            source_factory=lambda c, _clock: self.source,
        )
        agent.subscribe(on_alerts=self.alerts.extend)
        return agent

    def start(self) -> None:
        """The agent's first scheduler pass, run by the test thread (the agent is never started:
        each later pass runs in :meth:`settle` or :func:`wait_until`)."""
        if self not in _DRIVEN:
            _DRIVEN.append(self)
        self.agent.step()

    def stop(self) -> None:
        if self in _DRIVEN:
            _DRIVEN.remove(self)
        self.agent.stop()

    def restart(self) -> None:
        self.agent.stop()
        self.agent = self._open()
        self.start()

    def on_scheduler(self, fn: Callable[[Agent], Any]) -> Any:
        """``fn(agent)``: the test thread is the agent's scheduler thread."""
        return fn(self.agent)

    def idle(self) -> bool:
        """Nothing being fetched or sent and nothing due to be sent."""
        now = self.agent.clock.now()
        return not self.agent.fetching and all(
            not e.sending_since and e.next_attempt is not None and e.next_attempt > now
            for e in self.agent.queue.pending()
        )

    def settle(self) -> None:
        """Run passes at the current time until the fetches and sends they start have ended."""
        self.agent.step()
        wait_until(self.idle)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.settle()

    def outbox(self) -> list[dict[str, Any]]:
        return self.on_scheduler(lambda a: a.queue.outbox_entries())

    def escalated(self) -> list[Alert]:
        return [a for a in self.alerts if a.kind == "escalated"]


@pytest.fixture
def owner(tmp_path: Path, clock: Any) -> Iterator[Callable[[cfg.Config], Owner]]:
    made: list[Owner] = []

    def make(config: cfg.Config) -> Owner:
        o = Owner(tmp_path, clock, config)
        made.append(o)
        return o

    yield make
    for o in made:
        o.stop()


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("pigeon://coo", "not a channel URL apprise understands"),
        ("mailto://", "not a channel URL apprise understands"),
        ("json://127.0.0.1:notaport/hook", "not a channel URL apprise understands"),
        ("slack://T1JJ3T3L2/A1BRTD4JD/", "not a channel URL apprise understands"),
        ("keyring:", "name of a keyring entry"),
    ],
)
def test_a_channel_url_apprise_cannot_use_is_a_config_error_naming_the_key(
    target: str, words: str
) -> None:
    levels = [{"after": "0m", "notify": ["owner-desktop"]}, {"after": "1h", "notify": [target]}]
    with pytest.raises(cfg.ConfigError) as err:
        make_config(levels)
    assert err.value.key == "escalation.levels[1].notify[0]"
    assert words in err.value.message
    for secret in ("A1BRTD4JD", "notaport"):
        assert secret not in str(err.value)


def test_usable_targets_pass_validation() -> None:
    config = make_config(
        [{"after": "0m", "notify": ["owner-desktop", "mailto://owner@example.com"]}],
        digest_to=["ntfy://ticketbell-owner", "keyring:team-slack", "json://127.0.0.1:9/hook"],
    )
    assert config.escalation.digest_to[1] == "keyring:team-slack"


# --------------------------------------------------------------------------- delivery


def test_one_message_per_level_per_ticket_by_mail_and_webhook(owner, clock, mailbox, webhook):
    hook = f"json://127.0.0.1:{webhook.port}/hook"
    o = owner(
        make_config(
            [
                {"after": "0m", "notify": ["owner-desktop", mailbox.url]},
                {"after": "30m", "notify": [hook]},
            ]
        )
    )
    o.source.tickets = [ticket(clock.now() - timedelta(hours=2, minutes=1))]  # overdue 1 min
    o.start()
    wait_until(lambda: len(mailbox.messages) == 1)
    o.settle()
    subject = mailbox.subjects()[0]
    assert subject.startswith("Overdue 1 min: Desk #1")
    body = mailbox.body(0)
    assert "https://desk.example.com/t/1" in body
    assert "Escalation level 1 of 2." in body
    key = o.outbox()[0].key
    assert f"Ticketbell-Key: {escalation.key_tag(key)}" in body
    assert posts(webhook) == []
    o.advance(28 * 60)
    assert len(mailbox.messages) == 1 and posts(webhook) == []
    o.advance(3 * 60)  # 32 min overdue: level 2
    wait_until(lambda: len(posts(webhook)) == 1)
    assert posts(webhook)[0]["title"].startswith("Overdue 32 min: Desk #1")
    assert "Escalation level 2 of 2." in posts(webhook)[0]["message"]
    o.advance(5 * 3600)  # no repeat_every: nothing more, ever
    o.restart()
    o.advance(60)
    assert len(mailbox.messages) == 1 and len(posts(webhook)) == 1
    # the owner's own desktop was told each level once, too
    assert [a.level for a in o.escalated()] == [0, 1]


def test_repeat_every_resends_the_last_level(owner, clock, mailbox):
    o = owner(make_config([{"after": "0m", "notify": [mailbox.url]}], repeat_every="1h"))
    o.source.tickets = [ticket(clock.now() - timedelta(hours=2, minutes=1))]
    o.start()
    wait_until(lambda: len(mailbox.messages) == 1)
    o.advance(58 * 60)
    assert len(mailbox.messages) == 1
    o.advance(2 * 60)
    wait_until(lambda: len(mailbox.messages) == 2)
    assert "reminder 1." in mailbox.body(1)
    o.advance(3600)
    wait_until(lambda: len(mailbox.messages) == 3)
    assert "reminder 2." in mailbox.body(2)


def test_an_answered_ticket_stops_escalating_and_the_owner_hears_so(owner, clock, mailbox, webhook):
    hook = f"json://127.0.0.1:{webhook.port}/hook"
    o = owner(
        make_config(
            [{"after": "0m", "notify": [mailbox.url]}, {"after": "30m", "notify": [hook]}],
            repeat_every="1h",
        )
    )
    o.source.tickets = [ticket(clock.now() - timedelta(hours=2, minutes=5))]
    o.start()
    wait_until(lambda: len(mailbox.messages) == 1)
    o.advance(20 * 60)
    o.source.tickets = []  # the team replied; the next poll sees it
    o.agent.check_now()
    wait_until(lambda: len(mailbox.messages) == 2)
    assert mailbox.subjects()[1] == (
        "Answered after 2 h 25 min: Desk #1 — Invoice 1 shows the wrong VAT number"
    )
    o.advance(3 * 3600)
    assert len(mailbox.messages) == 2
    assert posts(webhook) == []  # level 2 was never reached, so no follow-up there either


def test_an_escalation_not_yet_delivered_when_answered_is_not_sent(owner, clock, mailbox):
    mailbox.stop()
    o = owner(make_config([{"after": "0m", "notify": [mailbox.url]}]))
    o.source.tickets = [ticket(clock.now() - timedelta(hours=3))]
    o.start()
    wait_until(lambda: any(e.last_error for e in o.outbox()))
    o.source.tickets = []
    o.agent.check_now()
    wait_until(lambda: o.agent.status.waiting == 0)
    mailbox.start()
    o.advance(3600)
    assert mailbox.messages == []
    assert o.outbox()[0].cancelled_at


def test_smtp_down_for_a_while_then_up_delivers_exactly_once(owner, clock, mailbox, caplog):
    caplog.set_level(logging.INFO)
    mailbox.stop()
    o = owner(make_config([{"after": "0m", "notify": [mailbox.url]}]))
    o.source.tickets = [ticket(clock.now() - timedelta(hours=3))]
    o.start()
    wait_until(lambda: any(e.attempts >= 1 and e.last_error for e in o.outbox()))
    o.settle()
    assert any(
        "cannot deliver escalations to mailto://127.0.0.1" in n for n in o.agent.status.notices
    )
    assert "could not deliver the escalation of Desk #1" in caplog.text
    o.advance(40)  # the first retry comes after 30 s +/- 20 %
    o.advance(80)
    attempts = o.outbox()[0].attempts
    assert attempts >= 2
    mailbox.start()
    o.advance(20 * 60)
    assert len(mailbox.messages) == 1
    entry = o.outbox()[0]
    assert entry.delivered_at and entry.attempts == attempts + 1
    assert not any("cannot deliver" in n for n in o.agent.status.notices)
    o.advance(3600)
    o.restart()
    o.advance(60)
    assert len(mailbox.messages) == 1


def test_retries_back_off_exponentially_with_jitter(owner, clock, mailbox):
    mailbox.stop()
    o = owner(make_config([{"after": "0m", "notify": [mailbox.url]}]))
    o.source.tickets = [ticket(clock.now() - timedelta(hours=3))]
    o.start()
    gaps = []
    for n in range(1, 5):
        wait_until(lambda n=n: any(e.attempts == n and not e.sending_since for e in o.outbox()))
        entry = o.outbox()[0]
        due = entry.next_attempt
        assert due is not None
        gaps.append((due - clock.now()).total_seconds())
        o.advance(gaps[-1] + 0.01)
    for got, want in zip(gaps, (30, 60, 120, 240), strict=True):
        assert want * 0.8 <= got <= want * 1.2


def test_a_rejected_mail_fails_with_the_servers_words_in_the_log(owner, clock, mailbox, caplog):
    caplog.set_level(logging.INFO)
    mailbox.reply = "550 5.7.1 Relaying denied by policy"
    o = owner(make_config([{"after": "0m", "notify": [mailbox.url]}]))
    o.source.tickets = [ticket(clock.now() - timedelta(hours=3))]
    o.start()
    wait_until(lambda: any(e.last_error for e in o.outbox()))
    assert "Relaying denied by policy" in o.outbox()[0].last_error
    assert "550" in caplog.text and "Relaying denied by policy" in caplog.text
    assert o.agent.status.sources[0].health is Health.OK  # the agent goes on


def test_a_message_older_than_give_up_after_is_reported_undeliverable(
    owner, clock, mailbox, caplog
):
    caplog.set_level(logging.INFO)
    mailbox.stop()
    o = owner(make_config([{"after": "0m", "notify": [mailbox.url]}], give_up_after="5m"))
    o.source.tickets = [ticket(clock.now() - timedelta(hours=3))]
    o.start()
    wait_until(lambda: any(e.last_error for e in o.outbox()))
    for _ in range(6):
        o.advance(60)
    entry = o.outbox()[0]
    assert entry.failed_at and not entry.delivered_at
    assert "gave up on the escalation of Desk #1 to mailto://127.0.0.1" in caplog.text
    notices = o.agent.status.notices
    assert any("escalation of Desk #1" in n and "undeliverable" in n for n in notices)
    mailbox.start()
    o.advance(3600)
    assert mailbox.messages == []


def test_an_attempt_cut_short_by_a_kill_is_not_sent_again(tmp_path, clock, mailbox, caplog):
    """Killed right after sending: the attempt was saved first, so a restart does not resend."""
    caplog.set_level(logging.INFO)
    queue = LocalQueue(tmp_path / "data")
    key = "Desk\x1f1\x1fcycle\x1fescalated\x1f0\x1f" + mailbox.url
    record = {"kind": "escalation", "target": mailbox.url, "source": "Desk", "ticket": "1"}
    queue.enqueue(key, {**record, "title": "Overdue", "body": "text"}, clock.now())
    queue.update_outbox(key, attempts=1, sending_since=clock.now())
    queue.close()
    o = Owner(tmp_path, clock, make_config([{"after": "0m", "notify": [mailbox.url]}]))
    try:
        o.start()
        o.advance(3600)
        assert mailbox.messages == []
        assert any("may not have been delivered" in n for n in o.agent.status.notices)
        assert "not sent again, so that it cannot arrive twice" in caplog.text
    finally:
        o.stop()


@pytest.mark.parametrize(
    ("role", "sent_by", "mails"),
    [("owner", "owner", 1), ("assistant", "owner", 0), ("assistant", "assistant", 1)],
)
def test_sent_by_decides_which_role_sends(owner, clock, mailbox, role, sent_by, mails):
    o = owner(make_config([{"after": "0m", "notify": [mailbox.url]}], role=role, sent_by=sent_by))
    o.source.tickets = [ticket(clock.now() - timedelta(hours=3))]
    o.start()
    wait_until(lambda: len(o.escalated()) == 1)
    o.settle()
    o.advance(3600)
    assert len(mailbox.messages) == mails
    assert len(o.outbox()) == mails


def test_a_blind_source_is_escalated_and_its_recovery_followed_up(owner, clock, mailbox):
    o = owner(make_config([{"after": "0m", "notify": ["owner-desktop", mailbox.url]}]))
    o.source.error = AuthError("authentication failed")
    o.start()
    wait_until(lambda: o.agent.status.sources[0].health is Health.FAILING)
    since = clock.now().astimezone().strftime("%H:%M")
    o.advance(29 * 60)
    assert mailbox.messages == []
    o.advance(2 * 60)
    wait_until(lambda: len(mailbox.messages) == 1)
    assert mailbox.subjects() == [
        f"Ticketbell cannot read Desk since {since}: authentication failed"
    ]
    assert [a.message for a in o.escalated()] == [mailbox.subjects()[0]]
    o.advance(3600)
    assert len(mailbox.messages) == 1  # once per outage
    o.source.error = None
    o.agent.check_now()
    wait_until(lambda: len(mailbox.messages) == 2)
    assert mailbox.subjects()[1].startswith("Ticketbell reads Desk again (it could not for 1 h 3")


def test_a_restart_during_an_outage_repeats_no_alert_and_keeps_its_follow_up(owner, clock, mailbox):
    """A source's failing was known in memory only: restarted during an outage, the agent
    sent the blind-source mail again, "since" the restart; restarted once the helpdesk was
    back, it never said so, and the owner believed it still unreadable."""
    o = owner(make_config([{"after": "0m", "notify": [mailbox.url]}]))
    o.source.error = AuthError("authentication failed")
    o.start()
    wait_until(lambda: o.agent.status.sources[0].health is Health.FAILING)
    started = clock.now()
    down = f"Ticketbell cannot read Desk since {started.astimezone():%H:%M}: authentication failed"
    o.advance(31 * 60)
    wait_until(lambda: len(mailbox.messages) == 1)
    clock.advance(20 * 60)
    o.restart()  # still failing
    wait_until(lambda: o.agent.status.sources[0].health is Health.FAILING)
    assert o.agent.status.sources[0].failing_since == started
    o.advance(31 * 60)
    o.advance(3600)
    assert mailbox.subjects() == [down]  # the same outage: no second mail
    assert [a.kind for a in o.alerts].count("source_down") == 1
    o.source.error = None
    clock.advance(600)
    o.restart()  # the helpdesk is back by the time Ticketbell starts again
    wait_until(lambda: len(mailbox.messages) == 2)
    assert mailbox.subjects()[1] == "Ticketbell reads Desk again (it could not for 2 h 32 min)"
    assert [a.kind for a in o.alerts].count("source_up") == 1
    o.restart()
    o.advance(3600)
    assert len(mailbox.messages) == 2  # followed up once


def test_a_blind_source_is_escalated_and_followed_up_in_the_owners_language(owner, clock, mailbox):
    config = make_config([{"after": "0m", "notify": [mailbox.url]}])
    o = owner(replace(config, language="de"))  # the owner reads German; the agent, English
    o.source.error = AuthError(
        Text(N_("{name} refused access; the token lacks permission"), name="Desk")
    )
    o.start()
    wait_until(lambda: o.agent.status.sources[0].health is Health.FAILING)
    since = clock.now().astimezone().strftime("%H:%M")
    o.advance(31 * 60)
    wait_until(lambda: len(mailbox.messages) == 1)
    assert mailbox.subjects() == [
        f"Ticketbell kann Desk seit {since} nicht lesen: "
        "Desk hat den Zugriff verweigert; dem Token fehlt die Berechtigung"
    ]
    assert [a.message for a in o.escalated()] == [  # the tray, in the agent's language
        f"Ticketbell cannot read Desk since {since}: "
        "Desk refused access; the token lacks permission"
    ]
    o.source.error = None
    o.agent.check_now()
    wait_until(lambda: len(mailbox.messages) == 2)
    assert mailbox.subjects()[1].startswith("Ticketbell liest Desk wieder (das ging 31 Min")


def test_acknowledge_stops_repeats_until_a_new_waiting_cycle(owner, clock, mailbox):
    o = owner(make_config([{"after": "0m", "notify": [mailbox.url]}], repeat_every="1h"))
    o.source.tickets = [ticket(clock.now() - timedelta(hours=2, minutes=1))]
    o.start()
    wait_until(lambda: len(mailbox.messages) == 1)
    o.agent.acknowledge("Desk", "1")
    o.advance(3 * 3600)
    assert len(mailbox.messages) == 1
    # the team replied and the customer wrote again: a new cycle, escalated afresh
    o.source.tickets = [ticket(clock.now() - timedelta(hours=2, minutes=1))]
    o.agent.check_now()
    wait_until(lambda: len(mailbox.messages) == 2)
    o.advance(3600)
    wait_until(lambda: len(mailbox.messages) == 3)  # not acknowledged: repeats again


def test_snooze_holds_escalation_and_a_new_waiting_cycle_ends_it(owner, clock, mailbox):
    o = owner(make_config([{"after": "0m", "notify": [mailbox.url]}]))
    o.source.tickets = [ticket(clock.now() - timedelta(hours=1, minutes=50))]  # due in 10 min
    o.start()
    wait_until(lambda: o.agent.status.waiting == 1)
    o.agent.snooze("Desk", "1", 30)
    wait_until(lambda: o.agent.status.tickets[0].snoozed_until is not None)
    o.advance(20 * 60)  # overdue for 10 min, but snoozed
    assert mailbox.messages == []
    o.advance(11 * 60)  # the snooze is over
    wait_until(lambda: len(mailbox.messages) == 1)

    o.agent.snooze("Desk", "1", 60)
    o.advance(60)
    o.source.tickets = [ticket(clock.now() - timedelta(hours=2, minutes=1))]  # wrote again
    o.agent.check_now()
    wait_until(lambda: len(mailbox.messages) == 2)  # long before the hour of snooze is up
    assert o.agent.status.tickets[0].snoozed_until is None


def test_snooze_refuses_a_negative_duration(owner):
    o = owner(make_config([{"after": "0m", "notify": ["owner-desktop"]}]))
    with pytest.raises(ValueError, match="≥ 0"):
        o.agent.snooze("Desk", "1", -5)


def test_a_keyring_target_is_delivered_and_its_token_never_logged(owner, clock, caplog, tmp_path):
    token = "wh-SECRET-8c1f0d9e3b7a"
    with local_server() as server:
        server.expect_request(f"/hooks/{token}", method="POST").respond_with_data("nope", 500)
        secret_store.set("team-hook", f"json://127.0.0.1:{server.port}/hooks/{token}")
        caplog.set_level(logging.DEBUG)
        caplog.handler.addFilter(secret_store.RedactingFilter())
        o = owner(make_config([{"after": "0m", "notify": ["keyring:team-hook"]}]))
        o.source.tickets = [ticket(clock.now() - timedelta(hours=3))]
        o.start()
        wait_until(lambda: any(e.last_error for e in o.outbox()))
        assert len(server.log) == 1
        error = o.outbox()[0].last_error
        assert "500" in error
        server.clear()
        server.expect_request(f"/hooks/{token}", method="POST").respond_with_data("ok")
        o.advance(60)
        wait_until(lambda: o.outbox()[0].delivered_at is not None)
        assert len(server.log) == 1
    o.settle()
    text = caplog.text + error + " ".join(o.agent.status.notices)
    assert token not in text
    assert "keyring:team-hook" in caplog.text
    secret_store.delete("team-hook")


# --------------------------------------------------------------------------- daily digest

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def entry(
    source: str, tid: str, cycle: datetime, kind: str, at: datetime, **kw: Any
) -> LedgerEntry:
    key = "\x1f".join((source, tid, cycle.isoformat(), kind))
    row = {"key": key, "kind": kind, "source": source, "ticket": tid, "at": at.isoformat(), **kw}
    return LedgerEntry.of(row)  # as the queue reads it from its stored row


def known_ledger() -> list[LedgerEntry]:
    h = timedelta(hours=1)
    m = timedelta(minutes=1)
    return [
        # answered in 40 min, within its window
        entry("Desk", "1", T0, "new", T0, subject="Refund", category="Billing"),
        entry("Desk", "1", T0, "answered", T0 + 40 * m, category="Billing", assignee="anna"),
        # overdue, escalated, answered after 3 h 10 min
        entry("Desk", "2", T0, "new", T0, subject="VAT number", category="Billing"),
        entry("Desk", "2", T0, "overdue", T0 + 2 * h, subject="VAT number"),
        entry("Desk", "2", T0, "escalated", T0 + 2 * h, level=0),
        entry("Desk", "2", T0, "answered", T0 + 3 * h + 10 * m, category="Billing", assignee="bo"),
        # Sales, answered in 5 min, nobody assigned
        entry("Desk", "3", T0 + h, "new", T0 + h, subject="Seats", category="Sales"),
        entry("Desk", "3", T0 + h, "answered", T0 + h + 5 * m, category="Sales"),
        # overdue and still waiting
        entry("Desk", "4", T0, "new", T0, subject="Crash", category="Technical"),
        entry("Desk", "4", T0, "overdue", T0 + 2 * h, subject="Crash"),
        # answered before the digest's period: not counted
        entry("Desk", "9", T0 - 30 * h, "answered", T0 - 29 * h, category="Billing"),
        # a blind source that recovered after 52 min, and one still blind
        entry("Zendesk", "*", T0 + h, "source_down", T0 + h, subject="authentication failed"),
        entry("Zendesk", "*", T0 + h, "source_up", T0 + h + 52 * m),
        entry("Mailbox", "*", T0 + 5 * h, "source_down", T0 + 5 * h, subject="IMAP timed out"),
    ]


def test_the_digest_in_the_owners_language() -> None:
    from agent import i18n

    now = T0 + timedelta(hours=24)
    with i18n.speaking("de"):
        title, body = digest.digest_text(known_ledger(), [], {}, T0, now, UTC)
    assert title == "Ticketbell-Tagesbericht: 3 beantwortet, 2 Fristverletzungen"
    lines = body.splitlines()
    assert lines[0] == "Seit Mo., 23. Nov. 08:00:"
    assert "Beantwortet: 3, davon 2 in der Frist" in lines
    assert "  Billing: 1 von 2 in der Frist" in lines
    assert (
        "  Desk #2 VAT number: überfällig seit Mo., 23. Nov. 10:00, beantwortet nach 3 Std. 10 Min."
        in lines
    )
    with i18n.speaking("pl"):
        title, _body = digest.digest_text(known_ledger(), [], {}, T0, now, UTC)
    assert title == "Dzienne podsumowanie Ticketbell: 3 z odpowiedzią, 2 przekroczenia terminu"


def test_digest_content_from_a_known_ledger() -> None:
    from agent.model import DueState, WaitingTicket

    now = T0 + timedelta(hours=24)
    crash = ticket(T0, 4)
    waiting = [WaitingTicket(crash, T0 + timedelta(hours=2), DueState.OVERDUE, T0)]
    failing = {"Mailbox": T0 + timedelta(hours=5)}
    title, body = digest.digest_text(known_ledger(), waiting, failing, T0, now, UTC)
    assert title == "Ticketbell daily digest: 3 answered, 2 breaches"
    lines = body.splitlines()
    assert lines[0] == "Since Mon 23 Nov 08:00:"
    assert "Answered: 3, 2 within their window" in lines
    assert "  Billing: 1 of 2 within window" in lines
    assert "  Sales: 1 of 1 within window" in lines
    assert lines[lines.index("By assignee:") + 1 :][:2] == [
        "  anna: 1 of 1 within window",
        "  bo: 0 of 1 within window",
    ]
    longest = lines[lines.index("Longest waits:") + 1 :][:3]
    assert longest == [
        "  1 d  Desk #4 Invoice 4 shows the wrong VAT number (still waiting)",
        "  3 h 10 min  Desk #2 VAT number (answered)",
        "  40 min  Desk #1 Refund (answered)",
    ]
    assert "Breaches: 2" in lines
    assert "  Desk #2 VAT number: overdue at Mon 23 Nov 10:00, answered after 3 h 10 min" in lines
    assert "  Desk #4 Crash: overdue at Mon 23 Nov 10:00, still waiting after 1 d" in lines
    assert "  Zendesk: unreadable from Mon 23 Nov 09:00 for 52 min (authentication failed)" in lines
    assert (
        "  Mailbox: unreadable from Mon 23 Nov 13:00 still, for 19 h 00 min so far "
        "(IMAP timed out)" in lines
    )
    assert "Desk #9" not in body


def test_the_digest_is_due_once_a_day_at_its_time() -> None:
    at = datetime(2026, 11, 23, 8, 0).time()
    early = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    day, following = digest.digest_due(early, at, UTC, "2026-11-22")
    assert day is None and following == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    late = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    day, following = digest.digest_due(late, at, UTC, "2026-11-22")
    assert day is not None and day.isoformat() == "2026-11-23"
    assert following == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert digest.digest_due(late, at, UTC, "2026-11-23")[0] is None


def test_the_agent_sends_the_digest_at_digest_at(owner, clock, mailbox, webhook):
    hook = f"json://127.0.0.1:{webhook.port}/hook"
    local_at = (clock.now() + timedelta(minutes=30)).astimezone()
    o = owner(
        make_config(
            [{"after": "0m", "notify": ["owner-desktop", hook]}],
            digest_at=local_at.strftime("%H:%M"),
            digest_to=[mailbox.url],
        )
    )
    o.source.tickets = [ticket(clock.now() - timedelta(minutes=30))]
    o.start()
    wait_until(lambda: o.agent.status.waiting == 1)
    o.advance(20 * 60)
    o.source.tickets = []
    o.agent.check_now()
    wait_until(lambda: o.agent.status.waiting == 0)
    o.advance(5 * 60)
    assert mailbox.messages == []
    o.advance(6 * 60)
    wait_until(lambda: len(mailbox.messages) == 1)
    assert mailbox.subjects() == ["Ticketbell daily digest: 1 answered, 0 breaches"]
    assert "  Billing: 1 of 1 within window" in mailbox.body(0).splitlines()
    o.advance(3600)
    assert len(mailbox.messages) == 1
    assert posts(webhook) == []  # digest_to, not the levels' targets


# --------------------------------------------------------------------------- headless, killed


def headless_config(tmp_path: Path, desk_url: str, mail: str, hook: str) -> Path:
    path = tmp_path / "ticketbell.toml"
    path.write_text(
        f"""
role = "assistant"

[[sources]]
name = "In-house desk"
kind = "json"
url = "{desk_url}"
secret_env = "DESK_KEY"
auth_header = "X-Api-Key"
items = "data.tickets"
next = "links.next"
interval = "1s"
fields = {{ id = "ticket_id", subject = "title", status = "state", created = "opened_at", \
waiting_since = "last_customer_message_at", url = "links.web" }}

[escalation]
levels = [ {{ after = "0m", notify = ["owner-desktop", "{mail}", "{hook}"] }} ]
""",
        encoding="utf-8",
    )
    return path


def outbox_on_disk(data: Path) -> list[dict[str, Any]]:
    import orjson

    try:
        doc = orjson.loads((data / "queue.json").read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return []
    return list(doc.get("outbox", {}).values())


def test_headless_owner_killed_with_a_pending_delivery_delivers_it_once_after_restart(
    tmp_path: Path, cli_env: dict[str, str], webhook: HTTPServer
) -> None:
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT
    from tests.fakes.jsonapi import FakeJsonHelpdesk

    mailbox = Mailbox()  # not started yet: the mail server is down
    hook = f"json://127.0.0.1:{webhook.port}/hook"
    with local_server() as server:
        desk = FakeJsonHelpdesk(server, "desk-key-123456")
        opened = datetime.now(UTC) - timedelta(hours=3)
        desk.add(7, "Order never arrived", opened=opened, customer_wrote=opened)
        config = headless_config(tmp_path, desk.url, mailbox.url, hook)
        data = tmp_path / "data"
        env = {**cli_env, "DESK_KEY": secretscan.register_secret("desk-key-123456")}

        def start() -> subprocess.Popen[str]:
            args = ["run", "--headless", "--role", "owner", "--no-notify"]
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "agent",
                    *args,
                    "--config",
                    str(config),
                    "--data-dir",
                    str(data),
                ],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )

        def mail_entry() -> dict[str, Any]:
            return next((e for e in outbox_on_disk(data) if e["target"] == mailbox.url), {})

        proc = start()
        try:
            wait_until(lambda: mail_entry().get("last_error", "") != "", timeout=30)
            wait_until(lambda: len(posts(webhook)) == 1, timeout=30)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            assert proc.stderr is not None
            proc.stderr.close()  # killed: nobody reads what it wrote
            assert mail_entry()["delivered_at"] is None and mail_entry()["attempts"] == 1

            mailbox.start()
            proc = start()
            wait_until(lambda: len(mailbox.messages) == 1, timeout=30)
            wait_until(lambda: mail_entry().get("delivered_at") is not None, timeout=30)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=20)
            assert proc.returncode == 0, err
            assert "sent the escalation of In-house desk #7 to mailto://127.0.0.1" in err

            # A third run polls and evaluates again; it sends nothing more.
            polled = len(desk.requests)
            proc = start()
            wait_until(lambda: len(desk.requests) >= polled + 2, timeout=30)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=20)
            assert proc.returncode == 0, err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
            mailbox.stop()
    assert len(mailbox.messages) == 1
    assert mailbox.subjects()[0].startswith("Overdue 1 h 0")
    assert len(posts(webhook)) == 1
    assert posts(webhook)[0]["title"] == mailbox.subjects()[0]
    assert "desk-key-123456" not in err


def test_the_systemd_unit_runs_the_headless_owner() -> None:
    import configparser
    import shlex

    from agent.cli import build_parser
    from tests.conftest import ROOT

    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.read(ROOT / "packaging" / "linux" / "ticketbell-owner.service", encoding="utf-8")
    argv = shlex.split(unit["Service"]["ExecStart"])
    assert Path(argv[0]).name == "ticketbell"
    args = build_parser().parse_args(argv[1:])
    assert (args.command, args.headless, args.role) == ("run", True, "owner")
    assert unit["Install"]["WantedBy"] == "default.target"
    assert unit["Service"]["Restart"] == "on-failure"


@pytest.mark.parametrize(
    "url",
    [
        "mailtos://owner:Hunter2Secret@example.com",
        "ntfy://owner:Hunter2Secret@ntfy.example.com/topic",
        "slack://T1JJ3T3L2/A1BRTD4JD/Hunter2SecretHunter2Secret",
    ],
)
def test_a_channel_url_with_its_token_in_the_config_is_refused(
    tmp_path: Path, cli_env: dict[str, str], url: str
):
    from tests.conftest import run_cli

    path = tmp_path / "ticketbell.toml"
    path.write_text(
        '[[sources]]\nname = "Demo"\nkind = "demo"\n\n[escalation]\n'
        f'levels = [ {{ after = "0m", notify = ["owner-desktop", "{url}"] }} ]\n',
        encoding="utf-8",
    )
    for command in (["config", "validate"], ["config", "show"], ["run", "--headless"]):
        result = run_cli([*command, "--config", str(path)], cli_env)
        assert result.returncode == 2
        assert "escalation.levels[0].notify[1]:" in result.stderr
        assert 'write "keyring:NAME" here' in result.stderr
        assert "Hunter2Secret" not in result.stdout + result.stderr


def test_a_blind_source_notification_says_what_cannot_be_read() -> None:
    from agent.model import notification_text

    message = "Ticketbell cannot read Zendesk since 10:42: authentication failed"
    alert = Alert("escalated", T0, "k", source="Zendesk", subject=message, message=message)
    assert notification_text([alert]) == (
        message,
        "Its waiting tickets are unknown until it reads again",
    )


# --------------------------------------------------------------------------- hygiene (issue 14)


def test_a_send_puts_the_apprise_loggers_level_back(webhook) -> None:
    """A send lowers apprise's log level to capture the server's words; the application's own
    level for apprise must be what it was once the send is over."""
    logger = logging.getLogger("apprise")
    before = logger.level
    logger.setLevel(logging.WARNING)
    try:
        assert escalation.send(f"json://127.0.0.1:{webhook.port}/hook", "Title", "Body") is None
        assert logger.level == logging.WARNING
        assert len(posts(webhook)) == 1
    finally:
        logger.setLevel(before)


def test_building_follow_ups_changes_nothing_and_names_the_unsent(tmp_path, clock) -> None:
    queue = LocalQueue(tmp_path / "q")
    sent = "Desk\x1f1\x1fcycle\x1fescalated\x1f0\x1fmailto://a"
    waiting = "Desk\x1f1\x1fcycle\x1fescalated\x1f1\x1fmailto://b"
    other = "Desk\x1f2\x1fcycle\x1fescalated\x1f0\x1fmailto://a"
    for key, target in ((sent, "mailto://a"), (waiting, "mailto://b"), (other, "mailto://a")):
        record = {"kind": "escalation", "target": target, "source": "Desk", "ticket": "1"}
        queue.enqueue(key, {**record, "title": "Overdue", "body": "text"}, clock.now())
    queue.update_outbox(sent, delivered_at=clock.now())
    before = queue.outbox_entries()
    entries = escalation.sent_escalations(queue, "Desk", "1", "cycle")
    messages = escalation.follow_up_messages(entries, "Desk", "1", "cycle", "Answered after 5 min")
    assert queue.outbox_entries() == before  # building is pure
    assert [m["target"] for _, m in messages] == ["mailto://a"]  # only who was sent one
    assert escalation.unsent(entries) == [waiting]  # what the escalator cancels
    queue.close()


def test_a_channel_failing_for_a_day_is_still_retried_every_half_hour() -> None:
    """~50 attempts in a day: 30 s * 2**43 does not fit a timedelta (it raised OverflowError)."""
    import random

    for attempts in (7, 50, 10_000):
        delay = escalation.retry_delay(attempts, random.Random(attempts))
        assert timedelta(minutes=24) <= delay <= timedelta(minutes=36)
    assert escalation.retry_delay(1, random.Random(0)) <= timedelta(seconds=36)


def test_the_keyring_names_a_saved_escalation_table_no_longer_uses() -> None:
    opened = {
        "levels": [
            {"after": "0m", "notify": ["owner-desktop", "keyring:escalation-mailto-level1"]},
            {"after": "1h", "notify": ["keyring: escalation-slack-level2", "keyring:Desk"]},
        ],
        "digest_to": ["keyring:team", "keyring:shared", "ntfy://digest"],
    }
    assert escalation.keyring_names(opened) == {
        "escalation-mailto-level1",
        "escalation-slack-level2",
        "Desk",
        "team",
        "shared",
    }
    saved = {
        "sources": [{"name": "Desk", "kind": "demo"}],
        "escalation": {
            "levels": [{"after": "0m", "notify": ["keyring:SHARED"]}],
            "digest_to": ["ntfy://digest"],
        },
    }
    # Desk's token and the team's password are the keyring's for other things: never deleted
    assert escalation.unused_keyring_names(opened, saved) == {
        "escalation-mailto-level1",
        "escalation-slack-level2",
    }
    assert escalation.unused_keyring_names(opened, {"sources": []}) == {
        "escalation-mailto-level1",
        "escalation-slack-level2",
        "Desk",
        "shared",
    }
    assert escalation.keyring_names({"levels": ["bad", {"notify": "keyring:x"}]}) == set()


def test_an_overdue_tickets_due_time_of_another_day_says_its_day() -> None:
    """The escalation said "(due 10:14)" of a ticket due the Monday before, read as today's."""
    from agent.model import DueState, WaitingTicket
    from agent.storage import alert_key

    now = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # a Wednesday
    config = make_config([{"after": "0m", "notify": ["json://127.0.0.1/hook"]}])
    hours = cfg.from_dict({"business_hours": {"timezone": "UTC", "days": "Mon-Sun"}})
    config = replace(config, business_hours=hours.business_hours)  # times shown in UTC

    def body(due_at: datetime) -> str:
        t = Ticket("Desk", "7", "Refund", due_at - timedelta(hours=2), due_at - timedelta(hours=2))
        w = WaitingTicket(t, due_at, DueState.OVERDUE, t.created_at)
        key = alert_key("Desk", "7", t.cycle, "escalated")
        alert = Alert("escalated", now, key, "Desk", "7", "Refund", tickets=(w,))
        ((_key, record),) = escalation.escalation_messages(alert, config, now)
        return str(record["body"])

    assert "since Mon 08:14 (due Mon 10:14)." in body(datetime(2026, 11, 23, 10, 14, tzinfo=UTC))
    assert "since Wed 12:00 (due 14:00)." in body(datetime(2026, 11, 25, 14, 0, tzinfo=UTC))


def test_a_chat_channel_gets_an_escalation_as_a_warning_and_its_end_as_a_success(
    owner, clock, webhook
):
    """Every message went as apprise's "info": a chat channel showed an overdue ticket in the
    same colour as the daily digest."""
    hook = f"json://127.0.0.1:{webhook.port}/hook"
    o = owner(make_config([{"after": "0m", "notify": [hook]}]))
    o.source.tickets = [ticket(clock.now() - timedelta(hours=3))]
    o.start()
    wait_until(lambda: len(posts(webhook)) == 1)
    o.source.tickets = []  # answered
    o.agent.check_now()
    wait_until(lambda: len(posts(webhook)) == 2)
    assert [p["type"] for p in posts(webhook)] == ["warning", "success"]
    assert posts(webhook)[1]["title"].startswith("Answered after 3 h")
