"""The one-shot loopback listener of the browser sign-in (RFC 8252), in its own module so that
``http.server`` (and with it ``http.client`` and OpenSSL) is imported only when a person signs in
in the browser, not by every process that imports the agent.
"""

from __future__ import annotations

import http.server
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit


class RedirectServer(http.server.HTTPServer):
    """The one-shot loopback listener; ``result`` is the query of the browser's redirect."""

    result: dict[str, str]

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), Redirect)
        self.result = {}
        self.timeout = 0.25


class Redirect(http.server.BaseHTTPRequestHandler):
    """The one request the browser makes to the loopback redirect URI."""

    server: RedirectServer

    def do_GET(self) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        if "code" not in query and "error" not in query:
            self.send_response(404)
            self.end_headers()
            return
        self.server.result = query
        ok = "code" in query
        text = (
            "Signed in. You can close this window and go back to Ticketbell."
            if ok
            else "Signing in did not work. Go back to Ticketbell and try again."
        )
        body = f"<!DOCTYPE html><title>Ticketbell</title><p>{text}</p>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the query holds the authorization code: never logged


def serve_until_answer(server: RedirectServer, cancel: threading.Event, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not server.result and not cancel.is_set() and time.monotonic() < deadline:
        server.handle_request()
