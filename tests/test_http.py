"""What every HTTP connector shares, tested once against a loopback server: ``HttpClient``.

The connectors' own tests check that each helpdesk's failures reach the person classified;
here are the generic rules behind that: Retry-After in both forms, 503 with and without it,
quota headers, size limits, page loops, ETag revalidation and TLS failures.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import certifi
import pytest
import trustme
from pytest_httpserver import HTTPServer
from requests.structures import CaseInsensitiveDict
from werkzeug import Request, Response

from agent.sources.base import BadResponse, RateLimited, TLSFailure, Unavailable, fetch_budget
from agent.sources.http import HttpClient, Page, reset_seconds, retry_after_seconds, throttle_hint
from tests.fakes.web import local_server

UTC = timezone.utc


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    with local_server() as server:
        yield server


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
        client(http).get_json("t")
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
    pages: list[Page] = []
    with pytest.raises(BadResponse, match="already read"):
        for page in client(http).paginate("p1", None, lambda p: p.data["next"]):
            pages.append(page)
    assert len(pages) == 2


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


def test_verify_off_is_honoured_despite_the_environment(
    tls_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    c = HttpClient(f"https://127.0.0.1:{tls_server.port}", timeout=5, verify=False)
    assert c.get_json("t").data == {"ok": True}


def test_proxy_settings_from_the_environment_hold_per_host(
    http: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment's proxy is read once per host, not once per client: NO_PROXY still
    exempts one host while another host of the same client goes through the proxy."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    http.expect_request("/t").respond_with_json({"ok": True})
    c = client(http)
    assert c.get_json("t").data == {"ok": True}
    assert c.get_json("t").data == {"ok": True}  # the cached settings, same answer
    with pytest.raises(Unavailable):
        c.get_json(f"http://localhost:{http.port}/t")  # not exempt: through the dead proxy
    assert c.get_json("t").data == {"ok": True}


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
