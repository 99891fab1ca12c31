"""Every HTTP failure as one of the errors of ``agent.sources.base``, with a message a
non-technical person understands; details (never a query string, which may carry a token) go
to the log.

Pure functions: they read an exception, or a status, headers and the start of an error body.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit

import orjson
import requests

from agent.i18n import N_, Text
from agent.sources.errors import (
    AuthError,
    BadResponse,
    Forbidden,
    NotFound,
    RateLimited,
    SourceError,
    TLSFailure,
    Unavailable,
    Unreachable,
)
from agent.sources.http_limits import is_rate_limit, rate_limit_wait

# what the HTTP client says when it refuses an answer ({name}: the source's name)
FOREIGN_LINK = N_(
    "{name} linked to another address ({address}); it was not followed, so the token stays "
    "with the helpdesk and this poll is incomplete. If that is the helpdesk's own address, use "
    "it as the source's url"
)
MOVED_AWAY = N_(
    "{name} says this moved to another host ({host}); not followed, so the token is not sent "
    "there: check the address"
)
STOPPED_WAITING = N_("{name}: stopped while waiting for the rate limit")
NOT_VALID_JSON = N_("{name} sent data that is not valid JSON (cut off or damaged)")
PAGE_LOOP = N_("{name}'s page links point back to a page already read")
TOO_LARGE = N_("{name} sent a response too large to be a ticket list ({mib} MiB); refused")
OVER_RESPONSE_CAP = N_("{name} sent more than {mib} MiB in one response; refused")
OVER_POLL_BUDGET = N_("{name} sent more than the {mib} MiB one poll may read; the rest is not read")
CUT_OFF = N_("the answer from {name} was cut off")

LOGIN_WORDS = ("login", "signin", "sign_in", "auth", "sso")
_NOT_FOUND_WORDS = ("Name or service not known", "NameResolution", "getaddrinfo")


def safe_url(url: str) -> str:
    """The URL without its query string (which may carry a token) for the log."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def strip_queries(exc: BaseException) -> str:
    """An exception's text for the log, with query strings removed (they may carry tokens)."""
    text = str(exc)
    for part in text.split():
        if "?" in part and "://" in part:
            text = text.replace(part, part.split("?")[0] + "?…")
    return text[:500]


def is_login_page(location: str) -> bool:
    return any(word in location.lower() for word in LOGIN_WORDS)


def content_type(headers: Mapping[str, str]) -> str:
    return headers.get("Content-Type", "").split(";")[0].strip().lower()


def looks_like_json(kind: str) -> bool:
    return kind in ("application/json", "text/json") or kind.endswith("+json")


def error_text(body: bytes) -> str:
    """The helpdesk's own short error text from a JSON error body, for the person reading."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    if not isinstance(data, dict):
        return ""
    for key in ("description", "message", "error_description", "error", "detail", "title"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
        if isinstance(value, dict):
            for inner in ("message", "title", "description"):
                text = value.get(inner)
                if isinstance(text, str):
                    return text.strip()[:200]
    return ""


def plain_text(body: bytes) -> str:
    """The first line of a short plain-text error body (Zendesk's 429 is one), printable only."""
    text = body[:400].decode("utf-8", "replace").strip().splitlines()
    line = "".join(c for c in (text[0] if text else "") if c.isprintable())
    return line.strip()[:200]


def request_failure(exc: requests.RequestException, host: str, read_timeout: float) -> SourceError:
    """What went wrong before any answer came: TLS, proxy, timeouts, name lookup, refusal."""
    detail = f"{type(exc).__name__}: {strip_queries(exc)}"
    if isinstance(exc, requests.exceptions.SSLError):
        return TLSFailure(
            Text(
                N_(
                    "the secure connection to {host} failed (certificate not trusted or "
                    "expired); for a self-hosted helpdesk, set verify to its CA bundle"
                ),
                host=host,
            ),
            detail,
        )
    if isinstance(exc, requests.exceptions.ProxyError):
        return Unreachable(
            Text(N_("cannot reach {host} through the proxy"), host=host),
            f"proxy: {strip_queries(exc)}",
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return Unreachable(Text(N_("{host} did not answer in time (connect timeout)"), host=host))
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return Unavailable(
            Text(
                N_("{host} is too slow: no answer within {seconds} s"),
                host=host,
                seconds=f"{read_timeout:g}",
            )
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        if any(words in text for words in _NOT_FOUND_WORDS):
            message = N_("cannot find {host}: check the address and the internet connection")
        elif "refused" in text.lower():
            message = N_("{host} refused the connection: is the address and port right?")
        else:
            message = N_("cannot connect to {host}: check the internet connection")
        return Unreachable(Text(message, host=host), detail)
    return Unavailable(Text(N_("the request to {host} failed"), host=host), detail)


def redirect_error(name: str, status: int, url: str, location: str) -> SourceError:
    """A redirect not followed: to a login page (the token was refused) or elsewhere."""
    detail = f"{status} redirect from {url} to {safe_url(urljoin(url, location))}"
    if is_login_page(location):
        return AuthError(
            Text(N_("{name} sent us to its login page; the token was not accepted"), name=name),
            detail,
        )
    return BadResponse(
        Text(
            N_(
                "{name} redirected the request elsewhere; check the URL "
                "(it may need https:// or a different address)"
            ),
            name=name,
        ),
        detail,
    )


def status_error(
    name: str, status: int, url: str, headers: Mapping[str, str], body: bytes
) -> SourceError:
    """The error of an answer with status 400 or above; ``said`` carries the helpdesk's words."""
    said = error_text(body)
    if not said and content_type(headers) == "text/plain":
        said = plain_text(body)
    error = _status_error(name, status, url, headers, body, said)
    error.said = said
    return error


#: what a refusal says, without and with the helpdesk's own words ({said})
REFUSALS = {
    "credentials": (
        N_("{name} did not accept the credentials; check the user and token"),
        N_("{name} did not accept the credentials ({said}); check the user and token"),
    ),
    "slow down": (
        N_("{name} asks us to slow down"),
        N_("{name} asks us to slow down ({said})"),
    ),
    "rate limit": (
        N_("{name} asks us to slow down (rate limit)"),
        N_("{name} asks us to slow down (rate limit) ({said})"),
    ),
    "forbidden": (
        N_("{name} refused access; the token lacks permission"),
        N_("{name} refused access ({said}); the token lacks permission"),
    ),
    "not found": (
        N_("{name} has nothing at {url}; check the URL"),
        N_("{name} has nothing at {url}; check the URL ({said})"),
    ),
    "refused": (
        N_("{name} refused the request (HTTP {status})"),
        N_("{name} refused the request (HTTP {status}) ({said})"),
    ),
}


def _status_error(
    name: str, status: int, url: str, headers: Mapping[str, str], body: bytes, said: str
) -> SourceError:
    detail = f"{status} from {url}: {body[:300]!r}"

    def text(refusal: str) -> Text:
        plain, with_said = REFUSALS[refusal]
        if said:
            return Text(with_said, name=name, url=url, status=status, said=said)
        return Text(plain, name=name, url=url, status=status)

    if status == 401:
        return AuthError(text("credentials"), detail)
    if is_rate_limit(status, headers, body):
        wait = rate_limit_wait(status, headers, body)
        return RateLimited(text("slow down" if status == 403 else "rate limit"), wait, detail)
    if status == 403:
        return Forbidden(text("forbidden"), detail)
    if status == 404:
        return NotFound(text("not found"), detail)
    if status >= 500:
        problem = N_("{name} has a problem of its own (HTTP {status}); it will be retried")
        return Unavailable(Text(problem, name=name, status=status), detail)
    return BadResponse(text("refused"), detail)


def not_json_error(name: str, url: str, status: int, kind: str, body: bytes) -> SourceError | None:
    """A body that is not JSON: a web page (a login page: authentication) or another type."""
    stripped = body.lstrip()[:200].lower()
    where = f"GET {safe_url(url)} -> {status} {kind}"
    if kind == "text/html" or stripped.startswith((b"<!doctype", b"<html")):
        return AuthError(
            Text(
                N_(
                    "{name} answered with a web page instead of data; the token may have "
                    "expired, or the URL points at a login page"
                ),
                name=name,
            ),
            where,
        )
    if kind:
        return BadResponse(
            Text(
                N_("{name} answered with {kind}, not JSON; is the URL right?"), name=name, kind=kind
            ),
            where,
        )
    return None
