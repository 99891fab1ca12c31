"""What every source kind promises, run over ``agent.sources.KINDS``: its registration, the error
table against its own fake (each fake answers with its vendor's own words), a missing secret,
a short rate limit inside a poll, and each option's round trip through the settings form."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from agent import config as config_module
from agent.config import SourceConfig
from agent.sources import KINDS, source_class
from agent.sources.base import (
    AuthError,
    BadResponse,
    Forbidden,
    NotConfigured,
    Option,
    RateLimited,
    Source,
    Unavailable,
)
from tests.fakes.kinds import HTTP_KINDS
from tests.fakes.web import expect_failure

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
OPTION_TYPES = (str, int, bool, list, dict)


def test_every_http_kind_has_a_fake_in_the_table() -> None:
    """A new helpdesk kind is not done until it runs through this module with its fake."""
    # team: no HTTP; its tests run a real Mosquitto (tests/test_team.py)
    assert set(HTTP_KINDS) == set(KINDS) - {"demo", "imap", "team"}


# ------------------------------------------------------------------ registration


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_registration(kind: str) -> None:
    cls = source_class(kind)
    assert issubclass(cls, Source) and cls.kind == kind
    assert cls.description.strip() and cls.secret_label.strip() and cls.category_label.strip()
    assert cls.title.strip(), f"{kind}: no title (a new source's name in the settings form)"
    options = cls.required + cls.optional
    keys = [o.key for o in options]
    assert len(keys) == len(set(keys)), f"{kind}: an option is listed twice"
    for opt in options:
        assert isinstance(opt, Option) and opt.key and opt.label.strip()
        assert opt.type in OPTION_TYPES, f"{kind}.{opt.key}: {opt.type}"
        if opt.default is not None:
            assert isinstance(opt.default, opt.type), f"{kind}.{opt.key}: default of another type"


# ------------------------------------------------------------------ the error table


def own_words(fake: Any, status: int) -> list[str]:
    """The texts a fake's own error body for ``status`` carries (what its vendor says)."""
    response = fake.error(status, {})
    body = response.get_data(as_text=True)
    if response.mimetype.endswith("json"):
        data = json.loads(body)
        return [v for v in data.values() if isinstance(v, str) and len(v) > 3]
    return [body.strip()]


ERROR_TABLE: list[tuple[int | str, dict[str, str], type[Exception]]] = [
    (401, {}, AuthError),
    (403, {}, Forbidden),
    (404, {}, BadResponse),
    (429, {"Retry-After": "600"}, RateLimited),
    (500, {}, Unavailable),
    ("html_login", {}, AuthError),
]


@pytest.mark.parametrize(("failure", "headers", "error"), ERROR_TABLE, ids=str)
@pytest.mark.parametrize("kind", sorted(HTTP_KINDS))
def test_error_table(
    server: HTTPServer,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    failure: int | str,
    headers: dict[str, str],
    error: type[Exception],
) -> None:
    caplog.set_level(logging.DEBUG)
    harness = HTTP_KINDS[kind]
    fake = harness.fake(server)
    harness.add_waiting(fake, 1, NOW - timedelta(hours=1))
    source = source_class(kind)(harness.config(fake), harness.secret, clock=lambda: NOW)
    if isinstance(failure, int) and failure < 500:
        words: str | list[str] = own_words(fake, failure)
    else:
        words = {500: "HTTP 500", "html_login": "web page"}[failure]  # type: ignore[index]
    raised = expect_failure(
        lambda: source.fetch(None),
        fake,
        failure,
        headers,
        error,  # type: ignore[arg-type]
        words,
        [harness.secret],
        lambda: caplog.text,
    )
    if failure == 403:
        assert not isinstance(raised, RateLimited)
    if isinstance(raised, RateLimited):
        assert raised.retry_after == 600  # the helpdesk's wait, to show "slowed down until"
        assert len(fake.requests) <= 2  # no wait inside the poll for ten minutes


@pytest.mark.parametrize("kind", [k for k in sorted(KINDS) if source_class(k).needs_secret])
def test_a_missing_secret_is_not_configured(kind: str) -> None:
    cls = source_class(kind)
    harness = HTTP_KINDS.get(kind)
    if harness is not None:
        config = harness.config(_NoFake())
    else:
        config = SourceConfig(name="Desk", kind=kind, url="imaps://mail.example.com", user="me")
    with pytest.raises(NotConfigured, match=re.escape(cls.secret_label)):
        cls(config, None)
    with pytest.raises(NotConfigured):
        cls(config, "")


class _NoFake:
    """Stands in for a fake where only the address is read (no request is made)."""

    base = api = url = "https://desk.example.com"


# ------------------------------------------------------------------ rate limit inside a poll


@pytest.mark.parametrize("kind", sorted(HTTP_KINDS))
def test_a_short_rate_limit_on_page_two_is_waited_out_in_the_same_poll(
    server: HTTPServer, kind: str
) -> None:
    harness = HTTP_KINDS[kind]
    fake = harness.fake(server)
    for n in range(1, 121):  # more than one page of every kind's listing
        harness.add_waiting(fake, n, NOW - timedelta(minutes=n))
    key, value = harness.page_two
    fake.limit_once(lambda r: r.args.get(key) == value, {"Retry-After": "1"})
    source = source_class(kind)(harness.config(fake), harness.secret, clock=lambda: NOW)
    snapshot = source.fetch(None)
    assert fake.limited, f"{kind}: the fake never reached a second page"
    assert snapshot.complete
    assert len(snapshot.tickets) == 120
    asked = [r.full_path for r in fake.requests]
    assert asked.count(fake.limited[0].full_path) == 2  # the same page, asked again


# ------------------------------------------------------------------ the settings form


def option_values(kind: str) -> dict[str, Any]:
    """A value for every option of the kind that differs from its default."""
    cls = source_class(kind)
    values: dict[str, Any] = {}
    for opt in cls.required + cls.optional:
        if opt.type is bool:
            values[opt.key] = not bool(opt.default)
        elif opt.type is list:
            values[opt.key] = ["first", "second item"]
        elif opt.type is dict:
            # with a status path: waiting_statuses (given below) filters by it
            values[opt.key] = {
                "id": "ticket_id",
                "created": "opened.at",
                "subject": "a b",
                "status": "state",
            }
        elif opt.type is int:
            values[opt.key] = 42
        elif opt.key == "url":
            values[opt.key] = "https://desk.example.com/base"
        elif opt.key == "auth":
            values[opt.key] = "oauth"  # checked: "oauth" or the kind's own way (the default)
        elif opt.key == "provider":
            values[opt.key] = "custom"  # with auth = "oauth": checked to be a known provider
        else:
            values[opt.key] = f"{opt.key} value"
    return values


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_option_round_trips_through_the_settings_form(qtbot: Any, kind: str) -> None:
    from ui.settings import SourceForm

    values = option_values(kind)
    table = {"name": "Desk", "kind": kind, **values}
    form = SourceForm(table)
    qtbot.addWidget(form)
    back = form.table()
    cls = source_class(kind)
    for opt in cls.required + cls.optional:
        if kind == "demo" and opt.key == "url":
            continue  # the demo helpdesk has no address to set in the form
        if opt.key in values:
            assert back.get(opt.key, opt.default) == values[opt.key], opt.key
    # and what comes back is a source the config accepts (a team source: with its [team])
    team = {"broker": "mqtt://127.0.0.1:1883", "name": "acme", "user": "anna"}
    config_module.from_dict({"sources": [back], **({"team": team} if kind == "team" else {})})
