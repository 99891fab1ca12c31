"""GitHub issues used as a helpdesk: the open issues of one repository, by label.

GitHub has no notion of "waiting on us", so the conversation decides: an issue waits while the
newest message (the issue itself, then its comments) is a customer's. Who is the team is the
``team`` option (GitHub logins) or, without it, the organisation's members
(``/orgs/{owner}/members``, concealed ones included when the token's user is a member) and the
repository's collaborators (``/repos/{owner}/{repo}/collaborators``, needs write access), read
once an hour, plus whoever GitHub marks OWNER, MEMBER or COLLABORATOR. The lists matter: a
member whose membership is private shows as CONTRIBUTOR or NONE in ``author_association``.
Bot comments (auto-replies, CI) answer nobody and are ignored. Pull requests come back from the
issues endpoint too and are dropped.

A renamed or transferred repository answers 301 (GitHub: "follow redirects"): the move is
followed on the same host, with the token, and the new location is used from then on; a
redirect to another host is refused, so the token never goes there.

Between two full listings (every 15 minutes, :class:`agent.sources.kit.Relist`), only what
changed is read: ``/issues?state=all&sort=updated&direction=asc&since=`` the newest
``updated_at`` seen, less five minutes ("Only show results that were last updated after the
given time", List repository issues, docs.github.com/en/rest/issues/issues). A comment, a label,
a close or a reopen moves ``updated_at``, so a changed issue on any page of the listing comes
back there; the same request answers 304 while nothing changed (a conditional request that
GitHub does not count against the primary rate limit), so an idle poll costs one request
whatever the number of labels watched. The full listing catches what that list never shows
again (a deleted or transferred issue). Comments are only read for issues whose ``updated_at``
moved. A first sync costs the issue list's pages, the members and the collaborators (again once
an hour, mostly 304; a user-owned repository's owner answers 404 for the members) and one
request per issue with comments.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from agent.i18n import N_, Text
from agent.model import Snapshot, Ticket
from agent.sources import kit
from agent.sources.base import BadResponse, Forbidden, NotConfigured, NotFound, Option, Source
from agent.sources.http_limits import throttle_hint

log = logging.getLogger(__name__)

API = "https://api.github.com"
API_VERSION = "2022-11-28"
TEAM_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
TEAM_MAX_AGE = timedelta(hours=1)  # how long the members and collaborators lists are kept
#: how far before the newest ``updated_at`` seen a "since" request starts: whether ``since`` is
#: inclusive is not documented, and a change committed a moment late is not lost
SINCE_OVERLAP = timedelta(minutes=5)
_PRIORITY_LABEL = re.compile(
    r"^(?:priority|prio)?[\s:/_-]*(low|normal|medium|high|urgent|critical)$", re.IGNORECASE
)
_P_LABEL = {"p0": "urgent", "p1": "high", "p2": "normal", "p3": "low"}


@dataclass(frozen=True, slots=True)
class Message:
    """One public message of an issue: the issue body or a comment."""

    login: str
    association: str
    at: datetime
    bot: bool = False


def _time(value: Any, what: str) -> datetime | None:
    return kit.parse_time(value, where=f"GitHub {what}")


def _user(item: dict[str, Any]) -> dict[str, Any]:
    user = item.get("user")
    return user if isinstance(user, dict) else {}


def _require_list(data: Any, what: str) -> None:
    """A BadResponse unless ``data`` is a JSON list (``what``: the list it should be)."""
    if not isinstance(data, list):
        raise BadResponse(
            Text(N_("GitHub's answer is not a list of {what}"), what=Text(what)),
            f"expected a JSON list, got {type(data).__name__}",
        )


def parse_issues(data: Any) -> list[dict[str, Any]]:
    """The issues of one page of ``GET /repos/{o}/{r}/issues``, pull requests dropped."""
    _require_list(data, N_("issues; is the URL the GitHub API?"))
    issues = []
    for item in data:
        if not isinstance(item, dict) or "number" not in item:
            raise BadResponse(
                Text(N_("GitHub sent an issue without a number")),
                f"unexpected item: {str(item)[:200]}",
            )
        if item.get("pull_request") is not None:
            continue
        issues.append(item)
    return issues


def parse_comments(data: Any) -> list[Message]:
    """The messages of one page of ``GET /repos/{o}/{r}/issues/{n}/comments``."""
    _require_list(data, N_("comments"))
    messages = []
    for item in data:
        if not isinstance(item, dict):
            text = Text(N_("GitHub sent a comment that is not an object"))
            raise BadResponse(text, str(item)[:200])
        at = _time(item.get("created_at"), "comment created_at")
        if at is None:
            continue
        user = _user(item)
        messages.append(
            Message(
                login=kit.text_of(user, "login"),
                association=(kit.text_of(item, "author_association") or "NONE").upper(),
                at=at,
                bot=user.get("type") == "Bot" or str(user.get("login", "")).endswith("[bot]"),
            )
        )
    return messages


def parse_logins(data: Any) -> list[str]:
    """The casefolded logins of one page of members or collaborators."""
    _require_list(data, N_("users"))
    return [
        str(user["login"]).casefold()
        for user in data
        if isinstance(user, dict) and isinstance(user.get("login"), str)
    ]


def waiting_since(
    messages: Iterable[Message], team: frozenset[str], members: frozenset[str] = frozenset()
) -> datetime | None:
    """The oldest customer message no team member has answered since; None if none waits.

    ``team`` holds the configured casefolded logins and is then the whole team; when empty,
    ``members`` (the organisation's members and the repository's collaborators, casefolded)
    and the author association decide.
    """

    def is_team(m: Message) -> bool:
        if team:
            return m.login.casefold() in team
        return m.association in TEAM_ASSOCIATIONS or m.login.casefold() in members

    # bots (auto-replies, CI) answer nobody and wait for nobody
    return kit.waiting_since((m.at, not is_team(m)) for m in messages if not m.bot)


def _norm(label: str) -> str:
    return re.sub(r"[\s_-]+", "-", label.strip().casefold())


def label_names(issue: dict[str, Any]) -> list[str]:
    labels = issue.get("labels") or []
    if not isinstance(labels, list):
        text = Text(N_("GitHub sent an issue whose labels are not a list"))
        raise BadResponse(text, f"{labels!r:.80}")
    names = []
    for label in labels:
        name = label.get("name") if isinstance(label, dict) else label
        if isinstance(name, str) and name:
            names.append(name)
    return names


def priority_from_labels(labels: Iterable[str]) -> str:
    """A label like "urgent", "priority: high" or "P1" names the priority; else none."""
    for label in labels:
        text = label.strip().casefold()
        if text in _P_LABEL:
            return _P_LABEL[text]
        match = _PRIORITY_LABEL.match(text)
        if match:
            return match.group(1)
    return ""


def parse_issue(
    issue: dict[str, Any],
    comments: list[Message],
    *,
    source: str,
    team: frozenset[str],
    categories: tuple[str, ...] = (),
    paused_labels: Iterable[str] = (),
    members: frozenset[str] = frozenset(),
) -> Ticket | None:
    """The ticket for one open issue, or None when the team spoke last or it is paused."""
    if issue.get("pull_request") is not None or issue.get("state", "open") != "open":
        return None
    labels = label_names(issue)
    paused = {_norm(p) for p in paused_labels}
    if any(_norm(label) in paused for label in labels):
        return None
    created = _time(issue.get("created_at"), f"issue {issue.get('number')} created_at")
    if created is None:
        raise BadResponse(
            Text(N_("GitHub sent an issue without a creation date")), f"issue {issue.get('number')}"
        )
    number = issue.get("number")
    if number is None:
        raise BadResponse(Text(N_("GitHub sent an issue without a number")), str(issue)[:200])
    author = _user(issue)
    opener = Message(
        login=kit.text_of(author, "login"),
        association=(kit.text_of(issue, "author_association") or "NONE").upper(),
        at=created,
        bot=author.get("type") == "Bot",
    )
    since = waiting_since([opener, *comments], team, members)
    if since is None:
        return None
    wanted = {c.casefold() for c in categories}
    category = next((x for x in labels if x.casefold() in wanted), labels[0] if labels else "")
    assignee = issue.get("assignee")
    return Ticket(
        source=source,
        id=str(number),
        subject=kit.text_of(issue, "title"),
        created_at=created,
        waiting_since=since,
        requester=opener.login,
        category=category,
        priority=priority_from_labels(labels),
        status="open",
        due_at=None,  # GitHub has no per-issue deadline; the response window decides
        url=kit.text_of(issue, "html_url"),
        assignee=kit.text_of(assignee, "login") if isinstance(assignee, dict) else "",
    )


class GitHubSource(Source):
    kind = "github"
    title = "GitHub"
    description = N_("GitHub issues of a repository: open issues whose last word is a customer's")
    required = (Option("repository", N_("Repository (owner/name)"), help=N_('e.g. "acme/tool"')),)
    optional = (
        Option(
            "url", N_("API URL"), default=API, help=N_("GitHub Enterprise: https://HOST/api/v3")
        ),
        Option(
            "team",
            N_("Team logins"),
            list,
            [],
            N_(
                "GitHub logins whose comments count as answers (default: the organisation's "
                "members and the repository's collaborators)"
            ),
        ),
        Option(
            "paused_labels",
            N_("Paused labels"),
            list,
            ["waiting-for-customer", "on-hold"],
            N_("issues with one of these labels are not waiting on the team"),
        ),
    )
    secret_label = N_("Personal access token")
    credential_steps = N_(  # the README's steps
        "GitHub → Settings → Developer settings → Personal access tokens → Fine-grained "
        "token, limited to the repository, with read access to Issues (and Metadata)"
    )
    category_label = N_("My labels (none ticked: all of them)")

    def set_up(self) -> None:
        repo = str(self.option("repository") or "").strip().strip("/")
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
            raise NotConfigured(
                Text(
                    N_("{name}: repository {repo} is not of the form owner/name, e.g. acme/tool"),
                    name=self.name,
                    repo=repr(repo),
                )
            )
        self.repo = repo
        self.team = frozenset(t.casefold() for t in self.option_texts("team"))
        self.paused = self.option_texts("paused_labels")
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        }
        if self.secret:
            headers["Authorization"] = f"Bearer {self.secret}"
        self.client = self.http(self.config.url or API, headers=headers, follow_moved=True)
        #: the repository's API path; a moved repository's new one once GitHub said so
        self.repo_path = f"repos/{repo}"
        #: each issue's comments, kept while its ``updated_at`` stays the same
        self._comments: kit.TicketCache[int, list[Message]] = kit.TicketCache()
        self._throttle: float | None = None
        self._members: frozenset[str] = frozenset()
        self._members_read_at: datetime | None = None
        #: the open issues of the watched labels, as last read
        self._issues: dict[int, dict[str, Any]] = {}
        #: the newest ``updated_at`` seen; None: list every issue at the next poll
        self._mark: str | None = None
        self._relist = kit.Relist()

    def fetch(self, since: datetime | None) -> Snapshot:
        now = self.clock()
        self._throttle = None
        complete = self._relist.look(
            now, self._list_all, self._list_changes, first=self._mark is None
        )
        issues = self._issues
        tickets = []
        members = self._team_members(now) if issues and not self.team else frozenset()
        for number, issue in issues.items():
            comments, read_all = self._issue_comments(number, issue)
            complete = complete and read_all
            ticket = parse_issue(
                issue,
                comments,
                source=self.name,
                team=self.team,
                categories=self.config.categories,
                paused_labels=self.paused,
                members=members,
            )
            if ticket is not None:
                tickets.append(ticket)
        if complete:
            self._comments.prune(issues)
        return Snapshot(self.name, tuple(tickets), now, complete, self._throttle)

    def _list(self, params: dict[str, Any]) -> Iterable[tuple[dict[str, Any], bool]]:
        """The issues of one listing, pull requests dropped; then ``({}, complete)``."""
        try:
            pages = self.client.paginate(f"{self.repo_path}/issues", params, kit.link_header_next)
        except NotFound as exc:
            raise NotFound(
                Text(
                    N_(
                        "GitHub has no repository {repo} that this token can see ({said}); check "
                        "the name and the token's access"
                    ),
                    repo=self.repo,
                    said=exc.said or "Not Found",
                ),
                exc.detail,
            ) from None
        self._note_move(pages.pages[0].url)
        self._throttle = kit.slowest(self._throttle, pages.throttle)
        for page in pages:
            for issue in parse_issues(page.data):
                yield issue, True
        yield {}, pages.complete

    def _list_all(self) -> bool:
        """Every open issue of the watched labels (one listing per label); True when complete."""
        issues: dict[int, dict[str, Any]] = {}
        complete = True
        for label in self.config.categories or (None,):
            params: dict[str, Any] = {
                "state": "open",
                "per_page": 100,
                "sort": "created",
                "direction": "asc",
            }
            if label:
                params["labels"] = label
            for issue, done in self._list(params):
                if issue:
                    issues[int(issue["number"])] = issue
                else:
                    complete = complete and done
        self._issues = issues
        self._mark = max((kit.text_of(i, "updated_at") for i in issues.values()), default=None)
        return complete

    def _list_changes(self) -> bool:
        """Bring the open issues up to date from those changed since the last look, whatever
        their state or labels (one request, 304 while nothing changed); True when complete."""
        assert self._mark is not None
        start = kit.parse_time(self._mark, where="GitHub updated_at")
        params: dict[str, Any] = {
            "state": "all",
            "sort": "updated",
            "direction": "asc",
            "per_page": 100,
            "since": (start - SINCE_OVERLAP).strftime("%Y-%m-%dT%H:%M:%SZ") if start else "",
        }
        wanted = {c.casefold() for c in self.config.categories}
        complete = True
        for issue, done in self._list(params):
            if not issue:
                complete = done
                continue
            number = int(issue["number"])
            labels = {label.casefold() for label in label_names(issue)}
            if issue.get("state") == "open" and (not wanted or labels & wanted):
                self._issues[number] = issue
            else:
                self._issues.pop(number, None)  # closed, or no longer labelled as watched
            self._mark = max(self._mark, kit.text_of(issue, "updated_at"))
        return complete

    def _note_move(self, final_url: str) -> None:
        """Keep asking at the repository's new place once GitHub redirected us there."""
        base = urlsplit(self.client.base_url).path
        path = urlsplit(final_url).path
        if not (path.startswith(base) and path.endswith("/issues")):
            return
        moved_to = path[len(base) : -len("/issues")].strip("/")
        if moved_to and moved_to != self.repo_path:
            log.warning(
                "%s: GitHub says the repository %s moved (renamed or transferred); using its "
                "new location %s. Update the repository option to the new name.",
                self.name,
                self.repo,
                moved_to,
            )
            self.repo_path = moved_to

    def _team_members(self, now: datetime) -> frozenset[str]:
        """The organisation's members and the repository's collaborators, once an hour.

        The owner's members are asked for directly: for a user account (no organisation) GitHub
        answers 404 (List organization members, docs.github.com/en/rest/orgs/members), which
        saves reading the repository first.

        Either list may be unavailable (a user-owned repository has no organisation; the
        collaborators need write access): then the author association alone decides for it.
        """
        if self._members_read_at and now - self._members_read_at < TEAM_MAX_AGE:
            return self._members
        logins: set[str] = set()
        lists = [f"{self.repo_path}/collaborators"]
        if self.repo_path.startswith("repos/"):
            # a user account is no organisation: its members list answers 404, read as such
            lists.insert(0, f"orgs/{self.repo_path.split('/')[1]}/members")
        else:  # moved to /repositories/{id}: the repository says who owns it now
            page = self.client.get_json(self.repo_path)
            self._throttle = kit.slowest(self._throttle, throttle_hint(page.headers))
            owner = page.data.get("owner") if isinstance(page.data, dict) else None
            if isinstance(owner, dict) and owner.get("type") == "Organization":
                lists.insert(0, f"orgs/{owner.get('login')}/members")
        for path in lists:
            try:
                pages = self.client.paginate(path, {"per_page": 100}, kit.link_header_next)
                self._throttle = kit.slowest(self._throttle, pages.throttle)
                for page in pages:
                    logins.update(parse_logins(page.data))
            except (Forbidden, NotFound) as exc:
                log.info("%s: cannot read %s (%s); GitHub's author association decides",
                         self.name, path, exc.label)  # fmt: skip
        self._members, self._members_read_at = frozenset(logins), now
        return self._members

    def _issue_comments(self, number: int, issue: dict[str, Any]) -> tuple[list[Message], bool]:
        """The issue's comments, read again only when the issue changed since last time."""
        if not issue.get("comments"):
            return [], True
        updated = kit.text_of(issue, "updated_at")
        return self._comments.read(number, updated, lambda: self._read_comments(number))

    def _read_comments(self, number: int) -> tuple[list[Message], bool]:
        """Every comment of the issue; True when all pages were read."""
        path = f"{self.repo_path}/issues/{number}/comments"
        pages = self.client.paginate(path, {"per_page": 100}, kit.link_header_next)
        self._throttle = kit.slowest(self._throttle, pages.throttle)
        return [c for page in pages for c in parse_comments(page.data)], pages.complete

    def list_categories(self) -> list[str]:
        names: list[str] = []
        for page in self.client.paginate(
            f"{self.repo_path}/labels", {"per_page": 100}, kit.link_header_next
        ):
            if not isinstance(page.data, list):
                raise BadResponse(Text(N_("GitHub's answer is not a list of labels")))
            names.extend(str(x["name"]) for x in page.data if isinstance(x, dict) and "name" in x)
        return names

    def close(self) -> None:
        self.client.close()
