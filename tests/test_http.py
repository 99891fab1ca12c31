"""What every HTTP connector shares, tested once against a loopback server: ``HttpClient``.

The connectors' own tests check that each helpdesk's failures reach the person classified;
here are the generic rules behind that: Retry-After in both forms, 503 with and without it,
quota headers, size limits, page loops, ETag revalidation and TLS failures.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import certifi
import pytest
import trustme
from pytest_httpserver import HTTPServer
from requests.structures import CaseInsensitiveDict
from werkzeug import Request, Response

from agent.sources.base import BadResponse, RateLimited, TLSFailure, Unavailable, fetch_budget
from agent.sources.http import HttpClient, Pages, reset_seconds, retry_after_seconds, throttle_hint
from tests import secretscan

UTC = timezone.utc


@pytest.fixture
def http(server: HTTPServer) -> Iterator[HTTPServer]:
    server.clear()
    yield server
    server.clear()


def client(server: HTTPServer, **kw: object) -> HttpClient:
    return HttpClient(f"http://127.0.0.1:{server.port}", timeout=5, name="Desk", **kw)  # type: ignore[arg-type]


def test_retry_after_as_seconds_or_http_date() -> None:
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds(later, now=now.timestamp()) == 90
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_429_with_an_http_date_gives_the_wait(http: HTTPServer) -> None:
    when = datetime.now(UTC) + timedelta(hours=1)
    http.expect_request("/t").respond_with_json(
        {"error": "slow"}, status=429, headers={"Retry-After": format_datetime(when, usegmt=True)}
    )
    with pytest.raises(RateLimited) as info:
        client(http).get_json("t")
    assert info.value.retry_after is not None and 3000 < info.value.retry_after <= 3600


def test_503_with_retry_after_is_a_rate_limit_without_is_unavailable(http: HTTPServer) -> None:
    http.expect_request("/busy").respond_with_json({}, status=503, headers={"Retry-After": "45"})
    http.expect_request("/down").respond_with_data("Bad gateway", status=503)
    with pytest.raises(RateLimited) as info:
        client(http).get_json("busy")
    assert info.value.retry_after == 45
    with pytest.raises(Unavailable, match="problem of its own"):
        client(http).get_json("down")


def test_429_without_retry_after_falls_back_to_the_reset_header(http: HTTPServer) -> None:
    http.expect_request("/t").respond_with_data(
        "Too many", status=429, headers={"ratelimit-reset": "12"}, content_type="text/plain"
    )
    with pytest.raises(RateLimited) as info:
        client(http, fetch_budget=0).get_json("t")  # no time to wait it out: the error says
    assert info.value.retry_after == 12


def test_remaining_quota_becomes_a_throttle_hint() -> None:
    def hint(**headers: str) -> float | None:
        return throttle_hint(
            CaseInsensitiveDict({k.replace("_", "-"): v for k, v in headers.items()})
        )

    assert hint(X_RateLimit_Remaining="500", X_RateLimit_Total="1000") is None
    assert hint(X_RateLimit_Remaining="50", X_RateLimit_Total="1000") == 60  # no reset: a minute
    assert hint(X_Rate_Limit_Remaining="3", RateLimit_Reset="20") == 20


def test_a_declared_huge_body_is_refused_unread(http: HTTPServer) -> None:
    body = json.dumps({"items": ["x" * 1000] * 20}).encode()
    http.expect_request("/big").respond_with_data(body, content_type="application/json")
    with pytest.raises(BadResponse, match="too large"):
        client(http, max_bytes=10_000).get_json("big")


def test_a_page_linking_back_stops_with_a_clear_error(http: HTTPServer) -> None:
    base = f"http://127.0.0.1:{http.port}"
    http.expect_request("/p1").respond_with_json({"next": f"{base}/p2"})
    http.expect_request("/p2").respond_with_json({"next": f"{base}/p1"})
    with pytest.raises(BadResponse, match="already read"):
        client(http).paginate("p1", None, lambda p: p.data["next"])
    assert [r.path for r, _ in http.log] == ["/p1", "/p2"]  # p1 is not asked for again


def test_etag_revalidation_reuses_the_last_answer(http: HTTPServer) -> None:
    seen: list[str | None] = []

    def answer(request: Request) -> Response:
        seen.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response('{"n": 1}', headers={"ETag": '"v1"'}, content_type="application/json")

    http.expect_request("/t").respond_with_handler(answer)
    c = client(http)
    first, second = c.get_json("t"), c.get_json("t")
    assert (first.from_cache, second.from_cache) == (False, True)
    assert second.data == {"n": 1}
    assert seen == [None, '"v1"']


def test_a_304_still_finds_the_body_after_the_reader_let_its_page_go(http: HTTPServer) -> None:
    """The json source drops each page's parsed body once it took the tickets; a later 304
    (after a failed poll forgot those tickets) must still give the body, not None."""
    http.expect_request("/t").respond_with_handler(
        lambda request: (
            Response(status=304, headers={"ETag": '"v1"'})
            if request.headers.get("If-None-Match") == '"v1"'
            else Response('{"n": 1}', headers={"ETag": '"v1"'}, content_type="application/json")
        )
    )
    c = client(http)
    first = c.get_json("t")
    first.data = None  # what the reader does with a page it has read
    again = c.get_json("t")
    assert (again.from_cache, again.data) == (True, {"n": 1})


def test_an_identical_body_without_validators_counts_as_not_modified(http: HTTPServer) -> None:
    bodies = ['{"n": 1}', '{"n": 1}', '{"n": 2}']
    http.expect_request("/plain").respond_with_handler(
        lambda _: Response(bodies.pop(0), content_type="application/json")
    )
    c = client(http)
    pages = [c.get_json("plain") for _ in range(3)]
    assert [p.from_cache for p in pages] == [False, True, False]
    assert [p.data for p in pages] == [{"n": 1}, {"n": 1}, {"n": 2}]  # still readable


@pytest.fixture(scope="module")
def tls_server() -> Iterator[HTTPServer]:
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    server.expect_request("/t").respond_with_json({"ok": True})
    server.ca = ca  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.clear()
        server.stop()


def test_an_untrusted_certificate_is_a_tls_failure(tls_server: HTTPServer) -> None:
    c = HttpClient(f"https://127.0.0.1:{tls_server.port}", timeout=5, name="Desk")
    with pytest.raises(TLSFailure, match="CA bundle"):
        c.get_json("t")


def test_a_ca_bundle_per_source_is_trusted(tls_server: HTTPServer, tmp_path) -> None:
    bundle = tmp_path / "ca.pem"
    tls_server.ca.cert_pem.write_to_path(str(bundle))  # type: ignore[attr-defined]
    c = HttpClient(f"https://127.0.0.1:{tls_server.port}", timeout=5, verify=str(bundle))
    assert c.get_json("t").data == {"ok": True}


# verify = false is what this test asks for: urllib3's warning about it is expected here
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_off_is_honoured_despite_the_environment(
    tls_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    c = HttpClient(f"https://127.0.0.1:{tls_server.port}", timeout=5, verify=False)
    assert c.get_json("t").data == {"ok": True}


def test_proxy_settings_from_the_environment_hold_per_host(
    http: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment's proxy settings are kept per host: NO_PROXY still exempts one host
    while another host goes through the proxy (a client now talks to its own host only)."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    http.expect_request("/t").respond_with_json({"ok": True})
    c = client(http)
    assert c.get_json("t").data == {"ok": True}
    assert c.get_json("t").data == {"ok": True}  # the cached settings, same answer
    other = HttpClient(f"http://localhost:{http.port}", timeout=5, name="Desk")
    with pytest.raises(Unavailable):
        other.get_json("t")  # not exempt: through the dead proxy
    assert c.get_json("t").data == {"ok": True}


# ------------------------------------------------------------------ rate limits inside a poll


def paged(http: HTTPServer, pages: int = 3, limit: dict[str, dict[str, str]] | None = None) -> None:
    """``/p1`` .. ``/pN``, each linking to the next by an absolute URL, with quota headers;
    ``limit`` answers the first request for a path with 429 and those headers, once."""
    base = f"http://127.0.0.1:{http.port}"
    once = dict(limit or {})

    def handler(request: Request) -> Response:
        if request.path in once:
            return Response(
                json.dumps({"error": "slow down"}),
                status=429,
                headers=once.pop(request.path),
                content_type="application/json",
            )
        n = int(request.path[2:])
        nxt = f"{base}/p{n + 1}" if n < pages else None
        return Response(
            json.dumps({"n": n, "next": nxt}),
            headers={"X-RateLimit-Remaining": str(100 - n), "X-RateLimit-Limit": "100"},
            content_type="application/json",
        )

    http.expect_request(re.compile(r"/p\d+")).respond_with_handler(handler)


def test_a_short_retry_after_on_page_two_is_waited_out_and_the_same_page_asked_again(
    http: HTTPServer,
) -> None:
    paged(http, limit={"/p2": {"Retry-After": "1"}})
    pages = client(http).paginate("p1", None, lambda p: p.data["next"])
    assert isinstance(pages, Pages)
    assert [p.data["n"] for p in pages] == [1, 2, 3]
    assert pages.complete and pages.throttle is None
    assert [r.path for r, _ in http.log] == ["/p1", "/p2", "/p2", "/p3"]


def test_a_reset_header_in_epoch_seconds_is_waited_out_too(http: HTTPServer) -> None:
    paged(http, 2, limit={"/p2": {"X-RateLimit-Reset": str(int(time.time()) + 1)}})
    pages = client(http).paginate("p1", None, lambda p: p.data["next"])
    assert [p.data["n"] for p in pages] == [1, 2]


def test_a_long_wait_ends_the_fetch_with_the_seconds_and_waits_for_nothing(
    http: HTTPServer,
) -> None:
    paged(http, limit={"/p2": {"Retry-After": "600"}})
    began = time.monotonic()
    with pytest.raises(RateLimited, match="slow down") as info:
        client(http).paginate("p1", None, lambda p: p.data["next"])
    assert info.value.retry_after == 600
    assert time.monotonic() - began < 5  # no sleep: 600 s is over the 60 s a poll may wait
    assert [r.path for r, _ in http.log] == ["/p1", "/p2"]


def test_a_wait_past_the_fetch_budget_or_deadline_is_not_started(http: HTTPServer) -> None:
    paged(http, limit={"/p2": {"Retry-After": "3"}})
    with pytest.raises(RateLimited) as info:
        client(http, fetch_budget=2).paginate("p1", None, lambda p: p.data["next"])
    assert info.value.retry_after == 3
    http.clear()
    paged(http, limit={"/p2": {"Retry-After": "3"}})
    c = client(http, fetch_budget=100)
    c.deadline = time.monotonic() + 2  # the engine's deadline for the whole fetch wins
    with pytest.raises(RateLimited):
        c.paginate("p1", None, lambda p: p.data["next"])


def test_a_server_that_keeps_answering_429_is_not_asked_forever(http: HTTPServer) -> None:
    http.expect_request("/t").respond_with_json({}, status=429, headers={"Retry-After": "0"})
    with pytest.raises(RateLimited):
        client(http).get_json("t")
    assert 2 <= len(http.log) <= 10


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ({"Retry-After": "inf"}, 3600),
        ({"Retry-After": "1e20"}, 3600),
        ({"Retry-After": "1000000000"}, 3600),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "-5"}, 0),
        ({"X-RateLimit-Reset": "+1800"}, 1800),  # epoch seconds, half an hour away
        ({"X-RateLimit-Reset": "+1800000"}, 1800),  # epoch milliseconds (marked by the test)
        ({"X-RateLimit-Reset": "99999999999999999999"}, 3600),
        ({"X-RateLimit-Reset": "inf"}, 3600),
    ],
)
def test_every_wait_from_a_server_is_clamped_to_an_hour(
    http: HTTPServer, header: dict[str, str], expected: float | None
) -> None:
    name, value = next(iter(header.items()))
    if value.startswith("+"):  # an epoch time: now plus the delta, in the unit asked for
        scale = 1000 if len(value) > 6 else 1
        value = str(int(time.time() * scale) + int(value[1:]))
    http.expect_request("/t").respond_with_json({}, status=429, headers={name: value})
    with pytest.raises(RateLimited) as info:
        client(http, fetch_budget=0).get_json("t")
    wait = info.value.retry_after
    if expected is None:
        assert wait is None
    else:
        assert wait is not None and expected - 5 <= wait <= expected
    assert reset_seconds({"x-ratelimit-reset": "inf"}) == 3600
    assert RateLimited("x", float("inf")).retry_after == 3600
    assert RateLimited("x", 1e20).retry_after == 3600


def test_github_secondary_rate_limit_is_a_wait_of_a_minute_not_forbidden(
    http: HTTPServer,
) -> None:
    body = {
        "message": "You have exceeded a secondary rate limit. Please wait a few minutes "
        "before you try again.",
        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
    }
    http.expect_request("/t").respond_with_json(body, status=403)
    with pytest.raises(RateLimited, match="secondary rate limit") as info:
        client(http).get_json("t")
    assert info.value.retry_after is not None and info.value.retry_after >= 60
    assert len(http.log) == 1  # a minute is more than the budget of a 5 s timeout: no wait


# ------------------------------------------------------------------ no token to another host


@pytest.mark.parametrize(
    "link",
    [
        "http://127.0.0.2:{port}/p2",  # another host
        "http://localhost:{port}/p2",  # another name for it is another host too
        "http://127.0.0.1:{other}/p2",  # another port
        "https://127.0.0.1:{port}/p2",  # another scheme
        "//evil.example/p2",  # scheme-relative
        "http://user@127.0.0.1:{port}/p2",  # credentials in the link
    ],
)
def test_a_next_link_elsewhere_is_refused_and_nothing_is_sent(http: HTTPServer, link: str) -> None:
    url = link.format(port=http.port, other=http.port + 1)
    http.expect_request("/p1").respond_with_json({"next": url})
    token = secretscan.register_secret("kit-http-SECRET-7e1d")
    c = client(http, headers={"Authorization": f"Bearer {token}"})
    with pytest.raises(BadResponse, match="linked to another address") as info:
        c.paginate("p1", None, lambda p: p.data["next"])
    assert token not in str(info.value) + info.value.detail
    assert [r.path for r, _ in http.log] == ["/p1"]


def test_a_downgrade_to_http_is_refused(http: HTTPServer) -> None:
    c = HttpClient("https://desk.example.com/api", timeout=5, name="Desk")
    with pytest.raises(BadResponse, match=r"http://desk\.example\.com"):
        c.url("http://desk.example.com/api/p2")
    assert c.url("https://desk.example.com:443/api/p2") == "https://desk.example.com:443/api/p2"
    assert c.url("https://DESK.example.com/api/p2").startswith("https://")


def test_a_relative_path_with_a_url_in_its_query_stays_relative(http: HTTPServer) -> None:
    c = client(http)
    url = c.url("search?query=link:https://evil.example/x")
    assert url.startswith(f"http://127.0.0.1:{http.port}/search?")
    with pytest.raises(BadResponse, match="another address"):
        c.url("javascript:alert(1)")


@pytest.mark.parametrize(
    ("value", "retry", "reset"),
    [
        ("inf", 3600.0, 3600.0),
        ("1e20", 3600.0, 3600.0),
        ("1000000000", 3600.0, 0.0),  # as a reset: an epoch second in 2001, long past
        ("-5", 0.0, 0.0),
        ("nan", None, None),
    ],
)
def test_a_server_asks_for_at_most_an_hour(
    value: str, retry: float | None, reset: float | None
) -> None:
    """``Retry-After: inf`` killed the scheduler (OverflowError in timedelta)."""
    assert retry_after_seconds(value) == retry
    assert reset_seconds(CaseInsensitiveDict({"X-RateLimit-Reset": value})) == reset


def test_a_reset_in_milliseconds_or_far_away_is_recognised_and_clamped() -> None:
    now = 1_800_000_000.0
    in_ms = str(int((now + 120) * 1000))

    def reset(value: str) -> float | None:
        return reset_seconds(CaseInsensitiveDict({"X-RateLimit-Reset": value}), now)

    assert reset(in_ms) == pytest.approx(120)
    assert reset(str(int(now + 86400 * 365))) == 3600.0
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "4102444800"}  # 2100
    assert throttle_hint(CaseInsensitiveDict(headers), now) == 3600.0


def test_pages_stop_at_the_fetch_byte_budget(http: HTTPServer) -> None:
    """Memory per poll is bounded, not only per response."""
    body = {"items": ["x" * 1000], "next": None}
    for n in range(1, 4):
        body = {"items": ["x" * 1000], "next": f"/p/{n + 1}" if n < 3 else None}
        http.expect_request(f"/p/{n}").respond_with_json(body)
    client = HttpClient(http.url_for("/"))
    with fetch_budget(30, max_bytes=2500), pytest.raises(BadResponse, match="one poll may read"):
        list(client.paginate("p/1", None, lambda page: page.data["next"]))
    assert len(http.log) == 3  # the third page went over the budget


def test_a_body_trickling_past_the_deadline_is_too_slow(http: HTTPServer) -> None:
    def trickle(_request: Request) -> Response:
        def body() -> Iterator[bytes]:
            yield b"["
            for _ in range(100):
                time.sleep(0.2)
                yield b" "
            yield b"]"

        return Response(body(), content_type="application/json")

    http.expect_request("/slow").respond_with_handler(trickle)
    client = HttpClient(http.url_for("/"), timeout=1)
    with fetch_budget(1.0), pytest.raises(Unavailable, match=r"too slow.*within 1 s"):
        client.get_json("slow")


# ------------------------------------------------------------------ what every request carries


def test_every_request_carries_the_source_headers_auth_and_params(http: HTTPServer) -> None:
    """The session's headers and credentials go with each request next to the request's own
    headers and params (the client prepares requests itself: requests' merge rules hold)."""
    seen: list[tuple[str | None, str | None, str | None, str]] = []

    def answer(request: Request) -> Response:
        h = request.headers
        seen.append(
            (
                h.get("X-Api-Key"),
                h.get("Authorization"),
                h.get("X-Extra"),
                request.query_string.decode(),
            )
        )
        return Response('{"ok": true}', content_type="application/json")

    http.expect_request("/t").respond_with_handler(answer)
    c = client(http, headers={"X-Api-Key": "perf-header-value"}, auth=("agent", "perf-basic-pw"))
    secretscan.register_secret("perf-basic-pw")
    c.get_json("t", {"page": 2, "skipped": None}, headers={"X-Extra": "1"})
    c.get_json("t")
    basic = "Basic YWdlbnQ6cGVyZi1iYXNpYy1wdw=="
    assert seen == [
        ("perf-header-value", basic, "1", "page=2"),
        ("perf-header-value", basic, None, ""),
    ]


def test_a_cookie_the_helpdesk_sets_is_sent_back(http: HTTPServer) -> None:
    cookies: list[str | None] = []

    def answer(request: Request) -> Response:
        cookies.append(request.headers.get("Cookie"))
        response = Response('{"ok": true}', content_type="application/json")
        response.set_cookie("desk_session", "abc")
        return response

    http.expect_request("/t").respond_with_handler(answer)
    c = client(http)
    c.get_json("t", revalidate=False)
    c.get_json("t", revalidate=False)
    assert cookies == [None, "desk_session=abc"]


def test_netrc_credentials_are_used_when_the_source_has_none(
    http: HTTPServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As with curl and requests: a ~/.netrc entry for the host signs a source without auth."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login agent password perf-netrc-pw\n", encoding="utf-8")
    netrc.chmod(0o600)  # the person's own credential file, like the keyring: not scanned
    monkeypatch.setenv("NETRC", str(netrc))
    seen: list[str | None] = []

    def answer(request: Request) -> Response:
        seen.append(request.headers.get("Authorization"))
        return Response('{"ok": true}', content_type="application/json")

    http.expect_request("/t").respond_with_handler(answer)
    c = client(http)
    c.get_json("t")
    c.get_json("t")
    assert seen == ["Basic YWdlbnQ6cGVyZi1uZXRyYy1wdw=="] * 2
