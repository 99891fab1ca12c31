"""The weekly scorecard sent through the digest's channels: when it is due (pure), its text
summary for chat channels, and an HTML e-mail whose charts are inline PNG images (``cid:``
references to parts of the same message: no link outside it, no script).

The escalator queues it (:mod:`agent.engine.escalator`); :func:`agent.escalation.send` sends the
HTML and its images to e-mail channels and the text to the others.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, tzinfo

from agent.config import Escalation
from agent.digest import digest_targets
from agent.escalation import key_tag, with_key
from agent.insight import report
from agent.insight.aggregates import TEAM, Day
from agent.insight.png import bar_chart
from agent.storage import AlertKey, OutboxKey


def scorecard_due(
    now: datetime, weekday: int, at: time, tz: tzinfo | None, last_day: str | None
) -> tuple[date | None, datetime]:
    """Which day's scorecard is owed now (None: none), and when the next one falls due. With
    none sent yet, the first is the next scheduled one (see :func:`agent.digest.digest_due`)."""
    local = now.astimezone(tz)
    this_week = local.date() + timedelta(days=weekday - local.weekday())
    latest = datetime.combine(this_week, at, local.tzinfo)
    if latest > local:
        latest -= timedelta(days=7)
    following = datetime.combine(latest.date() + timedelta(days=7), at, local.tzinfo)
    if last_day is None or last_day >= latest.date().isoformat():
        return None, following.astimezone(now.tzinfo)
    return latest.date(), following.astimezone(now.tzinfo)


def week_before(day: date) -> report.Period:
    """The seven days before the day the scorecard is sent."""
    return report.Period(day - timedelta(days=7), day - timedelta(days=1))


def title_of(card: report.Scorecard) -> str:
    now = card.team.current
    within = report.number(now["within"]) or "-"
    return (
        f"Ticketbell weekly scorecard: {now['answered']} answered, {within}% within window, "
        f"{now['breaches']} breaches"
    )


def summary_text(card: report.Scorecard) -> str:
    """The scorecard for a chat channel: the team and each category, beside the week before."""

    def line(row: report.Row) -> str:
        now, before, trend = row.current, row.previous, row.trends()
        parts = []
        for metric, words in (("answered", "answered"), ("within", "% within window")):
            parts.append(
                f"{report.number(now[metric]) or '-'}{words if metric == 'within' else ' ' + words}"
                f" ({report.number(before[metric]) or '-'}{report.ARROWS[trend[metric]]})"
            )
        parts.append(f"p50 {report.number(now['p50']) or '-'} min")
        parts.append(f"p90 {report.number(now['p90']) or '-'} min")
        parts.append(f"{now['breaches']} breaches ({before['breaches']})")
        parts.append(f"{now['near_misses']} near misses")
        return f"{report.label(row)}: " + ", ".join(parts)

    lines = [f"Week {card.period.text()} (the week before in brackets)", "", line(card.team)]
    categories = card.section("category")
    if categories:
        lines += ["", "By category:", *(f"  {line(r)}" for r in categories)]
    blind = card.team.current["unreadable"]
    if blind:
        lines += ["", f"Helpdesks unreadable for {blind} min in all"]
    return "\n".join(lines)


def charts(card: report.Scorecard, days: Sequence[Day]) -> list[tuple[str, bytes, str]]:
    """(file name, PNG, description) of the e-mail's charts."""
    by_day = {d.day: d.cells.get(TEAM) for d in days}
    labels, shares = [], []
    for n in range(card.period.days):
        day = card.period.first + timedelta(days=n)
        cell = by_day.get(day)
        labels.append(f"{day:%a}")
        shares.append(round(100 * cell.within / cell.answered) if cell and cell.answered else 0)
    share = bar_chart("Answered within window per day", labels, [("%", shares)], unit="%", full=100)
    rows = card.section("category")
    names = [r.value or "(none)" for r in rows]
    answered = [float(r.current["answered"] or 0) for r in rows]
    breaches = [float(r.current["breaches"] or 0) for r in rows]
    per_category = bar_chart("By category", names, [("answered", answered), ("breaches", breaches)])
    return [
        ("share.png", share, "Share answered within window per day"),
        ("categories.png", per_category, "Answered and breaches per category"),
    ]


def scorecard_messages(
    day: date, card: report.Scorecard, days: Sequence[Day], escalation: Escalation
) -> list[tuple[str, dict[str, object]]]:
    """The outbox messages of one week's scorecard, one per digest channel."""
    title, text = title_of(card), summary_text(card)
    images = charts(card, days)
    page = report.as_html(card, [(f"cid:{name}", alt) for name, _, alt in images])
    stored = [[name, base64.b64encode(png).decode("ascii")] for name, png, _ in images]
    out = []
    for target in digest_targets(escalation):
        key = OutboxKey(AlertKey("*", "*", day.isoformat(), "scorecard"), target).encode()
        tag = html.escape(f"Ticketbell-Key: {key_tag(key)}")
        record: dict[str, object] = {
            "kind": "scorecard",
            "target": target,
            "source": "",
            "ticket": "",
            "title": title,
            "body": with_key(text, key),
            "html": page.replace("</body>", f"<p class='prev'>{tag}</p></body>"),
            "images": stored,
        }
        out.append((key, record))
    return out
