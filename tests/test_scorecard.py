"""The weekly scorecard: when it is due, its PNG charts, and the agent sending it at
``scorecard_at`` through the digest's channels — an HTML mail with its charts inline received by
a real SMTP server (aiosmtpd on 127.0.0.1), the text summary to a webhook."""

from __future__ import annotations

import base64
import struct
import zlib
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import orjson
import pytest

from agent.config import ConfigError, from_dict
from agent.config.values import parse_weekly
from agent.insight import report
from agent.insight.aggregates import Day, Outcome
from agent.insight.png import bar_chart
from agent.insight.scorecard import scorecard_due, summary_text
from agent.queue import LocalQueue
from tests.test_escalation import Mailbox, mailbox, make_config, owner, posts, wait_until, webhook

__all__ = ["mailbox", "owner", "webhook"]  # the fixtures this module uses
UTC = timezone.utc
MONDAY_8 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_scorecard_at_is_a_weekday_and_a_time() -> None:
    assert parse_weekly("Mon 08:00") == (0, time(8, 0))
    assert parse_weekly("friday 17:30") == (4, time(17, 30))
    with pytest.raises(ValueError, match="Mon 08:00"):
        parse_weekly("Moon 08:00")
    with pytest.raises(ConfigError, match="scorecard_at"):
        from_dict({"escalation": {"scorecard_at": "08:00"}})


def test_the_scorecard_is_due_once_a_week_at_its_time() -> None:
    assert scorecard_due(MONDAY_8 - timedelta(minutes=1), 0, time(8), UTC, "2026-11-16") == (
        None,
        MONDAY_8,
    )
    day, following = scorecard_due(MONDAY_8, 0, time(8), UTC, "2026-11-16")
    assert (day, following) == (date(2026, 11, 23), MONDAY_8 + timedelta(days=7))
    assert scorecard_due(MONDAY_8 + timedelta(days=3), 0, time(8), UTC, "2026-11-23")[0] is None


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, after checking every chunk's CRC and the pixel data's size."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks[kind] = body
        pos += 12 + length
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    assert len(zlib.decompress(chunks[b"IDAT"])) == height * (1 + 3 * width)
    return width, height


def test_a_bar_chart_is_a_valid_png() -> None:
    chart = bar_chart("By category", ["Billing", "Sales"], [("answered", [3, 5]), ("late", [1, 0])])
    assert png_size(chart) == (560, 260)


def week(today: date) -> list[Day]:
    days = []
    for n in range(1, 15):
        d = Day(today - timedelta(days=n))
        for i in range(n % 5 + 1):
            late = i == 0 and n % 2 == 0
            d.add(
                Outcome(
                    d.day,
                    10,
                    "Desk",
                    "Billing" if i % 2 else "Sales",
                    "normal",
                    "ann",
                    150.0 if late else 30.0,
                    not late,
                    30.0 if late else 0.0,
                )
            )
        days.append(d)
    return days


def test_the_text_summary_names_the_team_and_each_category() -> None:
    today = date(2026, 11, 23)
    card = report.scorecard(
        week(today), report.Period(today - timedelta(days=7), today - timedelta(days=1))
    )
    text = summary_text(card)
    assert text.splitlines()[2].startswith(f"all tickets: {card.team.current['answered']} answered")
    assert "  Billing: " in text and "  Sales: " in text


def test_a_scorecard_of_one_day_says_the_day_before_in_words() -> None:
    """`report --to DAY` alone is one day: it said "in brackets the 1 days before"."""
    today = date(2026, 11, 23)
    day = today - timedelta(days=1)
    card = report.scorecard(week(today), report.Period(day, day))
    assert "in brackets the day before;" in report.as_text(card)
    assert "in brackets the day before.</p>" in report.as_html(card)
    weekly = report.scorecard(week(today), report.Period(today - timedelta(days=7), day))
    assert "in brackets the 7 days before;" in report.as_text(weekly)


def test_the_agent_mails_the_scorecard_with_its_charts_inline(
    owner: Any, clock: Any, mailbox: Mailbox, webhook: Any, tmp_path: Any
) -> None:
    hook = f"json://127.0.0.1:{webhook.port}/hook"
    local_at = (clock.now() + timedelta(minutes=30)).astimezone()
    queue = LocalQueue(tmp_path / "data")  # two weeks of history before the agent starts
    queue.aggregates.replace(week(local_at.date()), local_at.date())
    queue.close()
    o = owner(
        make_config(
            [{"after": "0m", "notify": ["owner-desktop"]}],
            scorecard_at=local_at.strftime("%a %H:%M"),
            digest_to=[mailbox.url, hook],
        )
    )
    o.start()
    o.advance(20 * 60)
    assert mailbox.messages == []
    o.advance(11 * 60)
    wait_until(lambda: len(mailbox.messages) == 1 and len(posts(webhook)) == 1)
    mail = mailbox.messages[0]
    assert str(mail["Subject"]).startswith("Ticketbell weekly scorecard: ")
    page = mail.get_body(preferencelist=("html",)).get_content()
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "<script" not in page and "http" not in page
    assert "cid:share.png" in page and "cid:categories.png" in page
    assert "Billing" in text and "Ticketbell-Key:" in text
    images = {
        part["Content-ID"].strip("<>"): part.get_payload(decode=True)
        for part in mail.walk()
        if part.get_content_type() == "image/png"
    }
    assert set(images) == {"share.png", "categories.png"}
    assert all(png_size(png) == (560, 260) for png in images.values())
    (chat,) = posts(webhook)
    assert "By category:" in chat["message"] and "<" not in chat["message"]
    o.advance(3600)
    assert len(mailbox.messages) == 1


def test_stored_images_survive_the_outbox(tmp_path: Any) -> None:
    from agent.storage import OutboxEntry

    png = bar_chart("x", ["a"], [("n", [1])])
    row = {
        "key": "k",
        "created_at": "2026-11-23T08:00:00+00:00",
        "html": "<p>",
        "images": [["share.png", base64.b64encode(png).decode()]],
    }
    entry = OutboxEntry.of(orjson.loads(orjson.dumps(row)))
    assert entry.images == (("share.png", base64.b64encode(png).decode()),)


def test_the_log_and_the_tray_name_the_scorecard_not_a_message(
    owner: Any, clock: Any, webhook: Any, tmp_path: Any, caplog: Any
) -> None:
    """The log said "sent the message to json://…" of the weekly scorecard (and the tray's
    notice would say "the message to … undeliverable"): every other message is named."""
    from agent.escalation import message_name
    from agent.i18n import speaking
    from agent.storage import OutboxEntry

    hook = f"json://127.0.0.1:{webhook.port}/hook"
    local_at = (clock.now() + timedelta(minutes=30)).astimezone()
    o = owner(
        make_config(
            [{"after": "0m", "notify": ["owner-desktop"]}],
            scorecard_at=local_at.strftime("%a %H:%M"),
            digest_to=[hook],
        )
    )
    caplog.set_level("INFO")
    o.start()
    o.advance(31 * 60)
    wait_until(lambda: len(posts(webhook)) == 1)
    wait_until(lambda: "sent the weekly scorecard to json://127.0.0.1" in caplog.text)
    assert "sent the message to" not in caplog.text
    entry = OutboxEntry.of({"key": "k", "kind": "scorecard", "target": hook})
    with speaking("de"):
        assert message_name(entry, shown=True) == "Wochenbilanz"
