"""Help Scout (Mailbox API 2.0): active conversations waiting on the team, by mailbox.

Auth is OAuth2 client credentials: the app id (``user``) and app secret buy an access token at
``{url}/oauth2/token``; it is kept until it expires and bought again once if the API answers
401 (tokens are revoked when the user changes). Help Scout computes ``customerWaitingSince``
itself; ``status=active`` is its "waiting on the team". It has no SLA deadline, so ``due_at``
stays None and the response window decides.

Between two full listings (every 15 minutes, :class:`agent.sources.kit.Relist`; one listing per
watched mailbox), only what changed is asked for: one ``GET /v2/conversations?status=all&
modifiedSince=`` (List Conversations; "Returns conversations that have been modified since the
given date/time. Date/time is in UTC" in the v1 page, the same filter in the official PHP
client's ``ConversationFilters``), in every mailbox and status (matched here), so a conversation
closed, set pending or moved leaves and one that starts waiting on any page comes in; an idle
poll costs one request. ``modifiedSince`` is the time of the last look (the earlier of our clock
and Help Scout's ``Date`` header) less 15 minutes: List Conversations is a search (``query``,
``sortField=score``) and Help Scout documents no indexing delay, so the overlap covers a late
index (and a clock minutes off) and the full listing the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from agent import secrets
from agent.i18n import N_, Text
from agent.model import Snapshot, Ticket
from agent.sources import kit
from agent.sources.base import (
    AuthError,
    Forbidden,
    NotConfigured,
    Option,
    Source,
)
from agent.sources.http import Page

API = "https://api.helpscout.net/v2"
WEB = "https://secure.helpscout.net"
TOKEN_LIFETIME = timedelta(days=2)  # when the token answer does not say, and at most
#: how much earlier than the last look a "since" request starts (an undocumented index delay)
SINCE_OVERLAP = timedelta(minutes=15)
#: what to check when an answer lacks the list asked for
CHECK = N_("is the URL the Mailbox API 2.0?")


def _time(value: Any, what: str) -> datetime | None:
    return kit.parse_time(value, where=f"Help Scout's {what}")


def _embedded(data: Any, key: str) -> list[dict[str, Any]]:
    """``_embedded.<key>`` of a HAL page (raises BadResponse on any other shape)."""
    return kit.hal_embedded(data, key, helpdesk="Help Scout", check=CHECK)


def next_href(page: Page) -> str | None:
    links = page.data.get("_links") if isinstance(page.data, dict) else None
    nxt = links.get("next") if isinstance(links, dict) else None
    href = nxt.get("href") if isinstance(nxt, dict) else None
    return href if isinstance(href, str) and href else None


def parse_conversation(
    conv: dict[str, Any], *, source: str, mailboxes: dict[int, str], now: datetime
) -> Ticket | None:
    """The ticket for one conversation, or None when it does not wait on the team.

    Waiting: ``status`` active, published, not snoozed, and the customer replied last
    (``customerWaitingSince.latestReplyFrom``, when Help Scout sends it).
    """
    if not kit.hal_active(conv):
        return None
    waiting = conv.get("customerWaitingSince")
    waiting = waiting if isinstance(waiting, dict) else {}
    if waiting.get("latestReplyFrom") == "user":
        return None
    snooze = conv.get("snooze")
    if isinstance(snooze, dict):
        until = _time(snooze.get("snoozedUntil"), "snoozedUntil")
        if until is not None and until > now:
            return None
    cid, created = kit.id_and_created(conv, "createdAt", helpdesk="Help Scout", what="conversation")
    since = _time(waiting.get("time"), f"conversation {cid} customerWaitingSince") or created
    number = conv.get("number") or cid
    links = conv.get("_links")
    web = links.get("web") if isinstance(links, dict) else None
    href = web.get("href") if isinstance(web, dict) else None
    url = str(href or f"{WEB}/conversation/{cid}/{number}/")
    return kit.hal_ticket(
        conv,
        cid,
        created,
        since,
        source=source,
        mailboxes=mailboxes,
        customer="primaryCustomer",
        url=url,
    )


class HelpScoutSource(Source):
    kind = "helpscout"
    title = "Help Scout"
    description = N_("Help Scout: active conversations waiting on the team, by mailbox")
    required = (Option("user", N_("App ID"), help=N_("Your Profile → My Apps → Create My App")),)
    optional = (Option("url", N_("API URL"), default=API),)
    secret_label = N_("App secret")
    credential_steps = N_(  # the README's steps
        "in Help Scout, Your Profile → My Apps → Create My App (any redirection URL will do); "
        "it shows an App ID (the user above) and an App Secret"
    )
    category_label = N_("My mailboxes (none ticked: all of them)")

    def set_up(self) -> None:
        if not self.config.user:
            raise NotConfigured(
                Text(N_("{name}: user must be the Help Scout app id"), name=self.name)
            )
        self.client = self.http(
            self.config.url or API,
        )
        self._token: str | None = None
        self._token_until: datetime | None = None
        self.mailboxes: kit.CategoryResolver[int] = kit.CategoryResolver(
            self._read_mailboxes, what="mailbox", helpdesk="Help Scout"
        )
        #: the active conversations of the watched mailboxes by id, as last read
        self._found: dict[Any, dict[str, Any]] = {}
        #: Help Scout's clock at the last look (its ``Date`` header); None: list everything
        self._looked_at: datetime | None = None
        self._relist = kit.Relist()

    # ------------------------------------------------------------------ auth

    def _headers(self) -> dict[str, str]:
        now = self.clock()
        if self._token is None or (self._token_until is not None and now >= self._token_until):
            page = self.client.request_json(
                "POST",
                "oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.config.user,
                    "client_secret": self.secret or "",
                },
            )
            data = page.data if isinstance(page.data, dict) else {}
            token = data.get("access_token")
            if not isinstance(token, str) or not token:
                raise AuthError(
                    Text(
                        N_("Help Scout did not hand out an access token for this app id and secret")
                    ),
                    f"token answer keys: {sorted(data)}",
                )
            secrets.remember(token)
            lifetime = data.get("expires_in")
            longest = TOKEN_LIFETIME.total_seconds()
            # a number from the server: kept no longer than TOKEN_LIFETIME (1e300 overflowed)
            seconds = (
                min(float(lifetime), longest)
                if isinstance(lifetime, (int, float)) and not isinstance(lifetime, bool)
                else longest
            )
            self._token = token
            self._token_until = now + timedelta(seconds=max(0.0, seconds - 60))
        return {"Authorization": f"Bearer {self._token}"}

    def _with_token(self, call: Callable[[dict[str, str]], Any]) -> Any:
        """Run ``call(headers)``; on a 401 with a token bought earlier, buy one again once."""
        fresh = self._token is None
        try:
            return call(self._headers())
        except Forbidden:
            raise
        except AuthError:
            if fresh:
                raise
            self._token = None
            return call(self._headers())

    # ------------------------------------------------------------------ reading

    def _read_mailboxes(self) -> dict[int, str]:
        names: dict[int, str] = {}
        for page in self.client.paginate("mailboxes", None, next_href, headers=self._headers()):
            names.update(kit.hal_mailboxes(page.data, helpdesk="Help Scout", check=CHECK))
        return names

    def _read(self, headers: dict[str, str]) -> tuple[bool, float | None]:
        """Bring the active conversations of the watched mailboxes up to date: all of them
        (every 15 minutes) or those modified since the last look; (complete, throttle)."""
        self.mailboxes.new_fetch()
        now = self.clock()
        targets: list[int] | None = None  # no categories: every mailbox the app sees
        if self.config.categories:
            targets = list(self.mailboxes.ids(self.config.categories))
        if self._looked_at is None or self._relist.due(now):
            complete, throttle, seen_at = self._list_all(headers, targets, now)
            self._relist.done(now, complete)
        else:
            complete, throttle, seen_at = self._list_changes(headers, targets, now)
            if not complete:
                self._relist.reset()
        self._looked_at = seen_at
        for conv in self._found.values():  # a mailbox added since the names were read
            if isinstance(conv.get("mailboxId"), int):
                self.mailboxes.name(conv["mailboxId"])
        return complete, throttle

    def _list_all(
        self, headers: dict[str, str], targets: list[int] | None, now: datetime
    ) -> tuple[bool, float | None, datetime]:
        """The active conversations of the watched mailboxes: one listing per mailbox.

        The ``mailbox`` filter is asked for one id at a time (the official client sends one;
        what the API makes of ``mailbox=1,2`` is documented differently in different places),
        and a conversation of a mailbox not watched is dropped whatever the API sent.
        """
        params: dict[str, Any] = {"status": "active", "sortField": "createdAt", "sortOrder": "asc"}
        found: dict[Any, dict[str, Any]] = {}
        complete, throttle, seen_at = True, None, None
        mailboxes: list[int | None] = [*targets] if targets else [None]  # None: every mailbox
        for mailbox in mailboxes:
            query = params if mailbox is None else {**params, "mailbox": mailbox}
            pages = self.client.paginate("conversations", query, next_href, headers=headers)
            seen_at = seen_at or kit.earlier_clock(pages.pages[0].headers, now)
            for page in pages:
                for conv in _embedded(page.data, "conversations"):
                    if mailbox is None or str(conv.get("mailboxId")) == str(mailbox):
                        found[conv.get("id")] = conv
            complete, throttle = complete and pages.complete, kit.slowest(throttle, pages.throttle)
        self._found = found
        return complete, throttle, seen_at or now

    def _list_changes(
        self, headers: dict[str, str], targets: list[int] | None, now: datetime
    ) -> tuple[bool, float | None, datetime]:
        """The conversations modified since the last look, in every mailbox and status (one
        request when nothing changed)."""
        assert self._looked_at is not None
        since = self._looked_at - SINCE_OVERLAP
        params: dict[str, Any] = {
            "status": "all",
            "modifiedSince": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sortField": "modifiedAt",
            "sortOrder": "asc",
        }
        pages = self.client.paginate("conversations", params, next_href, headers=headers)
        wanted = None if targets is None else {str(m) for m in targets}
        for page in pages:
            for conv in _embedded(page.data, "conversations"):
                mailbox_ok = wanted is None or str(conv.get("mailboxId")) in wanted
                if conv.get("status") == "active" and mailbox_ok:
                    self._found[conv.get("id")] = conv
                else:
                    self._found.pop(conv.get("id"), None)  # closed, pending, spam or moved
        return pages.complete, pages.throttle, kit.earlier_clock(pages.pages[0].headers, now)

    def fetch(self, since: datetime | None) -> Snapshot:
        now = self.clock()
        complete, throttle = self._with_token(self._read)
        mailboxes = self.mailboxes.table()
        tickets: dict[str, Ticket] = {}
        for conv in self._found.values():
            ticket = parse_conversation(conv, source=self.name, mailboxes=mailboxes, now=now)
            if ticket is not None:
                tickets[ticket.id] = ticket
        return Snapshot(self.name, tuple(tickets.values()), now, complete, throttle)

    def list_categories(self) -> list[str]:
        return sorted(self._with_token(lambda _: self.mailboxes.reload()).values())

    def close(self) -> None:
        self.client.close()
