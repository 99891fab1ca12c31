"""The github kind against a fake GitHub API on 127.0.0.1."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

import pytest
from pytest_httpserver import HTTPServer

from agent.config import SourceConfig
from agent.sources import source_class
from agent.sources.base import (
    AuthError,
    BadResponse,
    Forbidden,
    NotConfigured,
    NotFound,
    RateLimited,
    SourceError,
    Unavailable,
    Unreachable,
)
from agent.sources.github import GitHubSource
from tests.fakes.github import FakeGitHub
from tests.fakes.web import closed_port_url, local_server

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TOKEN = "ghp_FAKEtoken0123456789abcdefSECRET"


@pytest.fixture
def fake(server: HTTPServer) -> FakeGitHub:
    return FakeGitHub(server, TOKEN)


def make(fake: FakeGitHub, url: str | None = None, **kw: object) -> GitHubSource:
    options = {"repository": "acme/tool", "team": [], "paused_labels": ["waiting-for-customer"]}
    options.update(kw.pop("options", {}))  # type: ignore[arg-type]
    config = SourceConfig(
        name="Tool issues",
        kind="github",
        url=url or fake.api,
        categories=tuple(kw.pop("categories", ())),  # type: ignore[arg-type]
        options=options,
        timeout=5,
    )
    return GitHubSource(config, TOKEN, clock=lambda: NOW)


def h(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def test_registered_with_a_description() -> None:
    cls = source_class("github")
    assert cls is GitHubSource
    assert "GitHub" in cls.description


def test_waiting_follows_who_spoke_last(fake: FakeGitHub) -> None:
    fake.add_issue(1, "Export fails", created=h(5), labels=("support",))
    fake.add_issue(
        2, "Answered", created=h(6), comments=(("maintainer", "MEMBER", h(4)),)
    )  # the team replied last
    fake.add_issue(
        3,
        "Came back",
        created=h(9),
        comments=(
            ("maintainer", "OWNER", h(8)),
            ("customer-bob", "NONE", h(3)),
            ("customer-bob", "NONE", h(2)),
        ),
    )
    fake.add_issue(4, "A pull request", created=h(1), pull_request=True)
    fake.add_issue(5, "Paused", created=h(7), labels=("waiting-for-customer",))
    fake.add_issue(6, "Opened by the owner", user="boss", association="OWNER", created=h(7))
    fake.add_issue(
        7, "Bot replied", created=h(4), comments=(("github-actions[bot]", "NONE", h(3)),)
    )
    fake.add_issue(
        8,
        "Contributor answered",
        created=h(4),
        comments=(("helper", "CONTRIBUTOR", h(3)),),
    )
    snap = make(fake).fetch(None)
    by_id = {t.id: t for t in snap.tickets}
    assert sorted(by_id, key=int) == ["1", "3", "7", "8"]
    assert by_id["1"].waiting_since == h(5)
    assert by_id["1"].category == "support"
    assert by_id["1"].url == "https://github.com/acme/tool/issues/1"
    assert by_id["1"].requester == "customer-bob"
    # the oldest customer message after the team's last reply, not the newest
    assert by_id["3"].waiting_since == h(3)
    assert by_id["7"].waiting_since == h(4)  # a bot's comment answers nobody
    assert by_id["8"].waiting_since == h(4)  # a contributor is not the team
    assert all(t.due_at is None for t in snap.tickets)  # GitHub has no SLA: computed later
    assert all(t.waiting_since.tzinfo is not None for t in snap.tickets)
    assert snap.complete
    request = next(r for r in fake.requests if r.path == "/repos/acme/tool/issues")
    assert request.args["state"] == "open"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert request.headers["Accept"] == "application/vnd.github+json"


def test_team_option_names_who_answers(fake: FakeGitHub) -> None:
    fake.add_issue(1, "Helped by a contractor", created=h(5), comments=(("carol", "NONE", h(4)),))
    fake.add_issue(
        2, "Member is not in the team", created=h(5), comments=(("dave", "MEMBER", h(4)),)
    )
    snap = make(fake, options={"team": ["Carol"]}).fetch(None)
    assert [t.id for t in snap.tickets] == ["2"]
    assert snap.tickets[0].waiting_since == h(5)


def test_private_org_members_and_collaborators_answer(fake: FakeGitHub) -> None:
    """A member whose membership is private shows CONTRIBUTOR or NONE (actions/github-script
    #643): the team is read from GET /orgs/{org}/members (concealed members included for a
    member's token, https://docs.github.com/en/rest/orgs/members) and GET
    /repos/{o}/{r}/collaborators (https://docs.github.com/en/rest/collaborators/collaborators).
    Failed before: the private member's reply did not count and the issue kept ringing."""
    fake.members = ["boss", "maintainer", "pat", "Quinn"]
    fake.collaborators = ["boss", "maintainer", "pat", "Quinn", "contractor-cy"]
    fake.add_issue(1, "Answered by a private member", created=h(5),
                   comments=(("pat", "CONTRIBUTOR", h(4)),))  # fmt: skip
    fake.add_issue(2, "Answered by another", created=h(5), comments=(("quinn", "NONE", h(4)),))
    fake.add_issue(3, "Answered by a collaborator", created=h(5),
                   comments=(("contractor-cy", "CONTRIBUTOR", h(4)),))  # fmt: skip
    fake.add_issue(4, "A contributor is not the team", created=h(5),
                   comments=(("helper", "CONTRIBUTOR", h(4)),))  # fmt: skip
    source = make(fake)
    snap = source.fetch(None)
    assert [t.id for t in snap.tickets] == ["4"]
    assert snap.tickets[0].waiting_since == h(5)
    team_reads = ["/orgs/acme/members", "/repos/acme/tool/collaborators"]
    assert [p for p in fake.paths() if p in team_reads] == team_reads
    assert "/repos/acme/tool" not in fake.paths()  # the owner's members are asked directly
    fake.requests.clear()
    source.fetch(NOW)
    assert fake.paths() == ["/repos/acme/tool/issues"]  # read once an hour, not every poll


def test_without_the_lists_the_association_decides(fake: FakeGitHub) -> None:
    """A user-owned repository has no organisation, and the collaborators need write access
    (403): neither stops the poll."""
    fake.owner_type = "User"
    fake.collaborators_forbidden = True
    fake.add_issue(1, "Answered", created=h(5), comments=(("maintainer", "OWNER", h(4)),))
    fake.add_issue(2, "Waiting", created=h(5), comments=(("pat", "CONTRIBUTOR", h(4)),))
    snap = make(fake).fetch(None)
    assert [t.id for t in snap.tickets] == ["2"] and snap.complete
    # GitHub answers 404 for a user's "organisation" members: read as no organisation
    assert [p for p in fake.paths() if p.startswith("/orgs/")] == ["/orgs/acme/members"]


def test_a_moved_repository_is_followed_on_the_same_host(fake: FakeGitHub) -> None:
    """A renamed or transferred repository answers 301 with the new URL (GitHub: "Follow
    redirects", https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-
    rest-api). Failed before: "redirected the request elsewhere" and no tickets."""
    fake.moved = {"acme/old-tool": ""}
    fake.add_issue(1, "Waiting", created=h(5), comments=(("customer-bob", "NONE", h(4)),))
    source = make(fake, options={"repository": "acme/old-tool"})
    snap = source.fetch(None)
    assert [t.id for t in snap.tickets] == ["1"] and snap.complete
    moved = [r for r in fake.requests if r.path == "/repositories/1296269/issues"]
    assert moved and moved[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert moved[0].args["state"] == "open"  # the same question at the new place
    assert "/repositories/1296269/issues/1/comments" in fake.paths()
    fake.requests.clear()
    source.fetch(NOW)
    assert fake.paths() == ["/repositories/1296269/issues"]  # no 301 on every poll


def test_a_move_to_another_host_is_not_followed(
    fake: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    """The token is never sent to another host, whatever a redirect says."""
    caplog.set_level(logging.DEBUG)
    with local_server() as other_server:
        other = FakeGitHub(other_server, TOKEN)
        fake.moved = {"acme/tool": other.base}
        fake.add_issue(1, "Waiting", created=h(5))
        with pytest.raises(BadResponse, match="another host") as info:
            make(fake).fetch(None)
        assert other.requests == []
    assert TOKEN not in str(info.value) + info.value.detail + caplog.text


def test_labels_filter_server_side_and_name_the_category(fake: FakeGitHub) -> None:
    fake.add_issue(1, "Invoice", created=h(3), labels=("bug", "billing", "priority: high"))
    fake.add_issue(2, "Crash", created=h(2), labels=("bug",))
    fake.add_issue(3, "Refund", created=h(1), labels=("billing", "support"))
    fake.add_issue(4, "Question", created=h(1), labels=("support",))
    snap = make(fake, categories=("Billing", "support")).fetch(None)
    by_id = {t.id: t for t in snap.tickets}
    assert sorted(by_id) == ["1", "3", "4"]  # each once, though #3 has both labels
    assert by_id["1"].category == "billing"
    assert by_id["1"].priority == "high"
    assert by_id["4"].category == "support"
    asked = sorted(r.args.get("labels", "") for r in fake.requests if r.path.endswith("/issues"))
    assert asked == ["Billing", "support"]


def test_pagination_follows_link_headers(fake: FakeGitHub) -> None:
    for n in range(1, 251):
        fake.add_issue(n, f"Issue {n}", created=h(300 - n))
    snap = make(fake).fetch(None)
    assert len(snap.tickets) == 250
    pages = [r.args.get("page", "1") for r in fake.requests if r.path.endswith("/issues")]
    assert pages == ["1", "2", "3"]
    assert snap.complete


def test_endless_pagination_is_cut_and_marked_incomplete(fake: FakeGitHub) -> None:
    for n in range(1, 251):
        fake.add_issue(n, f"Issue {n}", created=h(300 - n))
    source = make(fake)
    source.client.max_pages = 2
    snap = source.fetch(None)
    assert len(snap.tickets) == 200
    assert not snap.complete  # the rest is unknown, not answered


def test_idle_poll_is_one_since_request_and_reads_no_comments(fake: FakeGitHub) -> None:
    """Between full listings only issues changed since the last look are asked for
    (``since``, https://docs.github.com/en/rest/issues/issues#list-repository-issues); the same
    request answers 304 while nothing changed. Failed before: every page was revalidated."""
    fake.add_issue(1, "Waiting", created=h(5), comments=(("customer-bob", "NONE", h(4)),))
    fake.add_issue(2, "Answered", created=h(5), comments=(("maint", "MEMBER", h(4)),))
    source = make(fake)
    first = source.fetch(None)
    assert [t.id for t in first.tickets] == ["1"]
    for _ in range(2):
        fake.requests.clear()
        assert source.fetch(NOW).tickets == first.tickets
        assert fake.paths() == ["/repos/acme/tool/issues"]
        assert fake.requests[0].args["state"] == "all" and "since" in fake.requests[0].args
    assert fake.not_modified == 1  # the second idle poll: a 304, free of the rate limit
    # the team answers #1: it comes back changed, and only #1's comments are read again
    fake.add_comment(1, "maint", "MEMBER", h(1))
    fake.requests.clear()
    third = source.fetch(NOW)
    assert third.tickets == ()
    assert fake.paths() == ["/repos/acme/tool/issues", "/repos/acme/tool/issues/1/comments"]


def test_an_issue_that_starts_waiting_on_page_three_is_seen_by_the_idle_poll(
    fake: FakeGitHub,
) -> None:
    """300 issues over three pages; the team had answered #250 (page three of the listing
    sorted by creation). The customer writes again: the one "since" request brings it, and a
    closed issue leaves, though neither is on the listing's first page."""
    for n in range(1, 301):
        comments = (("maint", "MEMBER", h(300 - n)),) if n == 250 else ()
        fake.add_issue(n, f"Issue {n}", created=h(400 - n), comments=comments)
    source = make(fake)
    first = source.fetch(None)
    assert len(first.tickets) == 299 and first.complete
    fake.add_comment(250, "customer-bob", "NONE", h(0.5))
    fake.close_issue(280, h(0.4))
    fake.requests.clear()
    snap = source.fetch(NOW)
    by_id = {t.id: t for t in snap.tickets}
    assert by_id["250"].waiting_since == h(0.5)
    assert "280" not in by_id and len(by_id) == 299 and snap.complete
    assert fake.paths() == ["/repos/acme/tool/issues", "/repos/acme/tool/issues/250/comments"]


def test_a_label_added_or_removed_between_full_listings_is_seen(fake: FakeGitHub) -> None:
    """With labels watched, the "since" request asks for every changed issue and the labels
    are matched here: an issue that gets a watched label is counted, one that loses it leaves."""
    fake.add_issue(1, "Billing", created=h(5), labels=("billing",))
    fake.add_issue(2, "Unlabelled", created=h(5))
    source = make(fake, categories=("Billing",))
    assert [t.id for t in source.fetch(None).tickets] == ["1"]
    issues = {i["number"]: i for i in fake.issues}
    issues[2]["labels"] = [{"id": 9, "name": "billing"}]
    issues[2]["updated_at"] = "2026-11-23T09:50:00Z"
    issues[1]["labels"] = []
    issues[1]["updated_at"] = "2026-11-23T09:51:00Z"
    fake.requests.clear()
    assert [t.id for t in source.fetch(NOW).tickets] == ["2"]
    assert fake.paths() == ["/repos/acme/tool/issues"]


def test_every_fifteen_minutes_everything_is_listed_again(fake: FakeGitHub) -> None:
    """A deleted or transferred issue never shows in a "since" listing: the full listing every
    15 minutes (as Freshdesk's) drops it."""
    fake.add_issue(1, "Waiting", created=h(5))
    fake.add_issue(2, "Deleted later", created=h(5))
    clock = [NOW]
    source = make(fake)
    source.clock = lambda: clock[0]
    assert len(source.fetch(None).tickets) == 2
    fake.issues = [i for i in fake.issues if i["number"] != 2]  # deleted: no update to list
    clock[0] = NOW + timedelta(minutes=5)
    assert len(source.fetch(NOW).tickets) == 2
    clock[0] = NOW + timedelta(minutes=15)
    fake.requests.clear()
    assert [t.id for t in source.fetch(NOW).tickets] == ["1"]
    assert fake.requests[0].args["state"] == "open"


def test_low_quota_asks_the_agent_to_slow_down(fake: FakeGitHub) -> None:
    fake.add_issue(1, "Waiting", created=h(5))
    fake.remaining = 40
    snap = make(fake).fetch(None)
    assert snap.throttle is not None and snap.throttle > 3000  # until the reset, an hour away


def test_list_categories_lists_labels(fake: FakeGitHub) -> None:
    assert make(fake).list_categories() == fake.labels


def test_bad_repository_option_is_named() -> None:
    config = SourceConfig(name="x", kind="github", options={"repository": "not a repo"})
    with pytest.raises(NotConfigured, match="owner/name"):
        GitHubSource(config, TOKEN)


ERRORS = [
    (401, {}, AuthError, "credentials"),
    (403, {}, Forbidden, "permission"),
    (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "+120"}, RateLimited, "slow down"),
    (403, {"Retry-After": "60"}, RateLimited, "slow down"),
    (429, {"Retry-After": "30"}, RateLimited, "slow down"),
    (404, {}, NotFound, "acme/tool"),
    (500, {}, Unavailable, "problem of its own"),
    (502, {}, Unavailable, "problem of its own"),
    ("html_login", {}, AuthError, "web page"),
    ("redirect_login", {}, AuthError, "login page"),
    ("bad_shape", {}, BadResponse, "not a list"),
    ("endless", {}, BadResponse, "refused"),
]


@pytest.mark.parametrize(("failure", "headers", "error", "words"), ERRORS)
def test_every_failure_is_classified_without_leaking_the_token(
    fake: FakeGitHub,
    caplog: pytest.LogCaptureFixture,
    failure: str | int,
    headers: dict[str, str],
    error: type[SourceError],
    words: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.add_issue(1, "Waiting", created=h(5))
    fake.failure = failure
    if headers.get("x-ratelimit-reset") == "+120":  # GitHub: the epoch second of the reset
        headers = {**headers, "x-ratelimit-reset": str(int(time.time()) + 120)}
    fake.failure_headers = headers
    with pytest.raises(error) as info:
        make(fake).fetch(None)
    assert words in str(info.value)
    if failure == 401:
        assert not isinstance(info.value, Forbidden)
    if error is RateLimited:
        assert not isinstance(info.value, Forbidden)
        wait = info.value.retry_after  # type: ignore[attr-defined]
        expected = {"30": 30, "60": 60}.get(headers.get("Retry-After", ""), 120)
        assert wait is not None and expected - 10 <= wait <= expected
    for text in (str(info.value), info.value.detail, caplog.text):
        assert TOKEN not in text


def test_connection_refused_is_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = SourceConfig(
        name="Tool issues", kind="github", url=closed_port_url(), options={"repository": "a/b"}
    )
    with pytest.raises(Unreachable, match="refused") as info:
        GitHubSource(config, TOKEN).fetch(None)
    assert TOKEN not in str(info.value) + info.value.detail + caplog.text


@pytest.mark.parametrize("labels", [True, 3, "bug", {"name": "bug"}])
def test_labels_that_are_not_a_list_are_a_bad_response(labels: object) -> None:
    from agent.sources.github import parse_issue

    issue = {"number": 1, "state": "open", "labels": labels, "created_at": "2026-11-23T10:00:00Z"}
    with pytest.raises(BadResponse, match="labels are not a list"):
        parse_issue(issue, [], source="gh", team=frozenset())


def test_the_secondary_rate_limit_is_a_wait_of_at_least_a_minute_not_missing_permission(
    fake: FakeGitHub,
) -> None:
    """A 403 whose body says "secondary rate limit", without Retry-After and with primary quota
    left, is GitHub asking us to wait (at least a minute, its docs say), not a token problem."""
    fake.add_issue(1, "Q", created=NOW - timedelta(hours=1))
    fake.secondary_limited = True
    with pytest.raises(RateLimited, match="secondary rate limit") as info:
        make(fake).fetch(None)
    assert not isinstance(info.value, Forbidden)
    assert info.value.retry_after is not None and info.value.retry_after >= 60
    assert len(fake.requests) == 1  # a minute is past this fetch's budget: not waited inline
