"""A ticket's URL comes from the helpdesk's data: clicking its menu entry opens it only when it is
http(s) on the source's own host (or, for an API host such as api.github.com, its web site).
Every other link is refused: other schemes, other hosts, other tenants of the same hosted
helpdesk, look-alikes, credentials, controls and localhost."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QUrl

from agent.cli import check_json
from agent.config import from_dict
from agent.escalation import escalation_messages
from agent.model import Alert, DueState, Status, Ticket, WaitingTicket
from agent.policy import ticket_url
from agent.queue import alert_key
from tests.test_ui_tray import NOW, Commands, qsettings  # noqa: F401
from ui.sound import SoundPlayer
from ui.tray import Tray

SOURCES = [
    {"name": "Help", "kind": "freescout", "url": "https://help.example.com"},
    {"name": "Desk", "kind": "zendesk", "url": "https://acme.zendesk.com", "user": "a@acme.test"},
    {"name": "GH", "kind": "github", "repository": "acme/tool"},
    {"name": "Scout", "kind": "helpscout", "user": "app-id"},
]

OPENED = [
    ("Help", "https://help.example.com/conversation/7"),
    ("Help", "http://help.example.com/conversation/7?folder=1#thread-2"),
    ("Help", "HTTPS://HELP.EXAMPLE.COM/conversation/7"),
    ("Help", "  https://help.example.com/conversation/7  "),
    ("Help", "https://example.com/conversation/7"),  # the parent domain of the source's host
    ("Desk", "https://acme.zendesk.com/agent/tickets/7"),
    ("GH", "https://github.com/acme/tool/issues/7"),  # API on api.github.com, issues on github.com
    ("Scout", "https://secure.helpscout.net/conversation/7"),  # API on api.helpscout.net
]

REFUSED = [
    ("Help", "javascript:alert(document.cookie)"),
    ("Help", "JAVASCRIPT:alert(1)"),
    ("Help", "file:///etc/passwd"),
    ("Help", "FILE:///etc/passwd"),
    ("Help", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="),
    ("Help", "ftp://help.example.com/x"),
    ("Help", "//help.example.com.evil.org/x"),
    ("Help", "/conversation/7"),
    ("Help", "https://evil.org/conversation/7"),
    ("Help", "https://help.example.com.evil.org/x"),
    ("Help", "https://help.example.com@evil.org/x"),
    ("Help", "https://help.example.com:pw@evil.org/x"),
    ("Help", "https://evil.org\\@help.example.com/x"),
    ("Help", "https://help.example.com\\.evil.org/x"),
    ("Help", "https://help.exаmple.com/x"),  # Cyrillic "а"
    ("Help", "https://help.xn--exmple-4nf.com/x"),  # its punycode form
    ("Help", "https://help.example.co/x"),
    ("Help", "https://help.example.com\x00.evil.org/x"),
    ("Help", "https://help.example.com\t.evil.org/x"),
    ("Help", "https://help.example.com/\u202egpj.exe"),
    ("Help", "https://help.example.com\n/x"),
    ("Help", "http://127.0.0.1/x"),
    ("Help", "http://localhost:8080/x"),
    ("Help", "http://[::1]/x"),
    ("Help", "http://2130706433/x"),
    ("Help", "https://help.example.com:99999/x"),
    ("Desk", "https://evil.zendesk.com/agent/tickets/7"),  # another tenant of the same service
    ("Desk", "https://zendesk.com.evil.org/x"),
    ("GH", "https://github.com.evil.org/acme/tool/issues/7"),
    ("GH", "https://gist.github.io/x"),
    ("Nobody", "https://help.example.com/conversation/7"),  # a source no longer configured
    ("Help", ""),
]


def click(qsettings: Any, source: str, url: str) -> list[str]:  # noqa: F811 - fixture
    """Show one ticket with ``url`` in the real menu, trigger its Open; what the opener got."""
    config = from_dict({"sources": SOURCES})
    opened: list[QUrl] = []
    tray = Tray(
        Commands(),
        config,
        SoundPlayer(qsettings, config.alerts),
        tray_available=True,
        opener=lambda u: opened.append(u) or True,
        clock=lambda: NOW,
    )
    try:
        t = Ticket(
            source=source, id="7", subject="Refund", created_at=NOW, waiting_since=NOW, url=url
        )
        w = WaitingTicket(t, NOW, DueState.FINE, NOW)
        tray.show_status(Status(NOW, (w,), (), "assistant"))
        tray.rebuild_menu()
        [row] = [a for a in tray.menu.actions() if a.data()]
        next(a for a in row.menu().actions() if a.text() == "Open").trigger()
    finally:
        tray.hide()
    return [u.toString() for u in opened]


@pytest.mark.parametrize(("source", "url"), OPENED, ids=[u for _, u in OPENED])
def test_a_link_on_the_sources_own_site_opens(
    qapp: Any,
    qsettings: Any,  # noqa: F811
    source: str,
    url: str,
) -> None:
    opened = click(qsettings, source, url)
    assert len(opened) == 1
    assert QUrl(opened[0]).host() == QUrl(url.strip()).host().lower()
    assert QUrl(opened[0]).scheme() in ("http", "https")


@pytest.mark.parametrize(("source", "url"), REFUSED, ids=[repr(u)[1:-1] for _, u in REFUSED])
def test_a_hostile_link_is_refused(
    qapp: Any,
    qsettings: Any,  # noqa: F811
    source: str,
    url: str,
    record_property: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    record_property("fault", "hostile ticket URL")
    assert click(qsettings, source, url) == []
    assert "not opening" in caplog.text


@pytest.mark.parametrize(
    ("source", "url", "allowed"),
    [(s, u, True) for s, u in OPENED] + [(s, u, False) for s, u in REFUSED],
    ids=[repr(u)[1:-1] for _, u in OPENED + REFUSED],
)
def test_escalations_and_check_json_carry_only_the_links_the_tray_opens(
    source: str, url: str, allowed: bool, record_property: Any
) -> None:
    """One rule (agent.policy.ticket_url) for the tray, the owner's escalation messages and
    `check --json`: a link the tray refuses is not sent to the owner either."""
    record_property("fault", "hostile ticket URL in an escalation or check --json")
    config = from_dict(
        {"sources": SOURCES, "escalation": {"levels": [{"after": "0m", "notify": ["json://x"]}]}}
    )
    t = Ticket(source=source, id="7", subject="Refund", created_at=NOW, waiting_since=NOW, url=url)
    w = WaitingTicket(t, NOW, DueState.OVERDUE, NOW)
    alert = Alert(
        "escalated",
        NOW,
        alert_key(source, "7", "c1", "escalated", 0),
        source=source,
        ticket="7",
        subject="Refund",
        url=url,
        tickets=(w,),
    )

    [(_, message)] = escalation_messages(alert, config, NOW)
    [shown] = check_json(Status(NOW, (w,), (), "assistant"), frozenset(), config)["tickets"]

    assert ("Open it: " in message["body"]) is allowed
    if allowed:
        assert f"Open it: {url.strip()}" in message["body"]
    else:
        assert "javascript" not in message["body"].lower() and "file:" not in message["body"]
    assert shown["url"] == (url.strip() if allowed else None)
    assert (ticket_url(url, config.source(source) if source != "Nobody" else None) is not None) is (
        allowed
    )
