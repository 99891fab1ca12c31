"""Hostile ticket text: HTML, Qt rich text, entities, direction overrides, NUL, terminal escapes,
10,000 characters and emoji in subjects, requester names and categories are shown as plain text,
elided, in the tray menu, the tooltip, notifications, the window without a tray and the
``ticketbell check`` table; no markup is interpreted and no remote image is loaded (the image
URL points at a local server that must receive no request)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtGui import Qt as QtGui
from PySide6.QtWidgets import QLabel, QToolTip

from agent.cli import check_table
from agent.model import Alert, notification_text
from tests.test_ui_tray import NOW, SOURCE, make_tray, qsettings, status_of, waiting  # noqa: F401

CONTROLS = ("\x00", "\u202e", "\u200f", "\x1b", "\x07", "\n")
MARKUP = ("<b>", "<img", "<qt>", "&nbsp;", "&amp;")


@pytest.fixture
def image_server() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server standing in for a remote image host; it records every request."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/x.png", hits
    finally:
        server.shutdown()
        server.server_close()


def hostile(image: str) -> str:
    return (
        f'<qt><b>Bold</b>😀\x00\u202eevil\u200f&nbsp;&amp;<img src="{image}">'
        "\x1b]0;pwned\x07\x1b[2J\nsecond line " + "x" * 10_000
    )


def assert_plain(text: str, limit: int, markup: bool = False) -> None:
    """``text`` is one short line with no control character; no markup unless ``markup``
    (a menu entry is never rich text: there "<b>" is shown as typed)."""
    assert len(text) <= limit, len(text)
    for bad in CONTROLS if markup else CONTROLS + MARKUP:
        assert bad not in text, (bad, text[:120])
    if not markup:
        assert not QtGui.mightBeRichText(text), text[:120]


def test_menu_tooltip_notification_and_window_show_plain_elided_text(
    make_tray,  # noqa: F811 - the fixture imported from test_ui_tray
    qtbot,
    image_server,
    record_property: Any,
) -> None:
    record_property("fault", "hostile ticket text")
    image, hits = image_server
    nasty = hostile(image)
    w = waiting("1", 5, subject=nasty, category=nasty)
    w = replace(w, ticket=replace(w.ticket, requester=nasty))
    tray = make_tray()
    shown: list[tuple[str, str]] = []
    tray.tray.showMessage = lambda title, body, *a: shown.append((title, body))
    tray.show_status(status_of([w]))
    tray.rebuild_menu()
    tray.menu.popup(QPoint(10, 10))
    qtbot.waitExposed(tray.menu)
    texts = [a.text() for a in tray.menu.actions() if a.text()]
    ticket = next(a.text() for a in tray.menu.actions() if a.data())
    assert "Bold" in ticket and "😀" in ticket and "evil" in ticket  # shown, as text
    assert "<qt><b>Bold</b>😀 evil &&nbsp;&&amp;<img" in ticket  # as typed; "&" is not a mnemonic
    for text in texts:
        assert_plain(text, 200, markup=True)
    tray.menu.hide()

    tip = tray.tray.toolTip()
    assert "Bold" in tip
    for line in tip.splitlines():
        assert_plain(line, 200)
    QToolTip.showText(QPoint(10, 10), tip)  # rendered the way a hover would

    alert = Alert("new", NOW, "k1", SOURCE, "1", nasty, nasty, w.ticket.url)
    assert notification_text((alert,)) is not None
    tray.show_alerts((alert,))
    assert len(shown) == 1
    title, body = shown[0]
    assert "Bold" in title and "Bold" in body
    assert_plain(title, 100)
    assert_plain(body, 100)
    QToolTip.hideText()

    window_tray = make_tray(tray_available=False)
    fallback: list[tuple[str, str]] = []
    window_tray.notify_fallback = lambda t, b: fallback.append((t, b))
    window_tray.show()
    qtbot.waitExposed(window_tray.window)
    window_tray.show_status(status_of([w]))
    window = window_tray.window
    items = [window.list.item(i).text() for i in range(window.list.count())]
    assert any("Bold" in i for i in items)
    for item in items:
        assert_plain(item, 200, markup=True)  # list items are never rich text
    for label in window.findChildren(QLabel):
        assert label.pixmap().isNull() or label is window.badge
        if label.text():
            assert label.textFormat() == QtGui.TextFormat.PlainText
    window_tray.show_alerts((alert,))
    assert len(fallback) == 1 and all(len(x) <= 100 for x in fallback[0])
    for part in fallback[0]:
        assert_plain(part, 100)
    qtbot.wait(50)  # let any (wrongly) started image load reach the server
    assert hits == []


def test_the_check_table_is_plain_one_line_per_ticket(image_server) -> None:
    image, hits = image_server
    nasty = hostile(image)
    tickets = [waiting("1", 5, subject=nasty, category=nasty), waiting("2", 9)]
    table = check_table(status_of(tickets), frozenset())
    lines = table.splitlines()
    assert len(lines) == 1 + 1 + 1 + 1 + 2  # source, summary, blank, header, two tickets
    row = next(line for line in lines if "Bold" in line)
    assert "\x1b" not in table and "\x00" not in table and "\u202e" not in table
    assert len(row) < 200 and row.endswith("…")
    assert hits == []


FORGED = "refused\n04:00:00 ERROR Other: forged line \x1b[2J\x1b]0;pwned\x07 \u202eend"


def test_a_helpdesks_error_text_forges_no_log_line_and_no_terminal_escape(
    httpserver: Any, tmp_path: Any, cli_env: dict[str, str], record_property: Any
) -> None:
    """A JSON error body's message is quoted in the warning: its line break, escapes and
    direction mark are written escaped, on stderr (the journal) and in the log file."""
    from pathlib import Path

    from tests.conftest import run_cli

    record_property("fault", "helpdesk error text with line breaks and terminal escapes")
    httpserver.expect_request("/tickets").respond_with_json(
        {"error": FORGED, "message": FORGED}, status=422
    )
    conf = tmp_path / "ticketbell.toml"
    conf.write_text(
        f'[[sources]]\nname = "Desk"\nkind = "json"\nurl = "{httpserver.url_for("/tickets")}"\n'
        'secret_env = "DESK_TOKEN"\nitems = "tickets"\n[sources.fields]\nid = "id"\n'
        'subject = "s"\ncreated = "c"\nwaiting_since = "w"\n'
    )
    cli_env["DESK_TOKEN"] = "forge-test-token-1"

    done = run_cli(["check", "-v", "--config", str(conf)], cli_env)

    log = Path(cli_env["XDG_STATE_HOME"]) / "ticketbell" / "log" / "ticketbell.log"
    for text in (done.stderr, log.read_text(encoding="utf-8")):
        assert "forged line" in text  # the server's words are there ...
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
        assert not [line for line in text.splitlines() if line.startswith("04:00:00 ERROR")]
        assert "refused\\n04:00:00 ERROR Other" in text  # ... on the line they belong to
