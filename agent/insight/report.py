"""The scorecard: a period's figures per category, assignee, source and priority beside the
previous period of the same length, and the same numbers as text, HTML, CSV and JSON.

Every renderer reads the one :class:`Scorecard` and prints each number the same way (minutes
with one decimal, shares in percent with one decimal), so the formats never disagree. Text and
HTML are for a person: in the language in use (:mod:`agent.i18n`; the scheduled scorecard
speaks the owner's), dates and decimal commas as its locale writes them. CSV and JSON are for
spreadsheets and scripts: English keys, headings and trend words, numbers with a dot.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import orjson

from agent import i18n
from agent.i18n import N_, _, ngettext
from agent.insight.aggregates import (
    DIMENSIONS,
    TEAM,
    Cell,
    Day,
    merge_cells,
    split_key,
    unreadable_minutes,
)
from agent.model import one_line

#: each figure's name (the JSON and CSV key) and its heading (HTML, translated where shown)
METRICS: tuple[tuple[str, str], ...] = (
    ("answered", N_("answered")),
    ("within", N_("within window %")),
    ("p50", N_("p50 wait (min)")),
    ("p90", N_("p90 wait (min)")),
    ("breaches", N_("breaches")),
    ("near_misses", N_("near misses")),
    ("longest", N_("longest wait (min)")),
    ("late", N_("minutes late")),
    ("unreadable", N_("unreadable (min)")),
)
#: each section's heading (translated where shown)
TITLES = {
    TEAM: N_("Team"),
    "source": N_("By source"),
    "category": N_("By category"),
    "priority": N_("By priority"),
    "assignee": N_("By assignee"),
}
Figure = float | int | None


@dataclass(frozen=True, slots=True)
class Period:
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1))

    def text(self) -> str:
        """ "Mon 16 Nov 2026 to Sun 22 Nov 2026", in the language in use."""
        first, last = i18n.weekday_date(self.first), i18n.weekday_date(self.last)
        return _("{first} to {last}").format(first=first, last=last)


def period_for(
    today: date, kind: str = "week", first: date | None = None, last: date | None = None
) -> Period:
    """The period a report covers: the 7 (week) or 30 (month) days up to ``today``; or
    ``first`` to ``last``; ``last`` alone ends the week (or month) before it, ``first`` alone
    starts one when ``kind`` is asked for ("" for neither: up to ``today``). Raises ValueError
    for a period that ends before it starts."""
    span = timedelta(days=(30 if kind == "month" else 7) - 1)
    if first is None and last is not None:  # "--to D": it was the one day D
        first = last - span
    elif first is not None and last is None:  # "--week --from D": it was D to today
        last = first + span if kind else today
    if first is not None and last is not None:
        if last < first:
            said = _("the period ends ({last}) before it starts ({first})")
            raise ValueError(said.format(last=last, first=first))
        return Period(first, last)
    return Period(today - span, today)


def figures(cell: Cell | None, unreadable: int | None) -> dict[str, Figure]:
    """One row's numbers: counts, the share within window (%), waits in minutes."""
    c = cell or Cell()

    def minutes(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "answered": c.answered,
        "within": round(100 * c.within / c.answered, 1) if c.answered else None,
        "p50": minutes(c.percentile(0.5)),
        "p90": minutes(c.percentile(0.9)),
        "breaches": c.breaches,
        "near_misses": c.near,
        "longest": c.wait_max if c.answered else None,
        "late": c.late_total,
        "unreadable": unreadable,
    }


def trend(now: Figure, before: Figure) -> str:
    """ "up", "down", "same", or "" when either is unknown."""
    if now is None or before is None:
        return ""
    return "up" if now > before else "down" if now < before else "same"


@dataclass(frozen=True, slots=True)
class Row:
    dimension: str  # "*" for the team, else one of DIMENSIONS
    value: str
    current: dict[str, Figure]
    previous: dict[str, Figure]

    def trends(self) -> dict[str, str]:
        return {m: trend(self.current[m], self.previous[m]) for m, _h in METRICS}


@dataclass(frozen=True, slots=True)
class Scorecard:
    period: Period
    rows: tuple[Row, ...]

    def section(self, dimension: str) -> list[Row]:
        return [r for r in self.rows if r.dimension == dimension]

    @property
    def team(self) -> Row:
        return self.section(TEAM)[0]


def scorecard(days: Iterable[Day], period: Period) -> Scorecard:
    """The figures of ``period`` and of the period before it, per dimension and value."""
    days = list(days)
    before = period.previous()
    now_cells = merge_cells(days, period.first, period.last)
    old_cells = merge_cells(days, before.first, before.last)
    now_blind = unreadable_minutes(days, period.first, period.last)
    old_blind = unreadable_minutes(days, before.first, before.last)
    rows = [
        Row(
            TEAM,
            "",
            figures(now_cells.get(TEAM), sum(now_blind.values())),
            figures(old_cells.get(TEAM), sum(old_blind.values())),
        )
    ]
    keys = sorted((set(now_cells) | set(old_cells)) - {TEAM}, key=_order)
    for key in keys:
        dimension, value = split_key(key)
        sources = dimension == "source"
        rows.append(
            Row(
                dimension,
                value,
                figures(now_cells.get(key), now_blind.get(value, 0) if sources else None),
                figures(old_cells.get(key), old_blind.get(value, 0) if sources else None),
            )
        )
    return Scorecard(period, tuple(rows))


def _order(key: str) -> tuple[int, bool, str]:
    """By dimension, then by name; a row without a name ("Other") last, as the tray has it."""
    dimension, value = split_key(key)
    return DIMENSIONS.index(dimension), not value, value.casefold()


# --------------------------------------------------------------------------- the formats


def number(value: Figure) -> str:
    """A figure as every format prints it ("" when unknown)."""
    if value is None:
        return ""
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def shown(value: Figure) -> str:
    """A figure as a person reads it: :func:`number` with the locale's decimal sign ("66,7")."""
    if not isinstance(value, float):
        return number(value)
    from babel.numbers import get_decimal_symbol

    return number(value).replace(".", get_decimal_symbol(i18n.current().formats))


ARROWS = {"up": "↑", "down": "↓", "same": "=", "": ""}


def label(row: Row) -> str:
    """The row's name for a person: "all tickets" for the team; a row without a category (or
    another name) is the tray's "Other"."""
    if row.dimension == TEAM:
        return _("all tickets")
    return one_line(row.value, 40) or _("Other")


def as_json(card: Scorecard) -> dict[str, Any]:
    before = card.period.previous()
    return {
        "period": {"from": card.period.first.isoformat(), "to": card.period.last.isoformat()},
        "previous": {"from": before.first.isoformat(), "to": before.last.isoformat()},
        "rows": [
            {
                "dimension": "team" if r.dimension == TEAM else r.dimension,
                "value": r.value,
                "current": r.current,
                "previous": r.previous,
                "trend": r.trends(),
            }
            for r in card.rows
        ],
    }


def as_json_text(card: Scorecard) -> str:
    return orjson.dumps(as_json(card), option=orjson.OPT_INDENT_2).decode()


def as_csv(card: Scorecard) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("dimension", "value", "metric", "current", "previous", "trend"))
    for r in card.rows:
        trends = r.trends()
        for metric, _h in METRICS:
            dimension = "team" if r.dimension == TEAM else r.dimension
            cells = (number(r.current[metric]), number(r.previous[metric]), trends[metric])
            writer.writerow((dimension, _csv_safe(r.value), metric, *cells))
    return out.getvalue()


def _csv_safe(text: str) -> str:
    """A name from a helpdesk as a CSV cell a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


#: the text table's short headings (translated where shown)
SHORT = {
    "answered": N_("answered"),
    "within": N_("within %"),
    "p50": N_("p50 min"),
    "p90": N_("p90 min"),
    "breaches": N_("breaches"),
    "near_misses": N_("near"),
    "longest": N_("longest"),
    "late": N_("min late"),
    "unreadable": N_("unreadable"),
}


def in_brackets(days: int) -> str:
    """The text's second line: what the figures in brackets cover (the period of as many days
    just before) and the unit of the waits."""
    if days == 1:
        return _("in brackets the day before; waits and lateness in minutes")
    # TRANSLATORS: {count} is 2 or more (one day is the text above)
    return ngettext(
        "in brackets the {count} day before; waits and lateness in minutes",
        "in brackets the {count} days before; waits and lateness in minutes",
        days,
    ).format(count=days)


def period_line(card: Scorecard) -> str:
    """The page's first line: the period, and what the figures in brackets cover."""
    days, period = card.period.days, card.period.text()
    if days == 1:
        return _("{period}; in brackets the day before.").format(period=period)
    # TRANSLATORS: {count} is 2 or more (one day is the text above)
    return ngettext(
        "{period}; in brackets the {count} day before.",
        "{period}; in brackets the {count} days before.",
        days,
    ).format(period=period, count=days)


def as_text(card: Scorecard) -> str:
    """A table per dimension; each figure as "now (before, trend)"."""
    lines = [
        _("Ticketbell scorecard: {period}").format(period=card.period.text()),
        in_brackets(card.period.days),
        "",
    ]
    for dimension in (TEAM, *DIMENSIONS):
        rows = card.section(dimension)
        if rows:
            table = [(_(TITLES[dimension]), *(_(SHORT[m]) for m, _h in METRICS))]
            table += [(label(r), *_text_cells(r)) for r in rows]
            widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
            for row in table:
                cells = [row[0].ljust(widths[0])]
                cells += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
                lines.append("  ".join(cells).rstrip())
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _text_cells(r: Row) -> list[str]:
    trends = r.trends()
    cells = []
    for metric, _h in METRICS:
        now, before = shown(r.current[metric]), shown(r.previous[metric])
        cells.append(f"{now or '-'} ({before}{ARROWS[trends[metric]]})" if before else now or "")
    return cells


def as_html(card: Scorecard, images: Iterable[tuple[str, str]] = ()) -> str:
    """A page with no script and no link outside itself; ``images``: (src, alt) pairs shown
    above the tables (the scorecard e-mail's charts, as ``cid:`` references)."""
    e = html.escape
    head = "".join(f"<th>{e(_(h))}</th>" for _m, h in METRICS)
    title = _("Ticketbell scorecard: {period}").format(period=card.period.text())
    heading = _("Ticketbell scorecard")
    lang = (i18n.current().tag or i18n.current().code).replace("_", "-")
    parts = [
        f"<!DOCTYPE html><html lang='{e(lang)}'><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title>",
        "<style>body{font-family:sans-serif}table{border-collapse:collapse;margin:0 0 1em}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "td:first-child{text-align:left}.prev{color:#777;font-size:smaller}</style>",
        "</head><body>",
        f"<h1>{e(heading)}</h1><p>{e(period_line(card))}</p>",
        *(f"<p><img src='{e(src)}' alt='{e(alt)}'></p>" for src, alt in images),
    ]
    for dimension in (TEAM, *DIMENSIONS):
        rows = card.section(dimension)
        if rows:
            parts.append(f"<h2>{e(_(TITLES[dimension]))}</h2><table><tr><th></th>{head}</tr>")
            parts += [_html_row(r) for r in rows]
            parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_row(r: Row) -> str:
    e = html.escape
    trends = r.trends()
    dimension = "team" if r.dimension == TEAM else r.dimension
    cells = [f"<td>{e(label(r))}</td>"]
    for metric, _h in METRICS:
        attrs = f"data-dimension='{e(dimension)}' data-value='{e(r.value)}' data-metric='{metric}'"
        now, before = shown(r.current[metric]), shown(r.previous[metric])
        left, right = ("(", f"{ARROWS[trends[metric]]})") if before else ("", "")
        cells.append(
            f"<td {attrs}><span class='now'>{now}</span> <span class='prev'>{left}<span "
            f"class='before'>{before}</span>{right}</span></td>"
        )
    return "<tr>" + "".join(cells) + "</tr>"
