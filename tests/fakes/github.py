"""A fake GitHub REST API (issues of one repository) that answers like api.github.com.

Real paths and query parameters (``state``, ``labels`` as an AND list, ``per_page``, ``page``,
``sort``/``direction``, ``since`` on ``updated_at``), ``Link`` pagination with absolute URLs,
the ``x-ratelimit-*`` headers, ETag revalidation (``If-None-Match`` -> 304), pull requests
mixed into the issues list, and
GitHub's JSON error bodies (``{"message": ..., "documentation_url": ...}``).

Who is the team, per GitHub's documentation:
- ``GET /orgs/{org}/members``: "If the authenticated user is also a member of this organization
  then both concealed and public members will be returned" (List organization members,
  https://docs.github.com/en/rest/orgs/members); a user account is no organization (404).
- ``GET /repos/{owner}/{repo}/collaborators``: outside collaborators, members with access and
  owners; "The authenticated user must have write, maintain, or admin privileges on the
  repository to use this endpoint" (https://docs.github.com/en/rest/collaborators/collaborators),
  else 403.
- ``author_association`` of a member whose membership is private shows CONTRIBUTOR or NONE, not
  MEMBER (reported in actions/github-script#643 and rust-lang/triagebot#2094).

A renamed or transferred repository (``moved``): its old path answers 301 with a ``Location``
and a body ``{"message": "Moved Permanently", "url": ..., "documentation_url": ...}`` pointing
at ``/repositories/{id}/...`` (developer.github.com/changes/2015-04-17-preview-repository-
redirects; "Follow redirects" in https://docs.github.com/en/rest/using-the-rest-api/best-
practices-for-using-the-rest-api). That the Location keeps the query string is assumed.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from werkzeug import Request, Response

from tests.fakes.web import FakeHelpdesk, etag_of, json_response

UTC = timezone.utc
DOCS = "https://docs.github.com/rest"


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeGitHub(FakeHelpdesk):
    def __init__(self, server: Any, token: str, repo: str = "acme/tool") -> None:
        super().__init__(server)
        self.token = token
        self.repo = repo
        self.issues: list[dict[str, Any]] = []
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.labels = ["support", "billing", "bug", "waiting-for-customer", "priority: high"]
        self.remaining = 4990
        self.not_modified = 0
        self.loop_next = False  # every page's Link rel="next" points at the page itself
        #: answer every request as past GitHub's secondary rate limit (see secondary_limit())
        self.secondary_limited = False
        self.repo_id = 1296269
        self.owner_type = "Organization"
        #: the organisation's members, public and concealed (the token's user is a member)
        self.members = ["boss", "maintainer"]
        self.collaborators = ["boss", "maintainer"]
        self.collaborators_forbidden = False  # the token has no write access
        #: old "owner/name" -> where GitHub redirects it: "" for this repository here, or the
        #: absolute API base URL of another host
        self.moved: dict[str, str] = {}
        self._next_id = 9_000_000

    @property
    def api(self) -> str:
        return self.base

    # ------------------------------------------------------------------ building the data

    def add_issue(
        self,
        number: int,
        title: str,
        *,
        user: str = "customer-bob",
        association: str = "NONE",
        labels: tuple[str, ...] = (),
        created: datetime,
        comments: tuple[tuple[str, str, datetime], ...] = (),
        pull_request: bool = False,
        assignee: str | None = None,
    ) -> None:
        """An open issue; ``comments`` are (login, author_association, created) in order."""
        self._next_id += 1
        base = f"https://github.com/{self.repo}"
        issue: dict[str, Any] = {
            "id": self._next_id,
            "node_id": f"I_kw{self._next_id}",
            "url": f"https://api.github.com/repos/{self.repo}/issues/{number}",
            "html_url": f"{base}/{'pull' if pull_request else 'issues'}/{number}",
            "number": number,
            "title": title,
            "state": "open",
            "state_reason": None,
            "locked": False,
            "user": {"login": user, "id": 1000 + len(user), "type": "User"},
            "labels": [
                {"id": i, "name": name, "color": "ededed", "default": False}
                for i, name in enumerate(labels)
            ],
            "assignee": {"login": assignee, "type": "User"} if assignee else None,
            "assignees": [{"login": assignee, "type": "User"}] if assignee else [],
            "milestone": None,
            "comments": len(comments),
            "created_at": iso(created),
            "updated_at": iso(max([created, *(c[2] for c in comments)])),
            "closed_at": None,
            "author_association": association,
            "body": "Something is wrong.",
        }
        if pull_request:
            issue["pull_request"] = {
                "url": f"https://api.github.com/repos/{self.repo}/pulls/{number}",
                "html_url": f"{base}/pull/{number}",
            }
        self.issues.append(issue)
        self.comments[number] = []
        for login, assoc, at in comments:
            self.add_comment(number, login, assoc, at, bump=False)

    def add_comment(
        self, number: int, login: str, association: str, at: datetime, bump: bool = True
    ) -> None:
        self._next_id += 1
        kind = "Bot" if login.endswith("[bot]") else "User"
        self.comments[number].append(
            {
                "id": self._next_id,
                "html_url": f"https://github.com/{self.repo}/issues/{number}#issuecomment-1",
                "user": {"login": login, "type": kind},
                "created_at": iso(at),
                "updated_at": iso(at),
                "author_association": association,
                "body": "…",
            }
        )
        if bump:
            issue = next(i for i in self.issues if i["number"] == number)
            issue["comments"] = len(self.comments[number])
            issue["updated_at"] = iso(at)

    def close_issue(self, number: int, at: datetime) -> None:
        """Close an issue: GitHub moves its ``updated_at`` (and sets ``closed_at``)."""
        issue = next(i for i in self.issues if i["number"] == number)
        issue.update(
            state="closed", state_reason="completed", closed_at=iso(at), updated_at=iso(at)
        )

    # ------------------------------------------------------------------ serving

    def rate_headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-used": str(5000 - self.remaining),
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-resource": "core",
            "X-GitHub-Api-Version-Selected": "2022-11-28",
        }

    def error(self, status: int, headers: dict[str, str]) -> Response:
        messages = {
            401: "Bad credentials",
            403: "Resource not accessible by personal access token",
            404: "Not Found",
            422: "Validation Failed",
            429: "You have exceeded a secondary rate limit.",
        }
        body = {
            "message": messages.get(status, "Server Error"),
            "documentation_url": DOCS,
            "status": str(status),
        }
        return json_response(body, status, {**self.rate_headers(), **headers})

    def secondary_limit(self) -> Response:
        """GitHub's secondary rate limit, as its docs describe it
        (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api,
        "Exceeding the rate limit"): "a 403 or 429 response and an error message that indicates
        that you exceeded a secondary rate limit"; ``retry-after`` may be absent, the primary
        quota is not used up (``x-ratelimit-remaining`` above 0), and then the client should
        "wait for at least one minute before retrying". The message is the one GitHub sends."""
        body = {
            "message": "You have exceeded a secondary rate limit. Please wait a few minutes "
            "before you try again. If you reach out to GitHub Support for help, please include "
            "the request ID E198:4063:33BD6:375FF:652AAB04.",
            "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits",
            "status": "403",
        }
        return json_response(body, 403, self.rate_headers())

    def bad_shape(self) -> Any:
        return {"total_count": 1, "items": []}  # a search result where a list was expected

    def handle(self, request: Request) -> Response:
        auth = request.headers.get("Authorization", "")
        if auth not in (f"Bearer {self.token}", f"token {self.token}"):
            return self.error(401, {})
        if self.secondary_limited:
            return self.secondary_limit()
        self.remaining -= 1
        path = request.path
        for old, host in self.moved.items():
            if path == f"/repos/{old}" or path.startswith(f"/repos/{old}/"):
                return self._moved(request, path[len(f"/repos/{old}") :], host)
        owner = self.repo.split("/")[0]
        if path == f"/orgs/{owner}/members" and self.owner_type == "Organization":
            return self._page(request, [self._user(login) for login in self.members])
        for prefix in (f"/repos/{self.repo}", f"/repositories/{self.repo_id}"):
            if path == prefix or path.startswith(prefix + "/"):
                return self._repository(request, path[len(prefix) :].lstrip("/"))
        return self.error(404, {})

    def _repository(self, request: Request, rest: str) -> Response:
        if rest == "":
            owner = self.repo.split("/")[0]
            body = {
                "id": self.repo_id,
                "name": self.repo.split("/")[1],
                "full_name": self.repo,
                "owner": {"login": owner, "type": self.owner_type},
                "html_url": f"https://github.com/{self.repo}",
                "private": True,
            }
            return json_response(body, 200, self.rate_headers())
        if rest == "issues":
            items = self._issues(request)
        elif rest == "labels":
            items = [{"id": i, "name": n, "color": "ededed"} for i, n in enumerate(self.labels)]
        elif rest == "collaborators":
            if self.collaborators_forbidden:
                return self.error(403, {})
            items = [
                {**self._user(login), "permissions": {"push": True}, "role_name": "write"}
                for login in self.collaborators
            ]
        elif match := re.fullmatch(r"issues/(\d+)/comments", rest):
            number = int(match.group(1))
            if number not in self.comments:
                return self.error(404, {})
            items = self.comments[number]
        else:
            return self.error(404, {})
        return self._page(request, items)

    def _user(self, login: str) -> dict[str, Any]:
        return {"login": login, "id": 1000 + len(login), "type": "User", "site_admin": False}

    def _moved(self, request: Request, rest: str, host: str) -> Response:
        url = f"{host or self.base}/repositories/{self.repo_id}{rest}"
        if request.query_string:
            url += "?" + request.query_string.decode()
        body = {
            "message": "Moved Permanently",
            "url": url,
            "documentation_url": "https://docs.github.com/rest/guides/best-practices-for-using-the-rest-api#follow-redirects",
        }
        headers = {**self.rate_headers(), "Location": url}
        return json_response(body, 301, headers)

    def _issues(self, request: Request) -> list[dict[str, Any]]:
        args = request.args
        state = args.get("state", "open")
        items = [i for i in self.issues if state == "all" or i["state"] == state]
        if args.get("labels"):
            # an AND list; label names match without regard to case, as on github.com
            wanted = [w.strip().casefold() for w in args["labels"].split(",")]
            items = [
                i
                for i in items
                if all(w in [label["name"].casefold() for label in i["labels"]] for w in wanted)
            ]
        if args.get("since"):
            # "Only show results that were last updated after the given time" (List repository
            # issues, https://docs.github.com/en/rest/issues/issues#list-repository-issues;
            # github/docs#25608 on its wording): strictly after, the stricter reading
            since = args["since"].replace("Z", "+00:00")
            at = datetime.fromisoformat(since).astimezone(UTC)
            items = [
                i for i in items if datetime.fromisoformat(i["updated_at"][:-1] + "+00:00") > at
            ]
        key = "created_at" if args.get("sort", "created") == "created" else "updated_at"
        items.sort(key=lambda i: i[key], reverse=args.get("direction", "desc") == "desc")
        return items

    def _page(self, request: Request, items: list[dict[str, Any]]) -> Response:
        per_page = min(int(request.args.get("per_page", 30)), 100)
        page = int(request.args.get("page", 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        body = json.dumps(chunk).encode()
        # a looping Link is a different representation, so it must not revalidate as unchanged
        etag = etag_of(body + (b"\nlooping" if self.loop_next else b""))
        headers = self.rate_headers()
        headers["ETag"] = etag
        headers["Cache-Control"] = "private, max-age=60, s-maxage=60"
        last = max(1, -(-len(items) // per_page))
        links = []
        base_args = dict(request.args.items())
        url = f"{self.origin(request)}{request.path}"
        if page < last:
            links.append(f'<{url}?{urlencode({**base_args, "page": page + 1})}>; rel="next"')
            links.append(f'<{url}?{urlencode({**base_args, "page": last})}>; rel="last"')
        if page > 1:
            links.append(f'<{url}?{urlencode({**base_args, "page": page - 1})}>; rel="prev"')
        if self.loop_next:
            links = [f'<{url}?{urlencode(base_args)}>; rel="next"']
        if links:
            headers["Link"] = ", ".join(links)
        if request.headers.get("If-None-Match") == etag:
            self.remaining += 1  # a 304 does not count against the rate limit
            self.not_modified += 1
            return Response(status=304, headers=headers)
        return Response(body, status=200, headers=headers, content_type="application/json")


def ago(now: datetime, **kw: float) -> datetime:
    return now - timedelta(**kw)
