"""End to end: `ticketbell check --json` as a user runs it, against several fake helpdesks at once.

GitHub, a JSON endpoint, Help Scout and FreeScout answer from 127.0.0.1; FreeScout's key is
wrong. The other sources' tickets must all be there with the right categories and due times,
the failing source must say why, and the exit code must be 3 (UNKNOWN: a source failed).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from pytest_httpserver import HTTPServer

from agent.config import to_toml
from tests.conftest import run_cli
from tests.fakes.freescout import FakeFreeScout
from tests.fakes.github import FakeGitHub
from tests.fakes.helpscout import FakeHelpScout
from tests.fakes.jsonapi import FakeJsonHelpdesk
from tests.fakes.kinds import HTTP_KINDS
from tests.fakes.web import local_server

UTC = timezone.utc
SECRETS = {
    "E2E_GITHUB_TOKEN": "ghp_e2eSECRETtoken000111",
    "E2E_JSON_KEY": "json-e2e-SECRET-222333",
    "E2E_HELPSCOUT_SECRET": "hs-e2e-SECRET-444555",
    "E2E_FREESCOUT_KEY": "fs-e2e-WRONG-666777",
}


@pytest.fixture
def servers() -> Iterator[list[HTTPServer]]:
    with local_server() as a, local_server() as b, local_server() as c, local_server() as d:
        yield [a, b, c, d]


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_check_json_with_several_helpdesks_and_one_failing(
    servers: list[HTTPServer], cli_env: dict[str, str], tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    github = FakeGitHub(servers[0], SECRETS["E2E_GITHUB_TOKEN"])
    github.add_issue(
        1, "Export fails with umlauts", labels=("support",), created=now - timedelta(minutes=20)
    )
    github.add_issue(2, "Answered", labels=("support",), created=now - timedelta(hours=5),
                     comments=(("maint", "MEMBER", now - timedelta(hours=4)),))  # fmt: skip
    github.add_issue(3, "Only a bug", labels=("bug",), created=now - timedelta(hours=1))
    desk = FakeJsonHelpdesk(servers[1], SECRETS["E2E_JSON_KEY"])
    helpdesk_due = now + timedelta(minutes=45)
    desk.add(17, "Refund", queue="Billing", opened=now - timedelta(hours=3),
             customer_wrote=now - timedelta(minutes=10), due=helpdesk_due)  # fmt: skip
    desk.add(18, "Pending", state="pending", queue="Billing", opened=now - timedelta(hours=3))
    desk.add(19, "Late question", queue="Sales", opened=now - timedelta(hours=3))
    helpscout = FakeHelpScout(servers[2], "app-e2e", SECRETS["E2E_HELPSCOUT_SECRET"])
    helpscout.add(5120, "Where is my order?", mailbox=101, created=now - timedelta(hours=2),
                  waiting=now - timedelta(minutes=5))  # fmt: skip
    helpscout.add(5121, "Thanks!", mailbox=101, created=now - timedelta(hours=2),
                  waiting=now - timedelta(hours=1), reply_from="user")  # fmt: skip
    freescout = FakeFreeScout(servers[3], "the-right-key-888999")
    freescout.add("Unseen", created=now - timedelta(hours=1), threads=(("customer", now),))

    config = tmp_path / "ticketbell.toml"
    config.write_text(
        f"""
role = "owner"

[windows]
default = "1h"
rules = [{{ category = "support", window = "30m" }}]

[[sources]]
name = "Tool issues"
kind = "github"
url = "{github.api}"
repository = "acme/tool"
categories = ["support"]
secret_env = "E2E_GITHUB_TOKEN"

[[sources]]
name = "In-house desk"
kind = "json"
url = "{desk.url}"
auth_header = "X-Api-Key"
items = "data.tickets"
next = "links.next"
waiting_statuses = ["open"]
secret_env = "E2E_JSON_KEY"
fields = {{ id = "ticket_id", subject = "title", category = "queue.name", status = "state", \
created = "opened_at", waiting_since = "last_customer_message_at", due = "sla.due", \
url = "links.web" }}

[[sources]]
name = "Help Scout"
kind = "helpscout"
url = "{helpscout.api}"
user = "app-e2e"
secret_env = "E2E_HELPSCOUT_SECRET"

[[sources]]
name = "FreeScout"
kind = "freescout"
url = "{freescout.base}"
secret_env = "E2E_FREESCOUT_KEY"
""",
        encoding="utf-8",
    )
    env = {**cli_env, **SECRETS}
    result = run_cli(["check", "--json", "--config", str(config)], env)

    assert result.returncode == 3, result.stderr
    report = orjson.loads(result.stdout)
    sources = {s["name"]: s for s in report["sources"]}
    assert {n: s["health"] for n, s in sources.items()} == {
        "Tool issues": "ok",
        "In-house desk": "ok",
        "Help Scout": "ok",
        "FreeScout": "failing",
    }
    assert "did not accept the credentials" in sources["FreeScout"]["message"]
    assert {n: s["waiting"] for n, s in sources.items() if n != "FreeScout"} == {
        "Tool issues": 1,
        "In-house desk": 2,
        "Help Scout": 1,
    }
    # FreeScout's tickets are not counted: 4 is a floor, not the total (the table: "at least")
    assert report["waiting"] is None and report["blind"] is True
    assert report["waiting_at_least"] == 4

    tickets = {(t["source"], t["id"]): t for t in report["tickets"]}
    assert set(tickets) == {
        ("Tool issues", "1"),
        ("In-house desk", "17"),
        ("In-house desk", "19"),
        ("Help Scout", "5120"),
    }
    issue = tickets[("Tool issues", "1")]
    assert issue["category"] == "support"
    # no deadline from GitHub: waiting since + the 30 min window of the "support" rule
    assert parse(issue["due_at"]) == parse(issue["waiting_since"]) + timedelta(minutes=30)
    assert parse(issue["waiting_since"]) == now - timedelta(minutes=20)
    assert issue["url"] == "https://github.com/acme/tool/issues/1"
    refund = tickets[("In-house desk", "17")]
    assert refund["category"] == "Billing"
    assert parse(refund["due_at"]) == helpdesk_due  # the helpdesk's own deadline wins
    late = tickets[("In-house desk", "19")]
    assert parse(late["due_at"]) == now - timedelta(hours=2)  # opened 3 h ago + 1 h default
    assert late["state"] == "overdue"
    order = tickets[("Help Scout", "5120")]
    assert order["category"] == "Support"
    # the mailbox "Support" meets the "support" rule too (categories match without case)
    assert parse(order["due_at"]) == now - timedelta(minutes=5) + timedelta(minutes=30)
    assert report["overdue"] == 1

    output = result.stdout + result.stderr
    for secret in SECRETS.values():
        assert secret not in output
    logs = list(Path(cli_env["XDG_STATE_HOME"]).rglob("*.log"))
    for log in logs:
        text = log.read_text(encoding="utf-8")
        for secret in SECRETS.values():
            assert secret not in text


def test_sources_lists_each_kind_with_its_description(cli_env: dict[str, str]) -> None:
    result = run_cli(["sources"], cli_env)
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    for kind, words in {
        "github": "GitHub issues",
        "helpscout": "Help Scout",
        "freescout": "FreeScout",
        "json": "answers in JSON",
    }.items():
        assert words in lines[kind]


@pytest.mark.parametrize("kind", ["json", "github"])
def test_check_waits_out_a_short_rate_limit_on_page_two(
    kind: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Issue 11, as a new user tried it: page 2 answered with 429 and ``Retry-After: 1``.
    `check` used to exit 3 ("asks us to slow down") with no tickets; the wait is short, so it
    is waited out, page 2 is asked again and every ticket is there."""
    harness = HTTP_KINDS[kind]
    now = datetime.now(UTC).replace(microsecond=0)
    with local_server() as server:
        fake = harness.fake(server)
        for n in range(1, 131):  # two pages of 100
            harness.add_waiting(fake, n, now - timedelta(minutes=n))
        fake.limit_once(lambda r: r.args.get("page") == "2", {"Retry-After": "1"})
        config = tmp_path / "ticketbell.toml"
        table = harness.table(fake, "Desk", secret_env="E2E_KIT_SECRET")
        config.write_text(to_toml({"sources": [table]}), encoding="utf-8")
        env = {**cli_env, "E2E_KIT_SECRET": harness.secret}
        result = run_cli(["check", "--json", "--config", str(config)], env)
    assert result.returncode != 3, result.stdout + result.stderr
    report = orjson.loads(result.stdout)
    (source,) = report["sources"]
    assert (source["health"], source["waiting"]) == ("ok", 130)
    assert len(fake.limited) == 1
    page_two = fake.limited[0].full_path
    assert [r.full_path for r in fake.requests].count(page_two) == 2
