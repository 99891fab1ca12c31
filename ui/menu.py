"""The tray's menu and tooltip, and the words both use, drawn from a published Status.

The menu lists the soonest-due tickets (escalated, then overdue, then grouped by category or
helpdesk in a fixed order), as many as fit the screen in one column, each with its own submenu
of actions; "N more…" opens the window of every waiting ticket. Ticket subjects come from
strangers: plain text only (no rich text or mnemonics, controls and direction overrides
removed, clipped).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

from PySide6 import QtCore  # QtCore.Qt where used: its ~120 enums are made on first access
from PySide6.QtGui import QAction, QActionGroup, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QMenu

from agent import i18n
from agent.i18n import _, ngettext
from agent.model import DueState, Health, SourceHealth, Status, WaitingTicket, one_line

MENU_LIMIT = 20
SUBJECT_CHARS = 60
SNOOZES = (15, 30, 60)


class AgentCommands(Protocol):
    def check_now(self, source: str | None = None) -> None: ...

    def acknowledge(self, source: str, ticket: str, release: bool = False) -> None: ...

    def snooze(self, source: str, ticket: str, minutes: float) -> None: ...

    def mute(self, until: datetime | None) -> None: ...


class TicketActions(Protocol):
    """What a ticket's actions need: the agent and a way to open the ticket."""

    agent: AgentCommands

    def open_ticket(self, w: WaitingTicket) -> bool: ...


# --------------------------------------------------------------------------- words


def plain(text: str, limit: int = SUBJECT_CHARS) -> str:
    """One line of plain text, at most ``limit`` characters (elided with "…")."""
    return one_line(text, limit)


def add_action(menu: QMenu, text: str) -> QAction:
    """A new action in ``menu``, made here: ``QMenu.addAction(text)``'s result can be a stale
    wrapper of a deleted object whose address the action reused (PySide's wrapper map)."""
    action = QAction(text, menu)
    menu.addAction(action)
    return action


def menu_text(text: str) -> str:
    """Text for a QAction: "&" would otherwise turn the next letter into a shortcut."""
    return text.replace("&", "&&")


def tip_text(text: str) -> str:
    """Text for a tooltip or notification, which Qt, tray hosts and notification servers render
    as rich text: look-alikes for < > & so no tag (``<img src=…>``) or entity is interpreted."""
    return text.replace("<", "‹").replace(">", "›").replace("&", "＆")


def human(delta: timedelta) -> str:
    """A span in words; under a minute is "under 1 min" ("<1 min" read as a typo as "‹1 min"
    once the tooltip's look-alike replaced "<"). Other languages: the locale's units."""
    minutes = int(abs(delta.total_seconds()) // 60)
    if minutes < 1:
        return _("under 1 min")
    if i18n.current().code != i18n.SOURCE_LANGUAGE:
        return i18n.duration(abs(delta))
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{hours // 24} d"


def clock_time(at: datetime) -> str:
    """A moment as the person's local wall-clock time, "14:30" (or "2:30 PM" where that is
    the custom)."""
    return i18n.time_text(at)


def due_text(w: WaitingTicket, now: datetime) -> str:
    if w.due_at <= now:
        return _("overdue by {duration}").format(duration=human(now - w.due_at))
    return _("{duration} left").format(duration=human(w.due_at - now))


def ticket_name(w: WaitingTicket) -> str:
    """What tells two tickets with the same subject apart: its number, or the customer's name
    when the number is too long to read (a mailbox's message ids)."""
    t = w.ticket
    if len(t.id) <= 10 or not t.requester:
        return f"#{plain(t.id, 10)}"
    return plain(t.requester, 24)


def handling(w: WaitingTicket, now: datetime) -> str:
    """Who handles it: "Anna · 4 min" (a team member claimed it), "✓ on it", "snoozed until
    14:30", or ""."""
    if w.claimed_by:
        since = f" · {human(now - w.claimed_at)}" if w.claimed_at else ""
        return f"{plain(w.claimed_by, 24)}{since}"
    if w.acknowledged:
        return _("✓ on it")
    if w.snoozed_until is not None and w.snoozed_until > now:
        return _("snoozed until {time}").format(time=clock_time(w.snoozed_until))
    return ""


def ticket_label(
    w: WaitingTicket, now: datetime, show_assignee: bool = False, unbroken: bool = False
) -> str:
    """The ticket's line: number, subject, time, who handles it. ``unbroken`` (a list that
    wraps its rows): the parts after the subject keep their spaces, so "overdue by 5 min"
    moves to the next line whole instead of leaving "min" alone on one."""
    t = w.ticket
    parts = [due_text(w, now)]
    who = handling(w, now)
    if who:
        parts.append(who)
    elif show_assignee and w.state is DueState.OVERDUE:
        parts.append(plain(t.assignee, 30) if t.assignee else _("unassigned"))
    if w.stale:
        parts.append(_("not current"))
    if unbroken:
        parts = [part.replace(" ", "\u00a0") for part in parts]
    return "  ·  ".join([f"{ticket_name(w)}  {plain(t.subject)}", *parts])


def ticket_details(w: WaitingTicket, now: datetime) -> str:
    t = w.ticket
    parts = [plain(t.requester, 30)] if t.requester else []
    parts += [
        plain(t.category or t.source, 30),
        _("waiting {duration}").format(duration=human(now - t.waiting_since)),
    ]
    return " · ".join(parts)


def source_error(s: SourceHealth) -> str:
    return s.message or (_("not read yet") if s.health is Health.UNKNOWN else _("failing"))


# --------------------------------------------------------------------------- the model


def due_order(w: WaitingTicket) -> tuple[datetime, datetime]:
    return (w.due_at, w.ticket.waiting_since)


def group_name(w: WaitingTicket, group_by: str) -> str:
    return w.ticket.source if group_by == "source" else (w.ticket.category or _("Other"))


def ticket_sections(
    status: Status,
    group_by: str = "category",
    pinned: Sequence[str] = (),
    limit: int = MENU_LIMIT,
) -> tuple[list[tuple[str, list[WaitingTicket]]], int]:
    """The menu's sections (title, tickets) and how many tickets did not fit.

    The ``limit`` soonest due are shown (escalated ones, the ``pinned`` keys, before all), then
    grouped: escalated, overdue, then each group in alphabetical order ("Other" last), so
    groups keep their place as tickets come and go; tickets in due order inside each.
    """
    tickets = sorted(status.tickets, key=due_order)
    tickets = [w for w in tickets if w.ticket.key in pinned] + [
        w for w in tickets if w.ticket.key not in pinned
    ]
    chosen = tickets[: max(0, limit)]
    sections: list[tuple[str, list[WaitingTicket]]] = []
    top = [w for w in chosen if w.ticket.key in pinned]
    overdue = [w for w in chosen if w not in top and w.state is DueState.OVERDUE]
    for title, items in ((_("Escalated"), top), (_("Overdue"), overdue)):
        if items:
            sections.append((title, items))
    groups: dict[str, list[WaitingTicket]] = {}
    for w in chosen:
        if w not in top and w not in overdue:
            groups.setdefault(group_name(w, group_by), []).append(w)
    sections += [(name, groups[name]) for name in group_order(groups)]
    return sections, len(tickets) - len(chosen)


def group_order(names: Iterable[str]) -> list[str]:
    """Groups in alphabetical order, "Other" last: each keeps its place as tickets come and go."""
    other = _("Other")
    return sorted(names, key=lambda name: (name == other, name.casefold(), name))


def known_waiting(n: int, *, first: bool = False) -> str:
    """The count while a helpdesk cannot be read: "3 known waiting", or "nothing known" (never
    a false "0"); ``first``: it begins a line ("Nothing known")."""
    if n:
        return ngettext("{count} known waiting", "{count} known waiting", n).format(count=n)
    known = _("nothing known")
    return known[:1].upper() + known[1:] if first else known


def tooltip_headline(status: Status) -> str:
    """ "Ticketbell — 3 waiting (1 overdue, 2 due soon)"; overdue is never hidden."""
    n, overdue, soon = status.waiting, status.overdue, status.due_soon
    extra = [ngettext("{count} overdue", "{count} overdue", overdue).format(count=overdue)]
    extra = extra if overdue else []
    if soon:
        extra.append(ngettext("{count} due soon", "{count} due soon", soon).format(count=soon))
    if status.blind:
        return _("Ticketbell cannot see every helpdesk — {counts}").format(
            counts=", ".join([known_waiting(n), *extra])
        )
    waiting = ngettext("{count} waiting", "{count} waiting", n).format(count=n)
    if extra:
        return _("Ticketbell — {waiting} ({details})").format(
            waiting=waiting, details=", ".join(extra)
        )
    return _("Ticketbell — {waiting}").format(waiting=waiting)


#: why the agent holds pop-ups and sounds (Status.held), as the tooltip says it
HELD: dict[str, Callable[[], str]] = {
    "do not disturb": lambda: _(
        "Do not disturb is on: notifications and sounds wait until it ends"
    ),
    "away": lambda: _("You are away: notifications and sounds wait until you are back"),
}


def tooltip(status: Status, now: datetime, sound_note: str = "") -> str:
    lines = []
    lines.append(tooltip_headline(status))
    if status.held:  # said, or a person would wonder why nothing rings
        lines.append(HELD.get(status.held, HELD["do not disturb"])())
    cats: dict[str, int] = {}  # the menu's group names: no category is "Other", translated
    for w in status.tickets:
        name = group_name(w, "category")
        cats[name] = cats.get(name, 0) + 1
    if cats:  # in the menu's order, not the tickets': the line does not reshuffle at each poll
        lines.append(" · ".join(f"{plain(c, 30)} {cats[c]}" for c in group_order(cats)))
    if len(status.sources) > 1:
        counts = status.by_source()  # "?" for a helpdesk not read that holds no known ticket
        unknown = {s.name for s in status.sources if s.stale and not counts.get(s.name)}
        tally = (f"{plain(n, 30)} {'?' if n in unknown else c}" for n, c in counts.items())
        lines.append(" · ".join(tally))
    upcoming = [w for w in status.tickets if w.due_at > now]
    if upcoming:
        w = min(upcoming, key=lambda x: x.due_at)
        lines.append(
            _("next due in {duration}, {group}").format(
                duration=human(w.due_at - now), group=plain(w.ticket.category or w.ticket.source)
            )
        )
    for s in status.sources:
        if s.health == Health.SLOWED:
            lines.append(f"{plain(s.name, 40)}: {plain(s.message, 120)}")
        elif s.stale:
            why = plain(source_error(s), 120)
            lines.append(_("cannot read {name}: {why}").format(name=plain(s.name, 40), why=why))
    lines += [plain(n, 160) for n in status.notices]
    if sound_note:
        lines.append(sound_note)
    return tip_text("\n".join(lines))


# --------------------------------------------------------------------------- menus


def info(menu: QMenu, text: str) -> QAction:
    action = add_action(menu, menu_text(text))
    action.setEnabled(False)
    return action


def fill_ticket_menu(menu: QMenu, w: WaitingTicket, now: datetime, owner: TicketActions) -> None:
    """A ticket's actions: Open, I'm on it (or undo it), Snooze 15/30/60 min (or end it).
    The tray's submenus, the ticket list's and the no-tray window's right-click menus."""
    t = w.ticket
    info(menu, ticket_details(w, now))
    add_action(menu, _("Open")).triggered.connect(lambda _=False: owner.open_ticket(w))
    agent = owner.agent
    if w.acknowledged:
        undo = add_action(menu, _("Undo “I'm on it”"))
        undo.triggered.connect(lambda _=False: agent.acknowledge(t.source, t.id, release=True))
    else:
        ack = add_action(menu, _("I'm on it"))
        ack.triggered.connect(lambda _=False: agent.acknowledge(t.source, t.id))
    for minutes in SNOOZES:
        add_action(menu, _("Snooze {minutes} min").format(minutes=minutes)).triggered.connect(
            lambda _=False, m=minutes: agent.snooze(t.source, t.id, m)
        )
    if w.snoozed_until is not None and w.snoozed_until > now:
        until = clock_time(w.snoozed_until)
        end = add_action(menu, _("End snooze (until {time})").format(time=until))
        end.triggered.connect(lambda _=False: agent.snooze(t.source, t.id, 0))


def add_ticket_rows(
    menu: QMenu,
    sections: list[tuple[str, list[WaitingTicket]]],
    now: datetime,
    owner: TicketActions,
    show_assignee: bool,
    accents: Mapping[str, str] | None = None,
) -> None:
    """Each ticket as a submenu of its actions, under its section's title; the submenu's
    action carries the ticket's key as its data. ``accents``: a helpdesk's colour by its name
    (``[[sources]] accent``), a dot beside each of its tickets."""
    for title, items in sections:
        # a separator and a line of its own, not addSection: a tray host that draws the menu
        # itself (StatusNotifierItem's dbusmenu) shows a section's title as a bare separator
        menu.addSeparator()
        info(menu, plain(title, 40))
        for w in items:
            sub = QMenu(menu_text(ticket_label(w, now, show_assignee)), menu)
            colour = (accents or {}).get(w.ticket.source)
            if colour:
                sub.setIcon(accent_icon(colour))
            fill_ticket_menu(sub, w, now, owner)
            menu.addMenu(sub).setData(w.ticket.key)


@lru_cache(maxsize=32)
def accent_icon(colour: str) -> QIcon:
    """A dot of ``colour`` ("#rrggbb"): which helpdesk a ticket in the menu comes from."""
    pixmap = QPixmap(16, 16)
    pixmap.fill(QtCore.Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QtCore.Qt.PenStyle.NoPen)
    painter.setBrush(QColor(colour))
    painter.drawEllipse(3, 3, 10, 10)
    painter.end()
    return QIcon(pixmap)


def add_source_errors(
    menu: QMenu, status: Status, open_source: Callable[[str], None], width: int = 64
) -> None:
    """Notices, then each helpdesk that cannot be read or is slowed, its message in full
    (wrapped over lines: a menu entry is one line); a click opens its settings."""
    for note in status.notices:
        for line in textwrap.wrap("⚠ " + plain(note, 300), width)[:5]:
            info(menu, line)
    for s in status.sources:
        if s.health is Health.SLOWED:
            head, why = f"{plain(s.name, 30)}:", plain(s.message, 300)
        elif s.stale:
            head = _("⚠ Cannot read {name}:").format(name=plain(s.name, 30))
            why = plain(source_error(s), 300)
        else:
            continue
        lines = textwrap.wrap(f"{head} {why}", width)[:5]
        lines = lines[:1] + ["    " + line for line in lines[1:]]
        if s.sign_in:  # its settings have the Sign in… button
            lines.append(_("Sign in to {name}…").format(name=plain(s.name, 30)))
        for line in lines:
            action = add_action(menu, menu_text(line))
            action.setToolTip(_("Open this helpdesk's settings"))
            action.triggered.connect(lambda _=False, name=s.name: open_source(name))


def add_mute_menu(menu: QMenu, note: str, muted: bool, choose: Callable[[str], None]) -> QMenu:
    """One "Mute" submenu: 15 min, 1 hour, until tomorrow, unmute."""
    sub = menu.addMenu(menu_text(_("Mute ({note})").format(note=note) if muted else _("Mute")))
    choices = (("15m", _("For 15 min")), ("1h", _("For 1 hour")), ("tomorrow", _("Until tomorrow")))
    for key, label in choices:
        add_action(sub, label).triggered.connect(lambda _=False, k=key: choose(k))
    sub.addSeparator()
    unmute = add_action(sub, _("Unmute"))
    unmute.setEnabled(muted)
    unmute.triggered.connect(lambda _=False: choose("off"))
    return sub


def column_height(menu: QMenu) -> int:
    """The height ``menu`` would take in one column (its size hint is that of the columns Qt
    lays out when the menu is taller than the screen)."""
    rows = sum(menu.actionGeometry(a).height() for a in menu.actions() if a.isVisible())
    first = menu.actions()[0] if menu.actions() else None
    top = menu.actionGeometry(first).top() if first is not None else 0
    return rows + 2 * top


def add_group_by(menu: QMenu, group_by: str, choose: Callable[[str], Any]) -> None:
    group = menu.addMenu(_("Group tickets by"))
    choice = QActionGroup(group)
    for value, label in (("category", _("Category")), ("source", _("Helpdesk"))):
        act = QAction(label, group, checkable=True)
        act.setChecked(group_by == value)
        act.triggered.connect(lambda _=False, v=value: choose(v))
        choice.addAction(act)
        group.addAction(act)
