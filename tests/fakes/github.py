"""A fake GitHub REST API (issues of one repository) that answers like api.github.com.

Real paths and query parameters (``state``, ``labels`` as an AND list, ``per_page``, ``page``,
``sort``/``direction``), ``Link`` pagination with absolute URLs, the ``x-ratelimit-*`` headers,
ETag revalidation (``If-None-Match`` -> 304), pull requests mixed into the issues list, and
GitHub's JSON error bodies (``{"message": ..., "documentation_url": ...}``).
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
        prefix = f"/repos/{self.repo}/"
        if not request.path.startswith(prefix):
            return self.error(404, {})
        rest = request.path[len(prefix) :]
        if rest == "issues":
            items = self._issues(request)
        elif rest == "labels":
            items = [{"id": i, "name": n, "color": "ededed"} for i, n in enumerate(self.labels)]
        elif match := re.fullmatch(r"issues/(\d+)/comments", rest):
            number = int(match.group(1))
            if number not in self.comments:
                return self.error(404, {})
            items = self.comments[number]
        else:
            return self.error(404, {})
        return self._page(request, items)

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
