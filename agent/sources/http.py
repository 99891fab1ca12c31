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
import ipaddress
import json
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import orjson
import requests
import urllib3

from agent import __version__
from agent.sources.base import (
    MAX_FETCH_BYTES,
    MAX_SERVER_WAIT,
    AuthError,
    BadResponse,
    Forbidden,
    NotFound,
    RateLimited,
    SourceError,
    TLSFailure,
    TooSlow,
    Unavailable,
    Unreachable,
    current_budget,
)

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
MAX_BYTES = 20 * 1024 * 1024  # one response; a page of 100 tickets is ~100 KiB
MAX_PAGES = 50
MAX_INLINE_WAIT = 60.0  # a rate-limit wait up to this long is waited out inside the fetch
MAX_RETRY_AFTER = MAX_SERVER_WAIT  # no number from a server makes us wait longer than an hour
MAX_RATE_RETRIES = 5  # the same request asked again at most this often after a short wait
FETCH_BUDGET_TIMEOUTS = 4  # a fetch's waits stay within this many read timeouts
SECONDARY_LIMIT_WAIT = 60.0  # GitHub: "wait at least one minute before retrying"
MAX_POLL_MIB = MAX_FETCH_BYTES // 1_048_576
USER_AGENT = f"Ticketbell/{__version__} (+helpdesk tray agent)"

_REMAINING_HEADERS = (
    "x-ratelimit-remaining",
    "x-rate-limit-remaining",
    "ratelimit-remaining",
    "x-ratelimit-remaining-minute",  # Help Scout
)
_LIMIT_HEADERS = (
    "x-ratelimit-limit",
    "x-rate-limit",
    "ratelimit-limit",
    "x-ratelimit-total",
    "x-ratelimit-limit-minute",  # Help Scout
)
_LOGIN_WORDS = ("login", "signin", "sign_in", "auth", "sso")
_RESET_HEADERS = (
    "ratelimit-reset",
    "x-ratelimit-reset",
    "x-rate-limit-reset",
    "x-ratelimit-retry-after",  # Help Scout: seconds until the minute window reopens
)


class _Session(requests.Session):
    """A requests session that reads the environment's proxy and CA-bundle settings once per host.

    requests reads them for every request (walking ``os.environ`` twice): on a 100-page poll
    that was about a tenth of the client's cost. The environment does not change while a
    source lives (a source is rebuilt when its config changes), so the answer is kept per
    scheme and host, exactly the parts of the URL that the settings depend on.
    """

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[Any, ...], dict[str, Any]] = {}

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        if proxies or not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, stream, verify, cert)
        settings = self._environment.get(key)
        if settings is None:
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            self._environment[key] = settings
        return {**settings, "proxies": dict(settings["proxies"])}


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

    @property  # type: ignore[override]
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


def clamp_wait(seconds: float | None) -> float | None:
    """A server's wait in seconds, kept between 0 and an hour; None for garbage (NaN).

    ``inf`` and ``1e20`` become an hour: a number from a server never overflows a timedelta or
    silences a source until restart.
    """
    if seconds is None or math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def same_origin(url: str, base: str) -> bool:
    """True when ``url`` has the scheme, host and port of ``base`` (default ports filled in)."""
    try:
        a, b = urlsplit(url), urlsplit(base)
        return (
            a.scheme.lower() == b.scheme.lower()
            and (a.hostname or "") == (b.hostname or "")
            and _port(a.scheme, a.port) == _port(b.scheme, b.port)
            and not a.username
            and not a.password
        )
    except ValueError:  # a port that is not a number
        return False


def _port(scheme: str, port: int | None) -> int | None:
    if port is not None:
        return port
    return {"https": 443, "http": 80}.get(scheme.lower())


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse a Retry-After header: delta seconds or an HTTP date. None when absent or garbage.

    At most MAX_SERVER_WAIT: no number from a server may silence a source for longer.
    """
    if not value:
        return None
    value = value.strip()
    try:
        return clamp_wait(float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return clamp_wait(when.timestamp() - now)


def _header(headers: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = headers.get(name)
        if value is not None:
            return value
    return None


def reset_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds until a rate-limit window resets, from the reset headers helpdesks send.

    Values larger than a day are epoch timestamps (GitHub, Freshdesk), in milliseconds when
    larger than 10^11 (a date past the year 5000 in seconds); smaller are deltas. The answer is
    at most MAX_SERVER_WAIT.
    """
    raw = _header(headers, _RESET_HEADERS)
    if raw is None:
        return None
    try:
        value = float(raw.split(";")[0].strip())
    except ValueError:
        return None
    if math.isnan(value):
        return None
    if 86400 < value < math.inf:
        if value > 1e11:
            value /= 1000  # epoch milliseconds
        now = time.time() if now is None else now
        return clamp_wait(value - now)
    return clamp_wait(value)


def throttle_hint(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """A delay to wait before the next poll when the remaining quota is nearly gone.

    When fewer than 10% (or 5) requests remain, wait for the window to reset (or a minute
    when the helpdesk does not say when it resets).
    """
    remaining_raw = _header(headers, _REMAINING_HEADERS)
    if remaining_raw is None:
        return None
    try:
        remaining = int(float(remaining_raw))
    except ValueError:
        return None
    limit_raw = _header(headers, _LIMIT_HEADERS)
    try:
        limit = int(float(limit_raw)) if limit_raw is not None else None
    except ValueError:
        limit = None
    low = max(5, (limit or 0) // 10)
    if remaining > low:
        return None
    reset = reset_seconds(headers, now)
    return reset if reset is not None else 60.0


def _content_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").split(";")[0].strip().lower()


def _looks_like_json(content_type: str) -> bool:
    return content_type in ("application/json", "text/json") or content_type.endswith("+json")


def _error_text(body: bytes) -> str:
    """The helpdesk's own short error text from a JSON error body, for the person reading."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    if isinstance(data, dict):
        for key in ("description", "message", "error_description", "error", "detail", "title"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:200]
            if isinstance(value, dict):
                for inner in ("message", "title", "description"):
                    if isinstance(value.get(inner), str):
                        return value[inner].strip()[:200]
    return ""


def _plain_text(body: bytes) -> str:
    """The first line of a short plain-text error body (Zendesk's 429 is one), printable only."""
    text = body[:400].decode("utf-8", "replace").strip().splitlines()
    line = "".join(c for c in (text[0] if text else "") if c.isprintable())
    return line.strip()[:200]


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
        self.session = _Session()
        self.session.verify = verify
        # passed with every request too: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE in the
        # environment override a session's verify (a CA bundle path, or False)
        self.verify = verify
        self.session.auth = auth
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers["Accept"] = "application/json"
        if headers:
            self.session.headers.update(headers)
        if proxy:
            self.session.proxies = {"http": proxy, "https": proxy}
            self.session.trust_env = False
        self._cache: dict[str, tuple[str | None, str | None, Page]] = {}
        self._digests: dict[str, bytes] = {}
        #: the last response's throttle hint and whether the last paginate() stopped at the page
        #: cap; kept for connectors not yet reading :class:`Pages`
        self.last_throttle: float | None = None
        self.truncated = False
        self._reading: requests.Response | None = None  # the response whose body is being read
        host = urlsplit(base_url).hostname or ""
        if base_url.startswith("http://") and host and not is_loopback(host):
            log.warning(
                "%s: %s uses plain http; the token crosses the network unencrypted",
                self.name,
                host,
            )
        if verify is False:
            log.warning("%s: TLS certificate verification is OFF for %s", self.name, host)

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
            raise TooSlow(
                f"{self.name} is too slow: the poll did not finish within {seconds:g} s",
                f"fetch deadline passed at {self._safe(url)}",
            )

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
                foreign = f"{parts.scheme}://{parts.hostname or '?'}"
                foreign += f":{parts.port}" if parts.port else ""
            except ValueError:
                foreign = "an unreadable address"
            raise BadResponse(
                f"{self.name} linked to another address ({foreign}); it was not followed, so "
                "the token stays with the helpdesk and this poll is incomplete. If that is the "
                "helpdesk's own address, use it as the source's url",
                f"refused {foreign}: not the scheme, host and port of {self._safe(self.base_url)}",
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
        url = self.url(path)
        cache_key = url + "?" + json.dumps(params or {}, sort_keys=True, default=str)
        send_headers = dict(headers or {})
        cached = self._cache.get(cache_key) if revalidate and method == "GET" else None
        if cached:
            etag, modified, _page = cached
            if etag:
                send_headers["If-None-Match"] = etag
            if modified:
                send_headers["If-Modified-Since"] = modified
        started = time.monotonic()
        retries = 0
        while True:
            self._check_deadline(url)
            response = self._send(method, url, params, send_headers, data, json_body)
            self._reading = response
            if self.follow_moved and method == "GET":
                response = self._follow_moved(response, params, send_headers)
            try:
                self.last_throttle = throttle_hint(response.headers)
                if response.status_code == 304 and cached:
                    page = cached[2]
                    return Page(page.data, page.url, response.headers, 304, page.links, True)
                try:
                    self._raise_for_status(response)
                except RateLimited as exc:
                    wait = self._inline_wait(exc.retry_after, started, retries)
                    if wait is None:
                        raise
                    retries += 1
                    log.info("%s: rate limited; asking again in %.1f s", self.name, wait)
                else:
                    body = self._read_body(response)
                    break
            finally:
                self._reading = None
                response.close()
            if self._closed.wait(wait):
                raise Unavailable(f"{self.name}: stopped while waiting for the rate limit")
        content_type = _content_type(response)
        digest = b""
        validators = response.headers.get("ETag") or response.headers.get("Last-Modified")
        if method == "GET" and revalidate and not validators:
            # No validators: a body identical to the last good one is still "not modified",
            # so the connector can reuse what it made of it (a 10,000-ticket idle poll).
            digest = hashlib.blake2b(body, digest_size=16).digest()
            if self._digests.get(cache_key) == digest:
                final = response.url or url
                status = response.status_code
                return _UnchangedPage(body, final, response.headers, status, response.links)
        if not _looks_like_json(content_type):
            stripped = body.lstrip()[:200].lower()
            if content_type == "text/html" or stripped.startswith((b"<!doctype", b"<html")):
                raise AuthError(
                    f"{self.name} answered with a web page instead of data; the token may have "
                    "expired, or the URL points at a login page",
                    f"GET {self._safe(url)} -> {response.status_code} {content_type}",
                )
            if content_type:
                raise BadResponse(
                    f"{self.name} answered with {content_type}, not JSON; is the URL right?",
                    f"GET {self._safe(url)} -> {response.status_code} {content_type}",
                )
        try:
            data_out = orjson.loads(body) if body else None
        except orjson.JSONDecodeError as exc:
            raise BadResponse(
                f"{self.name} sent data that is not valid JSON (cut off or damaged)",
                f"GET {self._safe(url)}: {exc}",
            ) from None
        page = Page(
            data_out, response.url or url, response.headers, response.status_code, response.links
        )
        if method == "GET" and revalidate:
            etag = response.headers.get("ETag")
            modified = response.headers.get("Last-Modified")
            if etag or modified:
                self._cache[cache_key] = (etag, modified, page)
            elif digest:
                self._digests[cache_key] = digest
        return page

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
        self.truncated = False
        seen: set[str] = set()
        page = self.get_json(path, params, headers=headers)
        seen.add(self._page_id(page.url, params))
        count = 1
        result = Pages([page], True, throttle_hint(page.headers))
        while True:
            nxt = next_url(page)
            if not nxt:
                return result
            nxt = self.url(nxt)
            if nxt in seen:
                raise BadResponse(
                    f"{self.name}'s page links point back to a page already read",
                    f"pagination loop at {self._safe(nxt)}",
                )
            if count >= self.max_pages:
                self.truncated = True
                log.warning(
                    "%s: stopped after %d pages; the rest is not read this poll",
                    self.name,
                    count,
                )
                result.complete = False
                return result
            seen.add(nxt)
            page = self.get_json(nxt, headers=headers)
            count += 1
            result.pages.append(page)
            hint = throttle_hint(page.headers)
            if hint is not None:
                result.throttle = max(hint, result.throttle or 0.0)

    def close(self) -> None:
        self._closed.set()
        self.session.close()

    def abort(self) -> None:
        """Shut down the socket of the body being read (from another thread; never blocks).

        The reading thread then fails at once instead of waiting for a trickling server.
        """
        response = self._reading
        sock = getattr(getattr(getattr(response, "raw", None), "_connection", None), "sock", None)
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

    @staticmethod
    def _page_id(url: str, params: Mapping[str, Any] | None) -> str:
        return url

    def _safe(self, url: str) -> str:
        """The URL without its query string (which may carry a token) for the log."""
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str],
        data: Any,
        json_body: Any,
    ) -> requests.Response:
        host = urlsplit(url).hostname or url
        timeout = self.timeout
        left = self.time_left()
        if left is not None:  # no single wait may run past the fetch's deadline
            left = max(0.1, left)
            timeout = (min(timeout[0], left), min(timeout[1], left))
        try:
            return self.session.request(
                method,
                url,
                params=params,
                headers=headers,
                data=data,
                json=json_body,
                timeout=timeout,
                verify=self.verify,
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.SSLError as exc:
            raise TLSFailure(
                f"the secure connection to {host} failed (certificate not trusted or expired); "
                "for a self-hosted helpdesk, set verify to its CA bundle",
                f"{type(exc).__name__}: {self._strip(exc)}",
            ) from None
        except requests.exceptions.ProxyError as exc:
            raise Unreachable(
                f"cannot reach {host} through the proxy", f"proxy: {self._strip(exc)}"
            ) from None
        except requests.exceptions.ConnectTimeout:
            raise Unreachable(f"{host} did not answer in time (connect timeout)") from None
        except requests.exceptions.ReadTimeout:
            self._check_deadline(url)
            raise Unavailable(
                f"{host} is too slow: no answer within {self.timeout[1]:g} s"
            ) from None
        except requests.exceptions.ConnectionError as exc:
            text = str(exc)
            if (
                "Name or service not known" in text
                or "NameResolution" in text
                or "getaddrinfo" in text
            ):
                message = f"cannot find {host}: check the address and the internet connection"
            elif "refused" in text.lower():
                message = f"{host} refused the connection: is the address and port right?"
            else:
                message = f"cannot connect to {host}: check the internet connection"
            raise Unreachable(message, f"{type(exc).__name__}: {self._strip(exc)}") from None
        except requests.exceptions.RequestException as exc:
            raise Unavailable(
                f"the request to {host} failed", f"{type(exc).__name__}: {self._strip(exc)}"
            ) from None

    def _follow_moved(
        self,
        response: requests.Response,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str],
    ) -> requests.Response:
        """Follow up to 3 redirects on the same origin; the credentials never leave it."""
        for _hop in range(3):
            location = response.headers.get("Location", "")
            if response.status_code not in (301, 302, 307, 308) or any(
                word in location.lower() for word in _LOGIN_WORDS
            ):
                return response  # a login page is an authentication problem, said below
            target = urljoin(response.url, location)
            there = urlsplit(target)
            if not same_origin(target, response.url):
                response.close()
                raise BadResponse(
                    f"{self.name} says this moved to another host ({there.hostname}); not "
                    "followed, so the token is not sent there: check the address",
                    f"{response.status_code} redirect from {self._safe(response.url)} to "
                    f"{self._safe(target)}",
                )
            log.info("%s: moved to %s; following it", self.name, self._safe(target))
            response.close()
            # the Location carries the query string when there is one; else ask the same again
            again = None if there.query else params
            response = self._send("GET", target, again, headers, None, None)
        return response

    def _strip(self, exc: BaseException) -> str:
        """An exception's text for the log, with query strings removed (they may carry tokens)."""
        text = str(exc)
        for part in text.split():
            if "?" in part and "://" in part:
                text = text.replace(part, part.split("?")[0] + "?…")
        return text[:500]

    def _read_body(self, response: requests.Response) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise BadResponse(
                f"{self.name} sent a response too large to be a ticket list "
                f"({int(declared) // 1_048_576} MiB); refused",
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
                        f"{self.name} sent more than {self.max_bytes // 1_048_576} MiB in one "
                        "response; refused",
                        f"body exceeded {self.max_bytes} bytes",
                    )
                if budget is not None:
                    budget.bytes_left -= len(chunk)
                    if budget.bytes_left < 0:
                        raise BadResponse(
                            f"{self.name} sent more than the "
                            f"{MAX_POLL_MIB} MiB one poll may read; the rest is not read",
                            f"poll byte budget exceeded at {self._safe(url)}",
                        )
                chunks.append(chunk)
                self._check_deadline(url)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            self._check_deadline(url)  # cut by abort() at the deadline: "too slow"
            raise BadResponse(
                f"the answer from {self.name} was cut off",
                f"{type(exc).__name__}: {self._strip(exc)}",
            ) from None
        return b"".join(chunks)

    def _raise_for_status(self, response: requests.Response) -> None:
        status = response.status_code
        if status < 300:
            return
        url = self._safe(response.url or "")
        if 300 <= status < 400:
            target = response.headers.get("Location", "")
            if any(
                word in target.lower() for word in ("login", "signin", "sign_in", "auth", "sso")
            ):
                raise AuthError(
                    f"{self.name} sent us to its login page; the token was not accepted",
                    f"{status} redirect from {url} to {self._safe(urljoin(url, target))}",
                )
            raise BadResponse(
                f"{self.name} redirected the request elsewhere; check the URL "
                f"(it may need https:// or a different address)",
                f"{status} redirect from {url} to {self._safe(urljoin(url, target))}",
            )
        body = b""
        try:
            body = response.raw.read(65536, decode_content=True) or b""
        except Exception:  # noqa: BLE001 - the body is only a hint for the message
            body = b""
        said = _error_text(body)
        if not said and _content_type(response) == "text/plain":
            said = _plain_text(body)
        said_part = f" ({said})" if said else ""
        detail = f"{status} from {url}: {body[:300]!r}"
        try:
            self._raise_error(response, status, url, said, said_part, detail, body)
        except SourceError as exc:
            exc.said = said
            raise

    def _raise_error(
        self,
        response: requests.Response,
        status: int,
        url: str,
        said: str,
        said_part: str,
        detail: str,
        body: bytes,
    ) -> None:
        if status == 401:
            raise AuthError(
                f"{self.name} did not accept the credentials{said_part}; check the user and token",
                detail,
            )
        if status == 403:
            retry = retry_after_seconds(response.headers.get("Retry-After"))
            remaining = _header(response.headers, _REMAINING_HEADERS)
            if b"secondary rate limit" in body.lower():
                # GitHub's secondary rate limit: a 403 (or 429) whose body says so. Its docs:
                # wait for Retry-After when given, else until x-ratelimit-reset when no
                # requests remain, else at least one minute.
                wait = retry
                if wait is None:
                    reset = reset_seconds(response.headers) if remaining == "0" else None
                    wait = max(SECONDARY_LIMIT_WAIT, reset or 0.0)
                raise RateLimited(f"{self.name} asks us to slow down{said_part}", wait, detail)
            if retry is not None or remaining == "0":
                wait = retry if retry is not None else reset_seconds(response.headers)
                raise RateLimited(f"{self.name} asks us to slow down{said_part}", wait, detail)
            raise Forbidden(
                f"{self.name} refused access{said_part}; the token lacks permission", detail
            )
        if status == 404:
            raise NotFound(f"{self.name} has nothing at {url}; check the URL{said_part}", detail)
        if status in (429, 503) and (status == 429 or "Retry-After" in response.headers):
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            if wait is None:
                wait = reset_seconds(response.headers)
            if b"secondary rate limit" in body.lower() and "Retry-After" not in response.headers:
                wait = max(SECONDARY_LIMIT_WAIT, wait or 0.0)
            raise RateLimited(
                f"{self.name} asks us to slow down (rate limit){said_part}", wait, detail
            )
        if status >= 500:
            raise Unavailable(
                f"{self.name} has a problem of its own (HTTP {status}); it will be retried", detail
            )
        raise BadResponse(f"{self.name} refused the request (HTTP {status}){said_part}", detail)
