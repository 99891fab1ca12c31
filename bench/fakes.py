"""Fake helpdesks for the benchmarks: a JSON helpdesk API on 127.0.0.1, in its own process.

Each desk ``d`` answers ``GET /desk/<d>/tickets?page=<k>`` with ``page_size`` tickets in the
shape of the generic ``json`` kind (``data.tickets``, ``links.next``; see
``tests/fakes/jsonapi.py``), an API key in ``X-Api-Key`` and no ETag (the worst case: an
in-house endpoint that cannot say "not modified", so every poll downloads every page).
Pages are rendered once and served as bytes, so the server's own cost stays small and the
same for the floor and the measured cycle.

``POST /control/add?desk=<d>`` adds one waiting ticket to a desk (for the detection latency).

The server runs in a separate process so that it does not compete with the agent for the GIL:
``with serve(desks=5, tickets=10_000) as server: server.url(0)``.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

if __package__ in (None, ""):  # run as a script: `python bench/fakes.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fakes.jsonapi import FIELDS

UTC = timezone.utc
KEY = "bench-api-key-0f3c9a"
KEY_ENV = "TICKETBELL_BENCH_KEY"
QUEUES = ("Billing", "Downloads", "Sales", "Technical")
PRIOS = ("low", "normal", "normal", "high", "urgent")

#: the ``json`` kind's options for these desks (the keys of one ``[[sources]]`` table)
SOURCE_OPTIONS: dict[str, Any] = {
    "auth_header": "X-Api-Key",
    "items": "data.tickets",
    "next": "links.next",
    "waiting_statuses": ["open"],
    "fields": dict(FIELDS),
}


def ticket_item(desk: int, n: int, now: datetime) -> dict[str, Any]:
    """One ticket as the fake API lists it; a pure function of (desk, n, now)."""
    opened = now - timedelta(minutes=5 + (n * 7) % 600)  # within the last 10 hours
    item: dict[str, Any] = {
        "ticket_id": desk * 1_000_000 + n,
        "title": f"Order {n} arrived damaged, please advise on a replacement",
        "state": "open",
        "prio": PRIOS[n % len(PRIOS)],
        "customer": {"name": f"Customer {n % 997}", "email": f"c{n % 997}@example.com"},
        "queue": {"id": n % len(QUEUES), "name": QUEUES[n % len(QUEUES)]},
        "opened_at": opened.isoformat(),
        "last_customer_message_at": int((opened + timedelta(minutes=1)).timestamp() * 1000),
        "links": {"web": f"https://desk{desk}.example.com/t/{desk * 1_000_000 + n}"},
    }
    if n % 7 == 0:  # one in seven has the helpdesk's own deadline, far enough to stay put
        due = opened + timedelta(hours=48)
        item["sla"] = {"due": due.strftime("%Y-%m-%dT%H:%M:%SZ")}
    return item


class Desks:
    """The tickets of every desk and their pages, rendered once per change."""

    def __init__(self, desks: int, tickets: int, page_size: int, now: datetime) -> None:
        self.page_size = page_size
        self.now = now
        self.items = [
            [ticket_item(d, n, now) for n in range(d, tickets, desks)] for d in range(desks)
        ]
        self.base = ""
        self.lock = threading.Lock()
        self.pages: dict[int, list[bytes]] = {}

    def page(self, desk: int, number: int) -> bytes | None:
        with self.lock:
            if desk not in self.pages:
                self.pages[desk] = self._render(desk)
            pages = self.pages[desk]
        return pages[number - 1] if 1 <= number <= len(pages) else None

    def _render(self, desk: int) -> list[bytes]:
        items = self.items[desk]
        size = self.page_size
        count = max(1, -(-len(items) // size))
        url = f"{self.base}/desk/{desk}/tickets"
        return [
            orjson.dumps(
                {
                    "data": {"tickets": items[(k - 1) * size : k * size]},
                    "links": {"next": f"{url}?page={k + 1}" if k < count else None},
                }
            )
            for k in range(1, count + 1)
        ]

    def add(self, desk: int) -> int:
        with self.lock:
            n = 10_000_000 + len(self.items[desk])
            item = ticket_item(desk, n, datetime.now(UTC))
            self.items[desk].insert(0, item)
            self.pages.pop(desk, None)
        return int(item["ticket_id"])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real API
    disable_nagle_algorithm = True  # headers and body go out at once (no 40 ms delayed ACK)
    desks: Desks

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        segments = parts.path.strip("/").split("/")
        if self.headers.get("X-Api-Key") != KEY:
            self._send(401, b'{"error": "invalid api key"}')
            return
        if len(segments) == 3 and segments[0] == "desk" and segments[2] == "tickets":
            number = int(parse_qs(parts.query).get("page", ["1"])[0])
            body = self.desks.page(int(segments[1]), number)
            if body is not None:
                self._send(200, body)
                return
        self._send(404, b'{"error": "no such route"}')

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/control/add":
            desk = int(parse_qs(parts.query)["desk"][0])
            self._send(200, orjson.dumps({"ticket_id": self.desks.add(desk)}))
            return
        self._send(404, b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Server:
    """A handle on the fake's process: its URLs and the control endpoint."""

    def __init__(self, base: str, process: subprocess.Popen[str]) -> None:
        self.base = base
        self.process = process

    def url(self, desk: int) -> str:
        return f"{self.base}/desk/{desk}/tickets"

    def add(self, desk: int) -> int:
        import requests

        response = requests.post(f"{self.base}/control/add", params={"desk": desk}, timeout=10)
        response.raise_for_status()
        return int(response.json()["ticket_id"])


@contextlib.contextmanager
def serve(desks: int, tickets: int, page_size: int = 100) -> Iterator[Server]:
    """Start the fake in a child process on 127.0.0.1; stop it on exit."""
    process = subprocess.Popen(
        [sys.executable, __file__, str(desks), str(tickets), str(page_size)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("http://"):
            raise RuntimeError(f"the fake helpdesk did not start: {line!r}")
        yield Server(line, process)
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("desks", type=int)
    parser.add_argument("tickets", type=int)
    parser.add_argument("page_size", type=int)
    args = parser.parse_args()
    desks = Desks(args.desks, args.tickets, args.page_size, datetime.now(UTC))
    Handler.desks = desks
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    desks.base = f"http://127.0.0.1:{server.server_address[1]}"
    print(desks.base, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
