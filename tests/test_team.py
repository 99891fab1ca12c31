"""The team hub over a real Mosquitto (tests/broker.py): what a member reads, what it refuses,
when the hub counts as away, claims, the ACL, TLS and a standby hub taking over."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent import config as cfg
from agent import team
from agent.commands.check import check_table
from agent.config import SourceConfig, Team
from agent.model import Alert, Snapshot, Ticket
from agent.queue import LocalQueue
from agent.sources import team_messages
from agent.sources.base import BadResponse, Unavailable, Unreachable
from agent.sources.team import TeamSource
from agent.team import TeamLink
from agent.team_agent import TeamAgent, claim_once, open_team_agent, watched
from agent.team_hub import Hub
from tests.broker import PAHO_LEAVES_FAILED_TLS_SOCKET, PASSWORDS, TEAM, Broker, running_broker
from tests.fakes.jsonapi import FIELDS, FakeJsonHelpdesk
from tests.fakes.web import local_server

UTC = timezone.utc
NOW = datetime.now(UTC).replace(microsecond=0)
TICKETS_TOPIC = f"ticketbell/{TEAM}/sources/Zendesk/tickets"


def wait_until(check: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"not reached in {timeout:g} s: {what or check}")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with running_broker(tmp_path / "mosquitto") as b:
        yield b


def settings(b: Broker, user: str, tls: bool = True, **extra: Any) -> Team:
    url = b.tls_url if tls else b.url
    ca = str(b.ca_file) if tls else ""
    return Team(url, TEAM, user, ca=ca, heartbeat=timedelta(seconds=1), **extra)


@pytest.fixture
def opened() -> Iterator[list[Any]]:
    """Links, hubs and raw clients a test opens: closed when it ends."""
    things: list[Any] = []
    yield things
    for thing in reversed(things):
        if isinstance(thing, mqtt.Client):
            thing.disconnect()
            thing.loop_stop()
        elif isinstance(thing, TeamAgent):
            thing.stop()
        else:
            thing.close()
    team.use_link(None)


def ticket(number: int, category: str, subject: str = "") -> Ticket:
    at = NOW - timedelta(minutes=5)
    return Ticket("Zendesk", str(number), subject or f"ticket {number}", at, at, category=category)


def start_hub(b: Broker, opened: list[Any], user: str = "hub") -> Hub:
    hub = Hub(settings(b, user, hub=True), PASSWORDS[user], lambda c, k: TeamSource(c))
    opened.append(hub)
    return hub


def member(b: Broker, opened: list[Any], user: str, cats: tuple[str, ...] = ()) -> TeamLink:
    link = TeamLink(settings(b, user), PASSWORDS[user], {"Zendesk": cats})
    opened.append(link)
    assert link.wait_synced(10), link.problem
    return link


def raw_client(b: Broker, opened: list[Any], user: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, PASSWORDS[user])
    client.connect("127.0.0.1", b.port)
    client.loop_start()
    opened.append(client)
    return client


def watch(b: Broker, opened: list[Any], user: str, topic: str) -> list[tuple[str, bytes]]:
    """Every message on ``topic`` as the broker passes it on, from the moment this returns."""
    seen: list[tuple[str, bytes]] = []
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, PASSWORDS[user])
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda _c, _u, m: seen.append((m.topic, m.payload))
    client.connect("127.0.0.1", b.port)
    client.loop_start()
    opened.append(client)
    assert subscribed.wait(10), f"{user} could not subscribe to {topic}"
    return seen


def tickets_message(seq: int, tickets: list[Ticket], team_name: str = TEAM) -> bytes:
    body = {
        "hub": "hub",
        "seq": seq,
        "at": NOW.isoformat(),
        "complete": True,
        "tickets": [team_messages.ticket_json(t) for t in tickets],
    }
    return team_messages.encode(team_name, body)


def test_a_member_reads_the_hubs_tickets_in_its_own_categories(
    broker: Broker, opened: list[Any]
) -> None:
    hub = start_hub(broker, opened)
    wait_until(lambda: hub.active, what="the hub holds the hub topic")
    snapshot = Snapshot("Zendesk", (ticket(1, "Billing"), ticket(2, "Sales")), NOW, complete=False)
    hub.publish_snapshot("Zendesk", snapshot)
    link = member(broker, opened, "anna", ("Billing",))  # connects later: retained
    team.use_link(link)
    wait_until(lambda: "Zendesk" in link.tickets)
    source = TeamSource(SourceConfig("Zendesk", "team", categories=("Billing",)))
    got = source.fetch(None)
    assert [t.id for t in got.tickets] == ["1"]
    assert got.complete is False  # the hub's snapshot was incomplete: so is the member's
    assert got.tickets[0].created_at == snapshot.tickets[0].created_at


def test_malformed_oversized_and_foreign_messages_are_refused_naming_the_topic(
    broker: Broker, opened: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = start_hub(broker, opened)
    wait_until(lambda: hub.active)
    hub.publish_snapshot("Zendesk", Snapshot("Zendesk", (ticket(1, "Billing"),), NOW))
    link = member(broker, opened, "anna")
    wait_until(lambda: "Zendesk" in link.tickets)
    forger = raw_client(broker, opened, "hub")  # a hub login sending what a bug might
    monkeypatch.setattr(team_messages, "MAX_MESSAGE", 4000)
    big = tickets_message(2**62, [ticket(n, "Billing", "x" * 100) for n in range(40)])
    bad = {
        b"{not json": "malformed: not JSON",
        tickets_message(2**62, [ticket(9, "Billing")], team_name="other"): "foreign",
        big: "oversized",
        orjson.dumps({"v": 1, "team": TEAM, "seq": 2**62, "tickets": "all"}): "malformed",
    }
    for payload, why in bad.items():
        before = link.version
        forger.publish(TICKETS_TOPIC, payload, qos=1, retain=True).wait_for_publish(5)
        wait_until(lambda before=before: link.version != before)
        with pytest.raises(BadResponse) as refused:
            link.read("Zendesk")
        assert f"refused a message on {TICKETS_TOPIC}: {why}" in str(refused.value)
    hub.publish_snapshot("Zendesk", Snapshot("Zendesk", (ticket(3, "Sales"),), NOW))
    wait_until(lambda: "Zendesk" not in link.refused)
    assert [t.id for t in link.read("Zendesk").tickets] == ["3"]  # readable again


def test_a_ticket_published_again_shows_what_changed_in_it() -> None:
    """Items equal to the last publication's are not parsed again: the others still are, and
    a malformed item is refused whatever came before."""
    first = team_messages.parse_tickets(TEAM, "Zendesk", tickets_message(1, [ticket(1, "A")]))
    item = orjson.loads(tickets_message(2, [ticket(1, "A", "new subject")]))["tickets"][0]
    body = orjson.loads(tickets_message(2, [ticket(1, "A"), ticket(2, "B")]))
    body["tickets"] += [dict(reversed(item.items()))]  # another key order: parsed as usual
    again = team_messages.parse_tickets(TEAM, "Zendesk", orjson.dumps(body), first)
    assert [(t.id, t.subject) for t in again.tickets] == [
        ("1", "ticket 1"),
        ("2", "ticket 2"),
        ("1", "new subject"),
    ]
    assert again.tickets[0] == first.tickets[0]
    changed = tickets_message(3, [ticket(1, "A", "renamed"), ticket(2, "B")])
    got = team_messages.parse_tickets(TEAM, "Zendesk", changed, again)
    assert [t.subject for t in got.tickets] == ["renamed", "ticket 2"]
    body = orjson.loads(tickets_message(4, [ticket(2, "B")]))
    body["tickets"][0]["waiting_since"] = "yesterday"
    with pytest.raises(team_messages.Refused, match="malformed"):
        team_messages.parse_tickets(TEAM, "Zendesk", orjson.dumps(body), got)


def test_an_out_of_order_publication_is_ignored(broker: Broker, opened: list[Any]) -> None:
    hub = start_hub(broker, opened)
    wait_until(lambda: hub.active)
    hub.publish_snapshot("Zendesk", Snapshot("Zendesk", (ticket(5, "Billing"),), NOW))
    link = member(broker, opened, "anna")
    wait_until(lambda: "Zendesk" in link.tickets)
    forger = raw_client(broker, opened, "hub")
    forger.publish(TICKETS_TOPIC, tickets_message(1, []), qos=1).wait_for_publish(5)
    forger.publish(TICKETS_TOPIC, tickets_message(1, []), qos=1).wait_for_publish(5)
    time.sleep(0.3)  # nothing to wait for: the older message must change nothing
    assert [t.id for t in link.read("Zendesk").tickets] == ["5"]


def test_a_member_cannot_write_tickets_or_another_persons_claim(
    broker: Broker, opened: list[Any]
) -> None:
    hub = start_hub(broker, opened)
    wait_until(lambda: hub.active)
    hub.publish_snapshot("Zendesk", Snapshot("Zendesk", (ticket(1, "Billing"),), NOW))
    ben = member(broker, opened, "ben")
    wait_until(lambda: "Zendesk" in ben.tickets)
    anna = raw_client(broker, opened, "anna")
    forged = tickets_message(2**62, [ticket(666, "Billing", "forged")])
    info = anna.publish(TICKETS_TOPIC, forged, qos=1, retain=True)
    info.wait_for_publish(5)
    claim = team_messages.encode(TEAM, {"by": "ben", "at": NOW.isoformat()})
    anna.publish(f"ticketbell/{TEAM}/claims/Zendesk/1/ben", claim, 1, True).wait_for_publish(5)
    time.sleep(0.5)  # the broker drops both (the ACL): nothing arrives to wait for
    assert [t.id for t in ben.read("Zendesk").tickets] == ["1"]
    assert ben.claims == {}


def test_claims_show_at_the_others_and_end_when_answered_or_expired(
    broker: Broker, opened: list[Any]
) -> None:
    hub = start_hub(broker, opened)
    wait_until(lambda: hub.active)
    anna = member(broker, opened, "anna")
    ben = member(broker, opened, "ben")
    anna.claim("Zendesk", "7").wait_for_publish(5)
    wait_until(lambda: ("Zendesk", "7") in ben.claims_now(NOW + timedelta(seconds=5)))
    seen = ben.claims_now(NOW + timedelta(seconds=5))[("Zendesk", "7")]
    assert seen.user == "anna"
    assert anna.claims_now(NOW + timedelta(seconds=5)) == {}  # one's own claim is not news
    answered = Alert("answered", NOW, "k", source="Zendesk", ticket="7")
    wait_until(lambda: ("Zendesk", "7") in hub.claims)
    hub.on_alerts((answered,))
    wait_until(lambda: ben.claims_now(NOW) == {}, what="the hub ended the claim")
    ben.claim("Zendesk", "8").wait_for_publish(5)
    wait_until(lambda: ("Zendesk", "8") in anna.claims)
    wait_until(lambda: hub.claims.get(("Zendesk", "8")))
    hub.clock = lambda: datetime.now(UTC) + timedelta(hours=3)  # past claim_expiry (2h)
    hub._beat_once()
    wait_until(lambda: ("Zendesk", "8") not in anna.claims, what="the expired claim ended")


def test_the_hub_going_away_makes_its_sources_unreadable(broker: Broker, opened: list[Any]) -> None:
    hub = start_hub(broker, opened)
    wait_until(lambda: hub.active)
    hub.publish_snapshot("Zendesk", Snapshot("Zendesk", (ticket(1, "Billing"),), NOW))
    link = member(broker, opened, "anna")
    wait_until(lambda: "Zendesk" in link.tickets)
    assert link.read("Zendesk").tickets
    # silent: no heartbeat (the connection stays up, so no last will either)
    hub.stopped.set()
    started = time.monotonic()
    assert link.wait_for_quiet(30) is True  # wakes the engine: hub quiet
    assert time.monotonic() - started <= 3 * 1.0 + 1.5
    with pytest.raises(Unavailable, match="the team hub is offline since"):
        link.read("Zendesk")


def test_a_hub_that_stops_says_so_at_once(broker: Broker, opened: list[Any]) -> None:
    hub = start_hub(broker, opened)
    wait_until(lambda: hub.active)
    hub.publish_snapshot("Zendesk", Snapshot("Zendesk", (), NOW))
    link = member(broker, opened, "anna")
    wait_until(lambda: link.beat is not None and link.beat.online)
    opened.remove(hub)
    hub.close()
    wait_until(lambda: link.offline_since is not None, what="the hub's offline heartbeat")
    with pytest.raises(Unavailable, match="the team hub is offline since"):
        link.read("Zendesk")


def test_a_hub_hearing_its_own_goodbye_does_not_name_itself_as_another_hub(
    broker: Broker, opened: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """close() publishes the hub's "offline" and the broker hands it back: the owner's log said
    "hub@host#pid is the team's hub now; standing by", of the hub that was stopping."""
    caplog.set_level(logging.INFO, logger="agent.team_hub")
    hub = start_hub(broker, opened)
    wait_until(lambda: hub.active)
    goodbye = raw_client(broker, opened, "hub")
    goodbye.publish(hub.topic, hub._beat(online=False), qos=1).wait_for_publish(5)
    stopping = "this Ticketbell is no longer the team's hub (stopping)"
    # the MQTT thread logs it just after ``active`` turns False: wait for the line itself
    wait_until(lambda: stopping in caplog.text, what="the hub heard its own offline heartbeat")
    assert not hub.active
    assert "standing by" not in caplog.text


def read_ids(link: TeamLink) -> list[str] | None:
    """The ids the member reads, or None while it sees no hub: between the old hub's silence
    and the new hub's first heartbeat at the member (a loaded machine widens that moment, and
    a read raising there ended the wait instead of waiting on)."""
    try:
        return [t.id for t in link.read("Zendesk").tickets]
    except Unavailable:
        return None


def test_a_standby_hub_takes_over_when_the_hub_goes_silent(
    broker: Broker, opened: list[Any]
) -> None:
    first = start_hub(broker, opened, "hub")
    wait_until(lambda: first.active)
    second = start_hub(broker, opened, "hub2")
    link = member(broker, opened, "anna")
    time.sleep(1.5)
    assert first.active and not second.active  # one hub at a time
    second.publish_snapshot("Zendesk", Snapshot("Zendesk", (ticket(2, "Sales"),), NOW))
    first.publish_snapshot("Zendesk", Snapshot("Zendesk", (ticket(1, "Billing"),), NOW))
    wait_until(lambda: "Zendesk" in link.tickets)
    assert [t.id for t in link.read("Zendesk").tickets] == ["1"]  # the standby published none
    first.stopped.set()  # silent
    wait_until(lambda: second.active, timeout=3 * 1.0 + 3, what="the standby took over")
    wait_until(lambda: not first.active, what="the silent hub saw it")  # one hub at a time
    # what the standby read before the hub's last publication is older: never published again
    assert ("Zendesk", "tickets") not in second.last
    second.publish_snapshot("Zendesk", Snapshot("Zendesk", (ticket(3, "Sales"),), NOW))
    wait_until(lambda: read_ids(link) == ["3"])


# paho-mqtt 2.2 leaves the socket of a failed TLS handshake for the garbage collector
# (client.py's _create_socket): its ResourceWarning is the library's, not ours
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_broker_whose_certificate_is_not_trusted_is_not_read(
    broker: Broker, opened: list[Any]
) -> None:
    untrusted = Team(broker.tls_url, TEAM, "anna", heartbeat=timedelta(seconds=1))
    link = TeamLink(untrusted, PASSWORDS["anna"], {})
    opened.append(link)
    with pytest.raises(Unreachable):
        link.read("Zendesk")


@PAHO_LEAVES_FAILED_TLS_SOCKET
def test_an_untrusted_certificate_is_said_as_such(broker: Broker, opened: list[Any]) -> None:
    """The broker's certificate is signed by a CA this computer does not know (no CA file
    set): the person is told to set it, not that the broker cannot be reached."""
    untrusted = Team(broker.tls_url, TEAM, "anna", heartbeat=timedelta(seconds=1))
    link = TeamLink(untrusted, PASSWORDS["anna"], {})
    opened.append(link)
    # said when the handshake fails: no broker restart mends it, so nobody waits it out
    started = time.monotonic()
    assert link.wait_synced(60.0) is False
    assert time.monotonic() - started < 30
    with pytest.raises(Unreachable, match="certificate this computer does not trust") as info:
        link.read("Zendesk")
    assert "set the broker's CA file" in str(info.value)
    assert "cannot connect" not in str(info.value)


def test_a_wrong_password_is_said_plainly(broker: Broker, opened: list[Any]) -> None:
    link = TeamLink(settings(broker, "anna"), "not-the-password", {})
    opened.append(link)
    started = time.monotonic()  # said when the broker refuses, not after the wait
    assert link.wait_synced(60.0) is False
    assert time.monotonic() - started < 30
    with pytest.raises(Unreachable, match="refused the login of 'anna'"):
        link.read("Zendesk")


def test_team_config_needs_tls_off_loopback_and_a_team_table() -> None:
    table = {"broker": "mqtt://mqtt.example.com:1883", "name": "acme", "user": "anna"}
    with pytest.raises(cfg.ConfigError, match=r"team\.broker: must use TLS"):
        cfg.from_dict({"team": table})
    source = {"name": "Zendesk", "kind": "team", "categories": ["Billing"]}
    with pytest.raises(cfg.ConfigError, match=r"sources\[0\].kind: needs a \[team\] table"):
        cfg.from_dict({"sources": [source]})
    table["broker"] = "mqtts://mqtt.example.com:8883"
    loaded = cfg.from_dict({"team": table, "sources": [source]})
    assert loaded.team is not None and loaded.team.claim_expiry == timedelta(hours=2)
    assert loaded.sources[0].categories == ("Billing",)


def team_agent(b: Broker, tmp_path: Path, user: str, opened: list[Any], **extra: Any) -> TeamAgent:
    table = {"broker": b.tls_url, "ca": str(b.ca_file), "name": TEAM, "user": user}
    source = {"name": "Zendesk", "kind": "team", "interval": "1m"}
    config = cfg.from_dict({"team": table, "sources": [source], **extra})
    assert config.team is not None
    link = TeamLink(config.team, PASSWORDS[user], watched(config))
    agent = TeamAgent(config, LocalQueue(tmp_path / user), link)
    opened.append(agent)
    agent.start()
    return agent


def test_im_on_it_shows_at_the_others_as_claimed_by(
    broker: Broker, opened: list[Any], tmp_path: Path
) -> None:
    hub = start_hub(broker, opened)
    wait_until(lambda: hub.active)
    hub.publish_snapshot("Zendesk", Snapshot("Zendesk", (ticket(1, "Billing"),), NOW))
    anna = team_agent(broker, tmp_path, "anna", opened)
    ben = team_agent(broker, tmp_path, "ben", opened)
    for agent in (anna, ben):
        wait_until(lambda a=agent: a.status.tickets, what="the ticket at each member")
    anna.acknowledge("Zendesk", "1")
    wait_until(lambda: ben.status.tickets[0].claimed_by == "anna", what="anna's claim at ben")
    claimed_at = ben.status.tickets[0].claimed_at
    assert claimed_at is not None and abs(claimed_at - datetime.now(UTC)) < timedelta(minutes=1)
    wait_until(lambda: anna.status.tickets[0].acknowledged)
    assert anna.status.tickets[0].claimed_by is None  # her own claim is no news to her
    anna.acknowledge("Zendesk", "1", release=True)
    wait_until(lambda: ben.status.tickets[0].claimed_by is None, what="the claim released")
    # who is watching, in the status the owner's menu shows (each follows the hub's Zendesk)
    wait_until(lambda: {p for p, _ in ben.status.watching} == {"anna", "ben"}, what="watchers")


def test_check_in_a_terminal_shows_who_is_on_a_ticket(
    broker: Broker, opened: list[Any], tmp_path: Path
) -> None:
    """`ticketbell check` listed a ticket anna had claimed with nothing to say so (only
    --json and the tray showed it): ben would answer it too."""
    hub = start_hub(broker, opened)
    wait_until(lambda: hub.active)
    tickets = (ticket(1, "Billing", "Refund please"), ticket(2, "Sales", "A quote"))
    hub.publish_snapshot("Zendesk", Snapshot("Zendesk", tickets, NOW))
    anna = team_agent(broker, tmp_path, "anna", opened)
    ben = team_agent(broker, tmp_path, "ben", opened)
    wait_until(lambda: len(ben.status.tickets) == 2, what="the tickets at ben's")
    assert "ON IT" not in check_table(ben.status, frozenset())  # no claim: no column
    anna.acknowledge("Zendesk", "1")
    wait_until(lambda: any(w.claimed_by for w in ben.status.tickets), what="anna's claim")
    table = check_table(ben.status, frozenset()).splitlines()
    head = next(line for line in table if line.startswith("STATE"))
    assert "CATEGORY  ON IT  SUBJECT" in head
    refund = next(line for line in table if line.endswith("Refund please"))
    quote = next(line for line in table if line.endswith("A quote"))
    assert refund.split()[-4:] == ["Billing", "anna", "Refund", "please"]
    assert quote.split()[-4:] == ["Sales", "-", "A", "quote"]
    assert head.index("SUBJECT") == refund.index("Refund") == quote.index("A quote")


def test_nobody_watching_a_category_escalates_at_once(
    broker: Broker, opened: list[Any], tmp_path: Path
) -> None:
    hub = start_hub(broker, opened)
    wait_until(lambda: hub.active)
    member(broker, opened, "anna", ("Billing",))  # online, watching Billing only
    tickets = (ticket(1, "Billing"), ticket(2, "Sales"))
    hub.publish_snapshot("Zendesk", Snapshot("Zendesk", tickets, NOW))
    level = {"after": "0m", "notify": ["owner-desktop"], "when": "nobody_watching"}
    extra = {"role": "owner", "escalation": {"levels": [level]}}
    owner = team_agent(broker, tmp_path, "cara", opened, **extra)
    alerts: list[Alert] = []
    owner.subscribe(on_alerts=alerts.extend)
    wait_until(lambda: [a for a in alerts if a.kind == "escalated"], what="an escalation")
    escalated = [a for a in alerts if a.kind == "escalated"]
    assert [(a.ticket, a.message) for a in escalated] == [("2", "Nobody is watching")]
    assert not [a for a in alerts if a.kind == "overdue"]  # not overdue: nobody watches it


def test_claims_are_shown_as_people_read_them() -> None:
    at = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    assert team_messages.claim_text("Anna", at, at + timedelta(minutes=4, seconds=59)) == (
        "Anna · 4 min"
    )
    assert team_messages.claim_text("Anna", at, at + timedelta(minutes=75)) == "Anna · 1 h 15 min"
    assert team_messages.claim_text(None, None, at) == ""
    hostile = "Ann\u202ea\x1b[31m\nBen"  # a login name is text from the broker: plain, one line
    assert team_messages.open_anyway(hostile) == "Ann a [31m Ben is on it — open anyway?"
    assert team_messages.open_anyway(None) == ""


def hub_agent(b: Broker, tmp_path: Path, user: str, desk_url: str, opened: list[Any]) -> TeamAgent:
    """A hub's whole agent (``[team] hub = true``) over the json fake at ``desk_url``."""
    source = {"name": "Zendesk", "kind": "json", "url": desk_url, "interval": "1s"}
    source |= {"secret_env": "TICKETBELL_TEST_DESK_KEY", "auth_header": "X-Api-Key"}
    source |= {"items": "data.tickets", "next": "links.next", "fields": dict(FIELDS)}
    source["waiting_statuses"] = ["open"]
    table = {"broker": b.url, "name": TEAM, "user": user, "hub": True, "heartbeat": "1s"}
    table["secret_env"] = f"TICKETBELL_TEST_{user.upper()}_PASSWORD"
    config = cfg.from_dict({"role": "owner", "team": table, "sources": [source]})
    agent = open_team_agent(config, LocalQueue(tmp_path / user))
    opened.append(agent)
    agent.start()
    return agent


def test_a_standby_hub_asks_its_helpdesk_nothing_until_it_takes_over(
    broker: Broker, opened: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each hub reads the account through a fake of its own, so each one's requests are counted.
    monkeypatch.setenv("TICKETBELL_TEST_DESK_KEY", "team-standby-desk-key-51c0")
    for user in ("hub", "hub2"):
        monkeypatch.setenv(f"TICKETBELL_TEST_{user.upper()}_PASSWORD", PASSWORDS[user])
    with local_server() as one, local_server() as two:
        desks = [FakeJsonHelpdesk(server, "team-standby-desk-key-51c0") for server in (one, two)]
        for desk in desks:
            desk.add(1, "Invoice twice", queue="Billing", opened=NOW - timedelta(minutes=3))
        first = hub_agent(broker, tmp_path, "hub", desks[0].url, opened)
        assert first.hub is not None
        wait_until(lambda: first.hub is not None and first.hub.active, what="the hub up")
        second = hub_agent(broker, tmp_path, "hub2", desks[1].url, opened)
        assert second.hub is not None
        wait_until(lambda: second.status.waiting == 1, what="the standby shows the ticket")
        time.sleep(1.5)  # its connection check at start, if it made one, is over
        standby_asked, hub_asked = len(desks[1].requests), len(desks[0].requests)
        assert standby_asked <= 1  # at most that check
        time.sleep(4)  # four of each source's intervals
        assert len(desks[1].requests) == standby_asked  # no second poller while it waits
        assert len(desks[0].requests) >= hub_asked + 3  # the hub polls on
        assert second.status.waiting == 1  # the team's publications, not a made-up count
        desks[1].add(2, "Bulk pricing", queue="Sales", opened=datetime.now(UTC))
        first.stop()  # its last heartbeat says "offline": the standby takes over
        opened.remove(first)
        wait_until(lambda: second.hub is not None and second.hub.active, what="the takeover")
        wait_until(lambda: len(desks[1].requests) > standby_asked + 1, what="the standby polls")
        wait_until(lambda: second.status.waiting == 2, what="what the new hub read")


def test_a_flood_of_claims_is_refused_past_the_bounds_naming_the_topic(
    broker: Broker, opened: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(team_messages, "MAX_CLAIMS_PER_USER", 3)
    monkeypatch.setattr(team_messages, "MAX_CLAIMS", 5)
    hub = start_hub(broker, opened)
    wait_until(lambda: hub.active)
    hub.publish_snapshot("Zendesk", Snapshot("Zendesk", (ticket(1, "Billing"),), NOW))
    ben = member(broker, opened, "ben")
    claims = watch(broker, opened, "ben", f"ticketbell/{TEAM}/claims/#")
    flooder = raw_client(broker, opened, "anna")  # her own login: the ACL lets her claim
    claim = team_messages.encode(TEAM, {"by": "anna", "at": NOW.isoformat()})
    for n in range(1, 6):
        topic = f"ticketbell/{TEAM}/claims/Zendesk/{n}/anna"
        flooder.publish(topic, claim, qos=1, retain=True).wait_for_publish(5)
    wait_until(lambda: len(ben.notes) == 2, what="two claims refused")
    assert {key for key in ben.claims} == {("Zendesk", "1"), ("Zendesk", "2"), ("Zendesk", "3")}
    for n in (4, 5):
        topic = f"ticketbell/{TEAM}/claims/Zendesk/{n}/anna"
        assert f"refused a message on {topic}: too many claims" in "\n".join(ben.notes)
    assert [t.id for t in ben.read("Zendesk").tickets] == ["1"]  # reading goes on
    wait_until(lambda: sum(map(len, hub.claims.values())) == 3, what="the hub keeps no more")
    cara = raw_client(broker, opened, "cara")  # the team's bound: 5 claims in all
    for n in (6, 7, 8):
        body = team_messages.encode(TEAM, {"by": "cara", "at": NOW.isoformat()})
        cara.publish(f"ticketbell/{TEAM}/claims/Zendesk/{n}/cara", body, 1, True).wait_for_publish(
            5
        )
    wait_until(lambda: len(ben.notes) == 3, what="the team's bound")
    assert "claims/Zendesk/8/cara: too many claims: the team already holds 5" in ben.notes[-1]
    refused = {f"ticketbell/{TEAM}/claims/Zendesk/{n}" for n in ("4/anna", "5/anna", "8/cara")}
    # the hub ends each refused claim (an empty retained message); once the broker has passed
    # those on, a member connecting later no longer finds them
    wait_until(lambda: refused <= {t for t, body in claims if body == b""}, what="claims ended")
    anna = member(broker, opened, "anna")  # connects later: the hub ended the refused claims
    wait_until(lambda: len(anna.claims) == 5, what="the claims kept, retained")
    assert anna.notes == []


def test_a_claim_from_the_terminal_marks_the_ticket_in_the_running_agent(
    broker: Broker, opened: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = start_hub(broker, opened)
    wait_until(lambda: hub.active)
    hub.publish_snapshot("Zendesk", Snapshot("Zendesk", (ticket(1, "Billing"),), NOW))
    anna = team_agent(broker, tmp_path, "anna", opened)
    wait_until(lambda: anna.status.tickets, what="the ticket at anna's agent")
    assert not anna.status.tickets[0].acknowledged
    monkeypatch.setenv("TICKETBELL_TEST_ANNA_PASSWORD", PASSWORDS["anna"])
    terminal = settings(broker, "anna", secret_env="TICKETBELL_TEST_ANNA_PASSWORD")
    assert claim_once(terminal, "Zendesk", "1", release=False) == ""  # `ticketbell claim`
    wait_until(lambda: anna.status.tickets[0].acknowledged, what="✓ on it at her running agent")
    assert anna.status.tickets[0].claimed_by is None  # her own claim is no news to her


def test_a_claim_of_a_ticket_or_source_the_hub_does_not_list_is_refused_naming_it(
    broker: Broker, opened: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mistyped number or source name was "claimed by anna" and stayed on the broker, while
    the ticket she meant showed nobody on it."""
    hub = start_hub(broker, opened)
    wait_until(lambda: hub.active)
    hub.publish_snapshot("Zendesk", Snapshot("Zendesk", (ticket(1, "Billing"),), NOW))
    watcher = member(broker, opened, "ben")
    wait_until(lambda: "Zendesk" in watcher.tickets)
    monkeypatch.setenv("TICKETBELL_TEST_ANNA_PASSWORD", PASSWORDS["anna"])
    terminal = settings(broker, "anna", secret_env="TICKETBELL_TEST_ANNA_PASSWORD")
    said = claim_once(terminal, "Zendesk", "11", release=False)
    assert said == "the team hub lists no waiting ticket '11' in Zendesk"
    said = claim_once(terminal, "Zendesk desk", "1", release=False)
    assert said == ("the team hub publishes no source named 'Zendesk desk'; it publishes: Zendesk")
    assert claim_once(terminal, "Zendesk", "11", release=True) == ""  # ending one always goes
    assert claim_once(terminal, "Zendesk", "1", release=False) == ""
    wait_until(lambda: ("Zendesk", "1") in watcher.claims, what="the claim at ben's")
    time.sleep(0.3)  # what the refused ones would have published has arrived by now
    assert set(watcher.claims) == {("Zendesk", "1")}


def test_a_claim_without_its_password_variable_names_the_variable(monkeypatch) -> None:
    monkeypatch.delenv("TICKETBELL_TEST_UNSET_PASSWORD", raising=False)
    terminal = Team("mqtt://127.0.0.1:9", TEAM, "anna", secret_env="TICKETBELL_TEST_UNSET_PASSWORD")
    said = claim_once(terminal, "Zendesk", "1", release=False, wait=0.1)
    assert "TICKETBELL_TEST_UNSET_PASSWORD is not set" in said  # not "secret set team"


def test_a_claim_whose_broker_ca_file_is_gone_says_so_instead_of_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKETBELL_TEST_ANNA_PASSWORD", "some-password-1")
    gone = str(tmp_path / "gone.pem")  # the config's check saw it; removed since
    terminal = Team(
        "mqtts://127.0.0.1:9", TEAM, "anna", secret_env="TICKETBELL_TEST_ANNA_PASSWORD", ca=gone
    )
    said = claim_once(terminal, "Zendesk", "1", release=False, wait=0.1)
    assert (
        said == "cannot connect to the team broker mqtts://127.0.0.1:9: No such file or directory"
    )


def test_a_broker_that_stops_is_said_in_words_not_as_an_unspecified_error(
    broker: Broker, opened: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A broker that stops closes the connection without a reason (MQTT 3.1.1 has none to
    give); paho calls that "Unspecified error", which the tray showed as "…dropped
    (Unspecified error)"."""
    link = member(broker, opened, "anna")
    caplog.set_level(logging.WARNING, logger="agent.team")
    broker.stop()
    said = "team: the team broker closed the connection, or the network lost it"
    wait_until(lambda: said in caplog.text, what=caplog.text)  # then the reconnections fail
    assert "Unspecified" not in caplog.text
    assert link.problem is not None and not link.synced
