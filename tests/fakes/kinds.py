"""Every HTTP kind with its fake, in one table: for tests and benchmarks that run over them all.

``HTTP_KINDS[kind]`` builds the kind's fake on a server, a :class:`SourceConfig` pointing at
it, and adds a ticket that waits on the team (the customer wrote last) the way that fake's own
tests do. The secrets are long and unique so the suite's secret scan can look for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.config import SourceConfig
from tests.fakes.freescout import FakeFreeScout
from tests.fakes.freshdesk import FakeFreshdesk
from tests.fakes.github import FakeGitHub
from tests.fakes.helpscout import FakeHelpScout
from tests.fakes.jsonapi import FIELDS as JSON_FIELDS
from tests.fakes.jsonapi import PATH, FakeJsonHelpdesk
from tests.fakes.rt import FakeRT
from tests.fakes.web import FakeHelpdesk
from tests.fakes.zammad import FakeZammad
from tests.fakes.zendesk import FakeZendesk

USER = "anna@acme.test"
HELPSCOUT_APP = "hs-kit-app-51c0"


@dataclass(frozen=True)
class Harness:
    kind: str
    secret: str
    make_fake: Callable[[Any, str], FakeHelpdesk]
    #: (fake) -> (url, user, options) of a source reading it
    settings: Callable[[Any], tuple[str, str, dict[str, Any]]]
    #: (fake, n, when): one ticket waiting on the team since ``when``
    add_waiting: Callable[[Any, int, datetime], None]
    #: the query string key and value of a listing's second page
    page_two: tuple[str, str] = ("page", "2")

    def fake(self, server: Any) -> Any:
        return self.make_fake(server, self.secret)

    def config(self, fake: Any, name: str = "Desk", **extra: Any) -> SourceConfig:
        url, user, options = self.settings(fake)
        return SourceConfig(
            name=name,
            kind=self.kind,
            url=extra.pop("url", url),
            user=user,
            timeout=extra.pop("timeout", 5),
            options={**options, **extra.pop("options", {})},
            **extra,
        )

    def table(self, fake: Any, name: str = "Desk", **extra: Any) -> dict[str, Any]:
        """The ``[[sources]]`` table of the same source, for a config file."""
        url, user, options = self.settings(fake)
        table: dict[str, Any] = {"name": name, "kind": self.kind, "url": url, **options}
        if user:
            table["user"] = user
        return {**table, **extra}


HTTP_KINDS: dict[str, Harness] = {
    "zendesk": Harness(
        "zendesk",
        "zd-kit-SECRET-3b8e41f0c2d9a7",
        lambda server, secret: FakeZendesk(server, USER, secret),
        lambda f: (f.base, USER, {"query": "", "oauth": False}),
        lambda f, n, at: f.add(f"Ticket {n}", created=at, comments=(("customer", at),)),
    ),
    "freshdesk": Harness(
        "freshdesk",
        "fd-kit-SECRET-9a0c7e2b5d",
        lambda server, secret: FakeFreshdesk(server, secret),
        lambda f: (f.base, "", {"statuses": ["2"]}),
        lambda f, n, at: f.add(f"Ticket {n}", created=at),
    ),
    "zammad": Harness(
        "zammad",
        "zammad-kit-SECRET-e61d2c90b7",
        lambda server, secret: FakeZammad(server, secret),
        lambda f: (f.base, "", {"states": ["new", "open"]}),
        lambda f, n, at: f.add(f"Ticket {n}", created=at),
    ),
    "rt": Harness(
        "rt",
        "1-99-kit-SECRETrt5c2e8a1d",
        lambda server, secret: FakeRT(server, secret),
        lambda f: (f.base, "", {"statuses": ["new", "open"]}),
        lambda f, n, at: f.add(f"Ticket {n}", created=at),
    ),
    "github": Harness(
        "github",
        "ghp_kitSECRETtoken7d5e0a1b2c",
        lambda server, secret: FakeGitHub(server, secret),
        lambda f: (f.api, "", {"repository": "acme/tool", "team": []}),
        lambda f, n, at: f.add_issue(n, f"Issue {n}", created=at),
    ),
    "helpscout": Harness(
        "helpscout",
        "hs-kit-SECRET-0e4f7a9c1b",
        lambda server, secret: FakeHelpScout(server, HELPSCOUT_APP, secret),
        lambda f: (f.api, HELPSCOUT_APP, {}),
        lambda f, n, at: f.add(n, f"Conversation {n}", created=at, waiting=at),
    ),
    "freescout": Harness(
        "freescout",
        "fs-kit-SECRET-6d1b9e3a7c",
        lambda server, secret: FakeFreeScout(server, secret),
        lambda f: (f.base, "", {}),
        lambda f, n, at: f.add(f"Ticket {n}", created=at, threads=(("customer", at),)),
    ),
    "json": Harness(
        "json",
        "jsonkey-kit-SECRET-2c7f0e9d",
        lambda server, secret: FakeJsonHelpdesk(server, secret, page_size=100),
        lambda f: (
            f"{f.base}{PATH}",
            "",
            {
                "auth_header": "X-Api-Key",
                "items": "data.tickets",
                "next": "links.next",
                "fields": dict(JSON_FIELDS),
                "waiting_statuses": ["open"],
            },
        ),
        lambda f, n, at: f.add(n, f"Ticket {n}", opened=at, customer_wrote=at),
    ),
}
