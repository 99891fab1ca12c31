"""The built-in demo helpdesk: tickets come and go over time, no network needed.

Everything derives from the clock, not from chance: ticket ``k`` is opened at ``k * SLOT``
seconds since the epoch and answered a fixed, hash-derived time later. A restart therefore sees
exactly the tickets it saw before, and the demo shows every feature within a minute: a new ticket
every ``SLOT`` seconds, some backdated so they are already close to (or past) their window.
"""

from __future__ import annotations

from datetime import datetime

from agent.i18n import N_
from agent.model import UTC, Snapshot, Ticket
from agent.sources.base import Option, Source

SLOT = 40  # seconds between two new demo tickets
CATEGORIES = ("Billing", "Downloads", "Sales", "Technical")
SUBJECTS = (
    "Invoice shows the wrong VAT number",
    "Download link expired before I could use it",
    "Do you offer a discount for schools?",
    "App crashes when I open the settings",
    "Charged twice for one order",
    "Cannot find my licence key",
    "Bulk pricing for 50 seats",
    "Password reset email never arrives",
    "Refund for an accidental purchase",
    "Installer says the file is damaged",
    "Can I upgrade my plan mid-month?",
    "Sync stopped working after the update",
)
REQUESTERS = (
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Katherine Johnson",
    "Linus Pauling",
    "Hedy Lamarr",
    "Tim Berners-Lee",
    "Margaret Hamilton",
)

ASSIGNEES = ("Ann", "Bo", "Chen", "Dara")


def _hash(k: int) -> int:
    """A fixed scramble of the slot number (Knuth's multiplicative hash)."""
    return (k * 2654435761) & 0xFFFFFFFF


def _priority(h: int) -> str:
    r = (h >> 8) % 10
    return "urgent" if r == 0 else "high" if r <= 2 else "normal" if r <= 6 else "low"


def demo_cycle(source: str, k: int) -> tuple[Ticket, datetime]:
    """Demo ticket ``k`` (opened at ``k * SLOT`` s since the epoch) and when it is answered."""
    h = _hash(k)
    opened = k * SLOT
    # One ticket in four arrived earlier than it shows here: close to or past its window.
    backdate = 540 + (h >> 4) % 420 if (h >> 20) % 4 == 0 else 0
    created = datetime.fromtimestamp(opened - backdate, UTC)
    ticket = Ticket(
        source=source,
        id=f"D{k}",
        subject=SUBJECTS[(h >> 12) % len(SUBJECTS)],
        requester=REQUESTERS[(h >> 16) % len(REQUESTERS)],
        category=CATEGORIES[(h >> 12) % len(CATEGORIES)],
        priority=_priority(h),
        status="open",
        created_at=created,
        waiting_since=created,
        url=f"https://example.com/ticketbell-demo/tickets/D{k}",
        assignee=ASSIGNEES[(h >> 24) % len(ASSIGNEES)],
    )
    return ticket, datetime.fromtimestamp(opened + 90 + h % 600, UTC)


def demo_tickets(source: str, now: datetime) -> list[Ticket]:
    """The demo tickets waiting at ``now``: a pure function of the clock."""
    epoch = int(now.timestamp())
    longest = 700
    tickets = []
    for k in range((epoch - longest) // SLOT, epoch // SLOT + 1):
        ticket, answered = demo_cycle(source, k)
        if k * SLOT <= epoch < answered.timestamp():
            tickets.append(ticket)
    return tickets


class DemoSource(Source):
    kind = "demo"
    title = N_("Demo helpdesk")
    description = N_("built-in demo helpdesk: tickets appear and get answered, no network")
    needs_secret = False
    # where the demo tickets' links point (the tray opens only links on a source's own site)
    optional = (Option("url", N_("Demo address"), default="https://example.com/ticketbell-demo"),)

    def fetch(self, since: datetime | None) -> Snapshot:
        now = self.clock()
        tickets = [t for t in demo_tickets(self.name, now) if self.wants(t.category)]
        return Snapshot(self.name, tuple(tickets), now)

    def list_categories(self) -> list[str]:
        return list(CATEGORIES)
