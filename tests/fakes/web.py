"""What every fake helpdesk server shares: a loopback HTTP server and the ways servers fail.

Each fake (``tests/fakes/<helpdesk>.py``) subclasses :class:`FakeHelpdesk`, answers the real
API's paths in ``handle`` and renders errors in its helpdesk's own shape in ``error``. Setting
``failure`` makes the next requests fail the way real servers do: a login page instead of JSON,
an endless body, or an HTTP status with the helpdesk's headers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from agent.sources.base import Forbidden, SourceError

LOGIN_PAGE = """<!DOCTYPE html>
<html><head><title>Sign in</title></head>
<body><form method="post" action="/login"><input name="email"><input name="password"
type="password"><button>Sign in</button></form></body></html>"""


@contextlib.contextmanager
def local_server() -> Iterator[HTTPServer]:
    """A pytest-httpserver bound to 127.0.0.1 on a free port, stopped on exit."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (the connection is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(data), status=status, headers=headers or {}, content_type="application/json"
    )


def endless_json() -> Response:
    """A JSON array that never ends (chunked, no Content-Length)."""

    def body() -> Iterator[bytes]:
        yield b'[{"id": 1, "padding": "'
        chunk = b"x" * 65536
        while True:
            yield chunk

    return Response(body(), status=200, content_type="application/json")


def etag_of(payload: bytes) -> str:
    return 'W/"' + hashlib.sha1(payload).hexdigest() + '"'  # noqa: S324 - a cache tag


class FakeHelpdesk:
    """Routes every request of ``server`` to ``handle`` unless a ``failure`` is set.

    ``failure`` is one of: ``"html_login"`` (200 text/html login form), ``"redirect_login"``
    (302 to the login page), ``"endless"`` (a body that never ends), ``"bad_shape"`` (valid
    JSON of the wrong shape, see ``bad_shape``), or an int HTTP status rendered by ``error``
    (with ``failure_headers``).
    """

    def __init__(self, server: HTTPServer) -> None:
        server.clear()  # a server may be shared by a module's tests: one fake at a time
        self.server = server
        self.requests: list[Request] = []
        self.failure: str | int | None = None
        self.failure_headers: dict[str, str] = {}
        #: where next links point; None: the address the request came to, as a real server
        #: behind its own name does (set it to another server to make a page link elsewhere)
        self.link_origin: str | None = None
        #: requests still to answer with the kind's own 429: (which request, its headers)
        self.limits: list[tuple[Callable[[Request], bool], dict[str, str]]] = []
        self.limited: list[Request] = []
        server.expect_request(re.compile(".*")).respond_with_handler(self._dispatch)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def origin(self, request: Request) -> str:
        """``scheme://host:port`` for the links of an answer to ``request``."""
        return self.link_origin or request.host_url.rstrip("/")

    def limit_once(self, match: Callable[[Request], bool], headers: dict[str, str]) -> None:
        """Answer the next request that ``match``es with this kind's own 429 and ``headers``
        (``Retry-After``, a reset header), once: a rate limit hit part way through a poll."""
        self.limits.append((match, headers))

    def _dispatch(self, request: Request) -> Response:
        self.requests.append(request)
        for n, (match, headers) in enumerate(self.limits):
            if match(request):
                del self.limits[n]
                self.limited.append(request)
                return self.error(429, dict(headers))
        if self.failure is None:
            return self.handle(request)
        if self.failure == "html_login":
            return Response(LOGIN_PAGE, status=200, content_type="text/html")
        if self.failure == "redirect_login":
            return Response("", status=302, headers={"Location": f"{self.base}/login"})
        if self.failure == "endless":
            return endless_json()
        if self.failure == "bad_shape":
            return json_response(self.bad_shape())
        assert isinstance(self.failure, int)
        return self.error(self.failure, dict(self.failure_headers))

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    # -- what each helpdesk defines

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def error(self, status: int, headers: dict[str, str]) -> Response:
        return json_response({"message": f"HTTP {status}"}, status, headers)

    def bad_shape(self) -> Any:
        return {"unexpected": True}


def expect_failure(
    fetch: Callable[[], object],
    fake: FakeHelpdesk,
    failure: str | int,
    headers: dict[str, str],
    error: type[SourceError],
    words: str | Iterable[str],
    secrets: Iterable[str],
    log_text: Callable[[], str],
) -> SourceError:
    """Make ``fake`` fail as ``failure`` and check what one fetch raises, for every connector.

    The error is of the expected class and says ``words`` (or one of them: a fake's own words
    for the failure, whichever of its error body's texts the connector shows); a 401 is never a
    mere Forbidden; and no secret appears in the message, the log detail or the log. Returns the
    error for kind-specific checks (Retry-After and the like).
    """
    fake.failure = failure
    fake.failure_headers = headers
    with pytest.raises(error) as info:
        fetch()
    said = [words] if isinstance(words, str) else list(words)
    assert any(w in str(info.value) for w in said), f"none of {said} in {str(info.value)!r}"
    if failure == 401:
        assert not isinstance(info.value, Forbidden)
    for text in (str(info.value), info.value.detail, log_text()):
        for secret in secrets:
            assert secret not in text
    return info.value
