"""The one place for HTTP: every connector's requests go through :class:`HttpClient`.

What it does for every kind, so no connector writes it again:
- connect and read timeouts; TLS verification on (or a CA bundle per source); proxies from the
  environment or a per-source override;
- no silent redirects: a redirect to a login page, or HTML where JSON was asked, is an
  authentication problem, never "0 tickets";
- a size limit per response and a page cap per poll, so a misbehaving server cannot make us
  loop forever or hold a gigabyte in memory; a page that links back to one already read stops;
- 429/503 (and GitHub's secondary rate limit, a 403) with a short Retry-After or reset (up to
  a minute, within the fetch's time budget) are waited out and the same request asked again;
  a longer one ends the fetch with :class:`RateLimited` carrying the wait (at most an hour);
  remaining-quota headers turn into a ``throttle`` hint so the agent slows down *before* the
  limit;
- every URL requested keeps the source's scheme, host and port: a next link or any other URL
  from a helpdesk's answer that points elsewhere (an ``http://`` downgrade included) is refused
  before anything, the token least of all, is sent there;
- ETag / Last-Modified revalidation, so an idle poll costs a 304;
- every failure classified into the errors of ``agent.sources.base`` with a message a
  non-technical person understands; details go to the log, secrets go nowhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple
from urllib.parse import urljoin, urlsplit

import orjson
import requests
import urllib3

from agent import __version__
from agent.i18n import N_, Text, english
from agent.sources.errors import (
    MAX_FETCH_BYTES,
    BadResponse,
    RateLimited,
    Unavailable,
    current_budget,
    too_slow,
)
from agent.sources.http_errors import (
    CUT_OFF,
    FOREIGN_LINK,
    MOVED_AWAY,
    NOT_VALID_JSON,
    OVER_POLL_BUDGET,
    OVER_RESPONSE_CAP,
    PAGE_LOOP,
    STOPPED_WAITING,
    TOO_LARGE,
    content_type,
    is_login_page,
    looks_like_json,
    not_json_error,
    redirect_error,
    request_failure,
    safe_url,
    status_error,
    strip_queries,
)
from agent.sources.http_limits import (  # noqa: F401 - connectors and tests import them from here
    SECONDARY_LIMIT_WAIT,
    clamp_wait,
    reset_seconds,
    retry_after_seconds,
    throttle_hint,
)
from agent.sources.http_transport import (
    Session,
    connecting,
    is_loopback,
    same_origin,
)

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
MAX_BYTES = 20 * 1024 * 1024  # one response; a page of 100 tickets is ~100 KiB
MAX_PAGES = 50
MAX_INLINE_WAIT = 60.0  # a rate-limit wait up to this long is waited out inside the fetch
MAX_RATE_RETRIES = 5  # the same request asked again at most this often after a short wait
FETCH_BUDGET_TIMEOUTS = 4  # a fetch's waits stay within this many read timeouts
MAX_POLL_MIB = MAX_FETCH_BYTES // 1_048_576
USER_AGENT = f"Ticketbell/{__version__} (+helpdesk tray agent)"
_HEADERS = {"User-Agent": USER_AGENT, "Accept": "application/json"}


class _Request(NamedTuple):
    method: str
    url: str
    params: Mapping[str, Any] | None
    headers: Mapping[str, str]
    data: Any = None
    json_body: Any = None


#: what a GET answered with validators: (ETag, Last-Modified, the page)
_Cached = tuple["str | None", "str | None", "Page"]


def _with_validators(headers: Mapping[str, str] | None, cached: _Cached | None) -> dict[str, str]:
    """The headers to send, with If-None-Match / If-Modified-Since for a page kept before."""
    send = dict(headers or {})
    if cached:
        etag, modified, _page = cached
        if etag:
            send["If-None-Match"] = etag
        if modified:
            send["If-Modified-Since"] = modified
    return send


@dataclass
class Page:
    """One JSON response: the parsed body and the response's headers and final URL.

    ``from_cache`` is True when the server said 304 Not Modified, or sent a body identical to
    the last one for the same request: the connector may reuse what it parsed from it then.
    """

    data: Any
    url: str
    headers: Mapping[str, str]
    status: int
    links: Mapping[str, Mapping[str, str]]
    from_cache: bool = False


class _UnchangedPage(Page):
    """A body identical to the last one (valid JSON then): parsed only if ``data`` is read.

    A connector that kept what it made of the page never pays for parsing it again.
    """

    def __init__(self, body: bytes, url: str, headers: Mapping[str, str], status: int,
                 links: Mapping[str, Mapping[str, str]]) -> None:  # fmt: skip
        self._body: bytes | None = body
        self._data: Any = None
        super().__init__(None, url, headers, status, links, True)

    @property
    def data(self) -> Any:
        if self._body is not None:
            self._data, self._body = orjson.loads(self._body), None
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        if value is not None:  # the dataclass __init__ sets None: keep the body for later
            self._data, self._body = value, None


@dataclass
class Pages:
    """What :meth:`HttpClient.paginate` read: the pages in order, whether that is all of them,
    and the helpdesk's slow-down hint.

    ``complete`` is False when the page cap stopped the listing before its end: tickets missing
    from it must then not be taken as answered. ``throttle`` is the longest wait any page's
    quota headers asked for before the next poll (None: no hint). Iterating yields the pages.
    """

    pages: list[Page] = field(default_factory=list)
    complete: bool = True
    throttle: float | None = None

    def __iter__(self) -> Iterator[Page]:
        return iter(self.pages)

    def __len__(self) -> int:
        return len(self.pages)

    def add(self, page: Page) -> None:
        self.pages.append(page)
        hint = throttle_hint(page.headers)
        if hint is not None:
            self.throttle = max(hint, self.throttle or 0.0)


def _warn_if_insecure(name: str, base_url: str, verify: bool | str) -> None:
    host = urlsplit(base_url).hostname or ""
    if base_url.startswith("http://") and host and not is_loopback(host):
        log.warning("%s: %s uses plain http; the token crosses the network unencrypted", name, host)
    if verify is False:
        log.warning("%s: TLS certificate verification is OFF for %s", name, host)


class HttpClient:
    """A requests.Session configured for one source. Not shared across threads.

    ``auth`` is anything requests accepts (a tuple for Basic, an AuthBase); ``headers`` are
    sent with every request (e.g. ``Authorization: Bearer``). The secrets inside either are
    registered with ``agent.secrets`` by the caller so the log redacts them.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        verify: bool | str = True,
        proxy: str = "",
        auth: Any = None,
        headers: Mapping[str, str] | None = None,
        max_bytes: int = MAX_BYTES,
        max_pages: int = MAX_PAGES,
        name: str = "",
        fetch_budget: float | None = None,
        follow_moved: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/" if base_url else ""
        self.timeout = (min(CONNECT_TIMEOUT, timeout), timeout)
        #: the longest a listing's rate-limit waits may take together (a few read timeouts)
        self.fetch_budget = (
            FETCH_BUDGET_TIMEOUTS * timeout if fetch_budget is None else fetch_budget
        )
        #: a deadline set on this client itself (tests, a caller outside the engine); the
        #: engine's per-fetch budget applies otherwise, see :attr:`deadline`
        self._deadline: float | None = None
        self._closed = threading.Event()
        self.max_bytes = max_bytes
        self.max_pages = max_pages
        self.name = name or urlsplit(base_url).hostname or "helpdesk"
        #: follow a GET's redirect (301/302/307/308) when it stays on the same scheme, host and
        #: port, with the same credentials; one to another host is refused, never followed
        self.follow_moved = follow_moved
        self.session = Session.for_source(verify, proxy, auth, {**_HEADERS, **(headers or {})})
        # passed with every request too: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE in the
        # environment override a session's verify (a CA bundle path, or False)
        self.verify = verify
        self._cache: dict[str, _Cached] = {}
        self._digests: dict[str, bytes] = {}
        #: the connection of the request under way (set on the requesting thread), for abort()
        self._connection: Any = None
        _warn_if_insecure(self.name, base_url, verify)

    # ------------------------------------------------------------------ requests

    @property
    def deadline(self) -> float | None:
        """When the fetch under way must end (``time.monotonic()`` seconds), or None.

        Set by the engine for each fetch (``base.fetch_budget``: a few times ``timeout``);
        every request, each read of a body and each wait inside a fetch stays before it.
        """
        if self._deadline is not None:
            return self._deadline
        budget = current_budget()
        return budget.deadline if budget is not None else None

    @deadline.setter
    def deadline(self, value: float | None) -> None:
        self._deadline = value

    def time_left(self) -> float | None:
        """Seconds until :attr:`deadline` (negative once past it), or None when unlimited."""
        deadline = self.deadline
        return None if deadline is None else deadline - time.monotonic()

    def _check_deadline(self, url: str) -> None:
        left = self.time_left()
        if left is not None and left <= 0:
            budget = current_budget()
            seconds = budget.seconds if budget is not None else 0
            raise too_slow(self.name, seconds, f"fetch deadline passed at {safe_url(url)}")

    def url(self, path: str) -> str:
        """Join a relative API path to the base URL. An absolute URL (a next link, a URL from a
        helpdesk's answer) must keep the source's scheme, host and port, or it is refused with
        :class:`BadResponse` naming the foreign host: the token is never sent elsewhere."""
        try:
            relative = not urlsplit(path).scheme and not path.startswith(("//", "\\\\"))
        except ValueError:
            relative = False
        if relative:
            return urljoin(self.base_url, path.lstrip("/"))
        if self.base_url and not same_origin(path, self.base_url):
            try:
                parts = urlsplit(path)
                port = f":{parts.port}" if parts.port else ""
                foreign: str | Text = f"{parts.scheme}://{parts.hostname or '?'}{port}"
            except ValueError:
                foreign = Text(N_("an unreadable address"))
            raise BadResponse(
                Text(FOREIGN_LINK, name=self.name, address=foreign),
                f"refused {english(foreign)}: not the origin of {safe_url(self.base_url)}",
            )
        return path

    def get_json(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        revalidate: bool = True,
    ) -> Page:
        """GET a JSON document. Raises only the errors of ``agent.sources.base``."""
        return self.request_json("GET", path, params=params, headers=headers, revalidate=revalidate)

    def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        json_body: Any = None,
        revalidate: bool = False,
    ) -> Page:
        """Send one request and read its JSON answer. Raises only the errors of ``base``."""
        url = self.url(path)
        cache_key = url + "?" + json.dumps(params or {}, sort_keys=True, default=str)
        revalidate = revalidate and method == "GET"
        cached = self._cache.get(cache_key) if revalidate else None
        send_headers = _with_validators(headers, cached)
        request = _Request(method, url, params, send_headers, data, json_body)
        response, body = self._answer(request, cached)
        if body is None:  # 304 Not Modified: the page kept with its validators
            assert cached is not None  # a 304 is taken only as the answer to a cached page
            page = cached[2]
            return Page(page.data, page.url, response.headers, 304, page.links, True)
        return self._page(request, response, body, cache_key if revalidate else "")

    def _answer(
        self, request: _Request, cached: _Cached | None
    ) -> tuple[requests.Response, bytes | None]:
        """The response and its body (None: a 304 on ``cached``); short rate limits waited out."""
        started = time.monotonic()
        retries = 0
        while True:
            self._check_deadline(request.url)
            response = self._send(request)
            if self.follow_moved and request.method == "GET":
                response = self._follow_moved(response, request)
            try:
                if response.status_code == 304 and cached:
                    return response, None
                self._raise_for_status(response)
                return response, self._read_body(response)
            except RateLimited as exc:
                wait = self._inline_wait(exc.retry_after, started, retries)
                if wait is None:
                    raise
                retries += 1
                log.info("%s: rate limited; asking again in %.1f s", self.name, wait)
            finally:
                self._connection = None
                response.close()
            if self._closed.wait(wait):
                raise Unavailable(Text(STOPPED_WAITING, name=self.name))

    def _page(
        self, request: _Request, response: requests.Response, body: bytes, cache_key: str
    ) -> Page:
        """The page of a read body; kept for revalidation when ``cache_key`` is given."""
        final = response.url or request.url
        validators = response.headers.get("ETag") or response.headers.get("Last-Modified")
        digest = b""
        if cache_key and not validators:
            # No validators: a body identical to the last good one is still "not modified",
            # so the connector can reuse what it made of it (a 10,000-ticket idle poll).
            digest = hashlib.blake2b(body, digest_size=16).digest()
            if self._digests.get(cache_key) == digest:
                status = response.status_code
                return _UnchangedPage(body, final, response.headers, status, response.links)
        page = Page(
            self._parse(request.url, response, body),
            final,
            response.headers,
            response.status_code,
            response.links,
        )
        if cache_key and validators:
            # a page of its own: the connector may let go of the one it gets (jsonapi does
            # once it took the tickets), and a 304 must still find the body here
            kept = replace(page)
            etag = response.headers.get("ETag")
            self._cache[cache_key] = (etag, response.headers.get("Last-Modified"), kept)
        elif digest:
            self._digests[cache_key] = digest
        return page

    def _parse(self, url: str, response: requests.Response, body: bytes) -> Any:
        kind = content_type(response.headers)
        if not looks_like_json(kind):
            error = not_json_error(self.name, url, response.status_code, kind, body)
            if error is not None:
                raise error
        try:
            return orjson.loads(body) if body else None
        except orjson.JSONDecodeError as exc:
            raise BadResponse(
                Text(NOT_VALID_JSON, name=self.name),
                f"GET {safe_url(url)}: {exc}",
            ) from None

    def paginate(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        next_url: Callable[[Page], str | None],
        *,
        headers: Mapping[str, str] | None = None,
    ) -> Pages:
        """Read every page, following ``next_url(page)`` until it returns None.

        Stops with :class:`BadResponse` if a page links to one already read or to another
        scheme, host or port (nothing is sent there). When the page cap is reached, logs it and
        returns the pages read with ``complete`` False, so the connector marks its snapshot
        incomplete (tickets beyond the cap are then not mistaken for answered ones).
        """
        page = self.get_json(path, params, headers=headers)
        seen = {page.url}
        result = Pages([page], True, throttle_hint(page.headers))
        while nxt := next_url(page):
            nxt = self.url(nxt)
            if nxt in seen:
                raise BadResponse(
                    Text(PAGE_LOOP, name=self.name),
                    f"pagination loop at {safe_url(nxt)}",
                )
            if len(result.pages) >= self.max_pages:
                log.warning(
                    "%s: stopped after %d pages; the rest is not read this poll",
                    self.name,
                    len(result.pages),
                )
                result.complete = False
                return result
            seen.add(nxt)
            page = self.get_json(nxt, headers=headers)
            result.add(page)
        return result

    def close(self) -> None:
        self._closed.set()
        self.session.close()

    def abort(self) -> None:
        """Shut down the socket of the request under way (from another thread; never blocks).

        Whether the server is still sending its status line and headers or its body, the
        requesting thread then fails at once instead of waiting for a trickling server.
        """
        sock = getattr(self._connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # ------------------------------------------------------------------ internals

    def _inline_wait(self, retry_after: float | None, started: float, retries: int) -> float | None:
        """How long to wait before asking the same request again; None: end the fetch.

        Only a known wait of at most :data:`MAX_INLINE_WAIT` that ends before the fetch's
        deadline (or, without one, within ``fetch_budget`` of the request's first try).
        """
        if retry_after is None or retry_after > MAX_INLINE_WAIT or retries >= MAX_RATE_RETRIES:
            return None
        end = self.deadline if self.deadline is not None else started + self.fetch_budget
        wait = max(retry_after, 0.05)
        if time.monotonic() + wait > end:
            return None
        return wait

    def _send(self, request: _Request) -> requests.Response:
        timeout = self.timeout
        left = self.time_left()
        if left is not None:  # no single wait may run past the fetch's deadline
            left = max(0.1, left)
            timeout = (min(timeout[0], left), min(timeout[1], left))
        connecting.sink = self._track
        try:
            return self.session.request(
                request.method,
                request.url,
                params=request.params,
                headers=request.headers,
                data=request.data,
                json=request.json_body,
                timeout=timeout,
                verify=self.verify,
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.RequestException as exc:
            self._connection = None
            if not isinstance(exc, requests.exceptions.SSLError | requests.exceptions.ProxyError):
                self._check_deadline(request.url)  # cut by abort() at the deadline: "too slow"
            host = urlsplit(request.url).hostname or request.url
            raise request_failure(exc, host, self.timeout[1]) from None
        finally:
            connecting.sink = None

    def _track(self, connection: Any) -> None:
        """Called on the requesting thread with the connection a request is about to use."""
        self._connection = connection

    def _follow_moved(self, response: requests.Response, request: _Request) -> requests.Response:
        """Follow up to 3 redirects on the same origin; the credentials never leave it."""
        for _hop in range(3):
            location = response.headers.get("Location", "")
            if response.status_code not in (301, 302, 307, 308) or is_login_page(location):
                return response  # a login page is an authentication problem, said below
            target = urljoin(response.url, location)
            there = urlsplit(target)
            if not same_origin(target, response.url):
                response.close()
                raise BadResponse(
                    Text(MOVED_AWAY, name=self.name, host=str(there.hostname)),
                    f"{response.status_code} redirect from {safe_url(response.url)} to "
                    f"{safe_url(target)}",
                )
            log.info("%s: moved to %s; following it", self.name, safe_url(target))
            response.close()
            # the Location carries the query string when there is one; else ask the same again
            again = None if there.query else request.params
            response = self._send(_Request("GET", target, again, request.headers))
        return response

    def _read_body(self, response: requests.Response) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise BadResponse(
                Text(TOO_LARGE, name=self.name, mib=int(declared) // 1_048_576),
                f"Content-Length {declared} > {self.max_bytes}",
            )
        chunks: list[bytes] = []
        total = 0
        budget = current_budget()
        url = response.url or ""
        try:
            while True:
                # read1: at most one socket read per call, so the deadline is checked between
                # reads even when the server trickles a byte at a time
                chunk = response.raw.read1(65536, decode_content=True)
                if not chunk:
                    break
                total += len(chunk)
                if total > self.max_bytes:
                    raise BadResponse(
                        Text(OVER_RESPONSE_CAP, name=self.name, mib=self.max_bytes // 1_048_576),
                        f"body exceeded {self.max_bytes} bytes",
                    )
                if budget is not None:
                    budget.bytes_left -= len(chunk)
                    if budget.bytes_left < 0:
                        raise BadResponse(
                            Text(OVER_POLL_BUDGET, name=self.name, mib=MAX_POLL_MIB),
                            f"poll byte budget exceeded at {safe_url(url)}",
                        )
                chunks.append(chunk)
                self._check_deadline(url)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            self._check_deadline(url)  # cut by abort() at the deadline: "too slow"
            raise BadResponse(
                Text(CUT_OFF, name=self.name),
                f"{type(exc).__name__}: {strip_queries(exc)}",
            ) from None
        return b"".join(chunks)

    def _raise_for_status(self, response: requests.Response) -> None:
        status = response.status_code
        if status < 300:
            return
        url = safe_url(response.url or "")
        if status < 400:
            raise redirect_error(self.name, status, url, response.headers.get("Location", ""))
        try:
            body = response.raw.read(65536, decode_content=True) or b""
        except Exception:  # noqa: BLE001 - the body is only a hint for the message
            body = b""
        raise status_error(self.name, status, url, response.headers, body)
