"""The Source protocol: what every helpdesk kind implements, and the only errors it may raise.

A kind is one class in one file under ``agent/sources/``. Its ``required`` and ``optional``
options drive both config validation and the settings form. ``fetch()`` does the I/O through
``agent.sources.http`` and returns a :class:`~agent.model.Snapshot` of every ticket waiting now;
pure ``parse_*()`` functions in the same file turn the helpdesk's JSON into tickets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from agent import secrets
from agent.model import Snapshot, utcnow

if TYPE_CHECKING:
    from agent.config import SourceConfig
    from agent.sources.http import HttpClient


class SourceError(Exception):
    """A fetch failed. ``str()`` is a message for a person; ``detail`` goes to the log only.

    Neither may contain a secret: messages are built from status codes, hosts and the helpdesk's
    own error text, never from request headers or URLs with credentials.
    """

    label = "failed"
    #: the helpdesk's own error text, when it gave one (a connector may word the message anew)
    said: str = ""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class AuthError(SourceError):
    label = "authentication failed"


class Forbidden(AuthError):
    label = "forbidden"


class RateLimited(SourceError):
    """The helpdesk asks us to wait ``retry_after`` seconds (None: it did not say how long).

    The wait is clamped to at most an hour (``inf``, ``1e20``: an hour; NaN: unknown), so no
    number from a server can overflow the scheduler or silence a source until restart.
    """

    label = "rate limited"
    MAX_WAIT: ClassVar[float] = 3600.0

    def __init__(self, message: str, retry_after: float | None = None, detail: str = "") -> None:
        super().__init__(message, detail)
        if retry_after is not None:
            retry_after = float(retry_after)
            retry_after = (
                None if retry_after != retry_after else min(max(0.0, retry_after), self.MAX_WAIT)
            )
        self.retry_after = retry_after


class Unavailable(SourceError):
    label = "unavailable"


class Unreachable(Unavailable):
    label = "unreachable"


class TLSFailure(Unavailable):
    label = "TLS failure"


class BadResponse(SourceError):
    label = "bad response"


class NotFound(BadResponse):
    label = "not found"


class NotConfigured(SourceError):
    """The source cannot run as configured (missing secret, no keyring): needs a person."""

    label = "not configured"


class SignInNeeded(NotConfigured):
    """An OAuth source has no usable sign-in (none yet, or the provider refused the refresh
    token): a person must sign in again; polling until then only repeats the refusal."""

    label = "sign-in needed"


@dataclass(frozen=True, slots=True)
class Option:
    """One configuration key of a source kind, for validation and for the settings form.

    ``type`` is one of ``str``, ``int``, ``bool``, ``list`` (of strings) or ``dict``.
    """

    key: str
    label: str
    type: type = str
    default: object = None
    help: str = ""


class Source:
    """Base of every source kind. Subclasses set the class attributes and implement ``fetch``."""

    kind: ClassVar[str] = ""
    description: ClassVar[str] = ""
    required: ClassVar[tuple[Option, ...]] = ()
    optional: ClassVar[tuple[Option, ...]] = ()
    needs_secret: ClassVar[bool] = True
    #: what the secret is called in this helpdesk's words (shown in the settings form)
    secret_label: ClassVar[str] = "API token"  # noqa: S105 - a label, not a secret
    #: what the categories filter means for this kind (group, queue, label, folder...)
    category_label: ClassVar[str] = "Categories"

    def __init__(
        self,
        config: SourceConfig,
        secret: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.name = config.name
        self.secret = secret
        self.clock = clock
        if secret:
            secrets.remember(secret)  # every log line and message redacts it from now on
        elif self.needs_secret:
            raise NotConfigured(
                f"{self.name}: no {self.secret_label} was given; add it in Settings or with "
                f"`ticketbell secret set {self.name!r}`"
            )

    def http(self, base_url: str, **kwargs: Any) -> HttpClient:
        """An HTTP client for this source: its timeout, TLS verification and proxy settings."""
        from agent.sources.http import HttpClient

        return HttpClient(
            base_url,
            timeout=self.config.timeout,
            verify=self.config.verify,
            proxy=self.config.proxy,
            name=self.name,
            **kwargs,
        )

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

    def close(self) -> None:
        """Release connections. Called when the agent stops or the source is reconfigured."""

    def option(self, key: str) -> object:
        return self.config.options.get(key)

    def wants(self, category: str) -> bool:
        """True when this assistant watches ``category`` (empty filter: every category)."""
        cats = self.config.categories
        return not cats or category.casefold() in {c.casefold() for c in cats}
