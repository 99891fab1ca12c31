"""The Source protocol: what every helpdesk kind implements, and the only errors it may raise.

A kind is one class in one file under ``agent/sources/``. Its ``required`` and ``optional``
options drive both config validation and the settings form. ``fetch()`` does the I/O through
``agent.sources.http`` and returns a :class:`~agent.model.Snapshot` of every ticket waiting now;
pure ``parse_*()`` functions in the same file turn the helpdesk's JSON into tickets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from agent import secrets
from agent.i18n import N_, Text
from agent.model import Snapshot, utcnow
from agent.sources.errors import (
    FETCH_DEADLINE_FACTOR,
    MAX_FETCH_BYTES,
    MAX_SERVER_WAIT,
    AuthError,
    BadResponse,
    FetchBudget,
    Forbidden,
    NotConfigured,
    NotFound,
    RateLimited,
    SignInNeeded,
    SourceError,
    TLSFailure,
    TooSlow,
    Unavailable,
    Unreachable,
    current_budget,
    fetch_budget,
)

if TYPE_CHECKING:
    from agent.config import SourceConfig
    from agent.sources.http import HttpClient

#: the errors and the fetch budget live in agent.sources.errors (so agent.sources.http, which
#: raises them, needs nothing of this module); a connector imports them from here
__all__ = [
    "FETCH_DEADLINE_FACTOR",
    "MAX_FETCH_BYTES",
    "MAX_SERVER_WAIT",
    "AuthError",
    "BadResponse",
    "FetchBudget",
    "Forbidden",
    "NotConfigured",
    "NotFound",
    "Option",
    "RateLimited",
    "SignInNeeded",
    "Source",
    "SourceError",
    "TLSFailure",
    "TooSlow",
    "Unavailable",
    "Unreachable",
    "check_web_url",
    "current_budget",
    "fetch_budget",
]


@dataclass(frozen=True, slots=True)
class Option:
    """One configuration key, declared once: config loading, ``config validate``, the settings
    form and the README's option lists all read it (a source kind's keys and, in
    ``agent.config_schema``, the config file's own).

    ``type`` is one of ``str``, ``int``, ``float``, ``bool``, ``list`` (of strings), ``dict``,
    or ``timedelta`` (a duration written "10m"). ``default`` is as written in the file.
    ``check`` returns what is wrong with a value ("" when nothing is); ``minimum`` is a
    duration's least value, as written.
    """

    key: str
    label: str
    type: type = str
    default: object = None
    help: str = ""
    check: Callable[[Any], str] | None = None
    minimum: str = ""


def check_web_url(config: SourceConfig) -> list[tuple[str, Text]]:
    """The url, when given, of a kind read over HTTP: an http:// or https:// address (the
    config's own check of ``url`` takes any scheme, for IMAP's imaps://)."""
    if config.url and not re.match(r"https?://", config.url, re.IGNORECASE):
        said = N_("{value!r} is not a URL; it must start with https:// (or http://)")
        return [("url", Text(said, value=config.url))]
    return []


class Source:
    """Base of every source kind. Subclasses set the class attributes and implement ``fetch``."""

    kind: ClassVar[str] = ""
    #: the name a person knows this kind by, as its vendor writes it ("GitHub", "FreeScout"):
    #: a new source's name in the settings form until the person types another
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    required: ClassVar[tuple[Option, ...]] = ()
    optional: ClassVar[tuple[Option, ...]] = ()
    needs_secret: ClassVar[bool] = True
    #: what the secret is called in this helpdesk's words (shown in the settings form)
    secret_label: ClassVar[str] = N_("API token")
    #: where to get the secret, the README's steps for this helpdesk ("How do I get this?")
    credential_steps: ClassVar[str] = ""
    #: what the categories filter means for this kind (group, queue, label, folder...)
    #: the settings form's words over the list of categories, in the helpdesk's own terms
    category_label: ClassVar[str] = N_("My categories (none ticked: all of them)")

    @classmethod
    def check_options(cls, config: SourceConfig) -> list[tuple[str, Text]]:
        """Mistakes only this kind can see, as (key, what is wrong): config validation runs it,
        so ``config validate`` and Settings name them before the first fetch. Default: the url
        of a kind read over HTTP (:func:`check_web_url`); an override returns that too, or
        checks its own url (IMAP)."""
        return check_web_url(config)

    def __init__(
        self,
        config: SourceConfig,
        secret: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.name = config.name
        #: the categories this assistant watches, casefolded (empty: every category)
        self.categories = frozenset(c.casefold() for c in config.categories)
        self.secret = secret
        self.clock = clock
        if secret:
            secrets.remember(secret)  # every log line and message redacts it from now on
        elif self.needs_secret:
            text = N_(
                "{name}: no {secret} was given; add it in Settings or with "
                "`ticketbell secret set {quoted}`"
            )
            label = Text(self.secret_label)
            raise NotConfigured(Text(text, name=self.name, secret=label, quoted=repr(self.name)))
        self.set_up()

    def set_up(self) -> None:
        """Read this kind's own options and make its clients: the last step of ``__init__``,
        with ``config``, ``secret`` and ``clock`` set. Raises NotConfigured for what is wrong."""

    def http(self, base_url: str, **kwargs: Any) -> HttpClient:
        """An HTTP client for this source: its timeout, TLS verification and proxy settings."""
        from agent.sources.http import HttpClient

        client = HttpClient(
            base_url,
            timeout=self.config.timeout,
            verify=self.config.verify,
            proxy=self.config.proxy,
            name=self.name,
            **kwargs,
        )
        self.__dict__.setdefault("_http_clients", []).append(client)
        return client

    def fetch_seconds(self) -> float:
        """How long one whole fetch of this source may take (see FETCH_DEADLINE_FACTOR)."""
        return float(self.config.timeout) * FETCH_DEADLINE_FACTOR

    def fetch(self, since: datetime | None) -> Snapshot:
        """Return every ticket waiting now. ``since`` is the last successful fetch's time."""
        raise NotImplementedError

    def list_categories(self) -> list[str] | None:
        """The categories the helpdesk knows, for the settings checkboxes; None if it can't say."""
        return None

    def wait_for_change(self, timeout: float) -> bool | None:
        """Block up to ``timeout`` s until the helpdesk reports a change (IMAP IDLE, say).

        True: something changed, the engine polls at once. False: nothing changed, it waits
        again. None (this default): the kind cannot wait, the engine only polls. Runs on a
        worker thread after each successful fetch; :meth:`close` must make it return soon.
        """
        return None

    def abort(self) -> None:
        """Break the connections of a fetch past its deadline, so its worker returns.

        Called from another thread (the scheduler, or the agent stopping): it must not block,
        so it only shuts sockets down; the worker then fails and cleans up after itself.
        """
        for client in self.__dict__.get("_http_clients", ()):
            client.abort()

    def close(self) -> None:
        """Release connections. Called when the agent stops or the source is reconfigured."""

    def option(self, key: str) -> object:
        return self.config.options.get(key)

    def option_texts(self, key: str) -> tuple[str, ...]:
        """A list option's items as text; empty when it is not set."""
        value = self.option(key)
        return tuple(str(v) for v in value) if isinstance(value, Iterable) and value else ()

    def wants(self, category: str) -> bool:
        """True when this assistant watches ``category`` (empty filter: every category)."""
        return not self.categories or category.casefold() in self.categories
