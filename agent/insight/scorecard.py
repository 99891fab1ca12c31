"""The weekly scorecard sent through the digest's channels: when it is due (pure), its text
summary for chat channels, and an HTML e-mail whose charts are inline PNG images (``cid:``
references to parts of the same message: no link outside it, no script).

The escalator queues it (:mod:`agent.engine.escalator`); :func:`agent.escalation.send` sends the
HTML and its images to e-mail channels and the text to the others. Everything a person reads in
it is in the owner's ``language`` (as the digest), with plural forms and the locale's dates.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, tzinfo

from agent import i18n
from agent.config import Escalation
from agent.digest import digest_targets
from agent.escalation import key_tag, with_key
from agent.i18n import _, ngettext
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
    """ "Ticketbell weekly scorecard: 12 answered, 83.3% within window, 2 breaches"."""
    now = card.team.current
    answered, breaches = int(now["answered"] or 0), int(now["breaches"] or 0)
    return _("Ticketbell weekly scorecard: {answered}, {within}% within window, {breaches}").format(
        answered=ngettext("{count} answered", "{count} answered", answered).format(count=answered),
        within=report.shown(now["within"]) or "-",
        breaches=ngettext("{count} breach", "{count} breaches", breaches).format(count=breaches),
    )


def _line(row: report.Row) -> str:
    """One row of the chat summary: each figure beside the week before's, with its trend."""
    now, before, trend = row.current, row.previous, row.trends()

    def was(metric: str) -> str:
        return f"{report.shown(before[metric]) or '-'}{report.ARROWS[trend[metric]]}"

    answered, breaches = int(now["answered"] or 0), int(now["breaches"] or 0)
    near = int(now["near_misses"] or 0)
    parts = [
        ngettext("{count} answered ({before})", "{count} answered ({before})", answered).format(
            count=answered, before=was("answered")
        ),
        _("{share}% within window ({before})").format(
            share=report.shown(now["within"]) or "-", before=was("within")
        ),
        _("p50 {minutes} min").format(minutes=report.shown(now["p50"]) or "-"),
        _("p90 {minutes} min").format(minutes=report.shown(now["p90"]) or "-"),
        ngettext("{count} breach ({before})", "{count} breaches ({before})", breaches).format(
            count=breaches, before=report.shown(before["breaches"])
        ),
        ngettext("{count} near miss", "{count} near misses", near).format(count=near),
    ]
    return _("{label}: {value}").format(label=report.label(row), value=", ".join(parts))


def summary_text(card: report.Scorecard) -> str:
    """The scorecard for a chat channel: the team and each category, beside the week before."""
    week = _("Week {period} (the week before in brackets)").format(period=card.period.text())
    lines = [week, "", _line(card.team)]
    categories = card.section("category")
    if categories:
        lines += ["", _("By category:"), *(f"  {_line(r)}" for r in categories)]
    blind = int(card.team.current["unreadable"] or 0)
    if blind:
        said = ngettext(
            "Helpdesks unreadable for {count} min in all",
            "Helpdesks unreadable for {count} min in all",
            blind,
        )
        lines += ["", said.format(count=blind)]
    return "\n".join(lines)


def charts(card: report.Scorecard, days: Sequence[Day]) -> list[tuple[str, bytes, str]]:
    """(file name, PNG, description) of the e-mail's charts, in the language in use."""
    by_day = {d.day: d.cells.get(TEAM) for d in days}
    weekdays = i18n.weekday_names()
    labels, shares = [], []
    for n in range(card.period.days):
        day = card.period.first + timedelta(days=n)
        cell = by_day.get(day)
        labels.append(weekdays[day.weekday()])
        shares.append(round(100 * cell.within / cell.answered) if cell and cell.answered else 0)
    title = _("Answered within window per day")
    share = bar_chart(title, labels, [("%", shares)], unit="%", full=100)
    rows = card.section("category")
    names = [report.label(r) for r in rows]
    answered = [float(r.current["answered"] or 0) for r in rows]
    breaches = [float(r.current["breaches"] or 0) for r in rows]
    series = [(_("answered"), answered), (_("breaches"), breaches)]
    per_category = bar_chart(_("By category"), names, series)
    return [
        ("share.png", share, _("Share answered within window per day")),
        ("categories.png", per_category, _("Answered and breaches per category")),
    ]


def scorecard_messages(
    day: date,
    card: report.Scorecard,
    days: Sequence[Day],
    escalation: Escalation,
    language: str = "",
) -> list[tuple[str, dict[str, object]]]:
    """The outbox messages of one week's scorecard, one per digest channel, in ``language``
    (the owner's; "": the language in use, which the agent took from the config)."""
    with i18n.speaking(language):
        title, text = title_of(card), summary_text(card)
        images = charts(card, days)
        page = report.as_html(card, [(f"cid:{name}", alt) for name, _png, alt in images])
    stored = [[name, base64.b64encode(png).decode("ascii")] for name, png, _alt in images]
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
