"""Access tokens of a signed-in source: renewed with the refresh token kept in the keyring, and
forgotten (:class:`~agent.sources.base.SignInNeeded`) when the provider refuses it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agent import secrets as secret_store
from agent.auth.providers import Client, client_for
from agent.i18n import N_, Text
from agent.model import utcnow
from agent.sources.base import BadResponse, SignInNeeded, Unavailable

if TYPE_CHECKING:
    import requests

    from agent.config import SourceConfig

#: renew this long before the access token expires (at most a quarter of its lifetime)
RENEW_AHEAD = timedelta(minutes=2)
#: the longest a sign-in server's ``expires_in`` or ``interval`` is taken at its word
MAX_SERVER_SECONDS = 366 * 24 * 3600.0


@dataclass
class AccessTokens:
    """Hands a source a current access token, renewing it with the refresh token.

    Thread-safe: a source's poll and its IMAP IDLE connection may log in at the same time, and
    two renewals with one rotating refresh token would make the provider refuse the second.
    """

    client: Client
    refresh_token: str
    clock: Callable[[], datetime] = utcnow
    #: keyring entry of the refresh token; empty when it came from an environment variable
    keyring_name: str = ""
    access_token: str = field(default="", repr=False)
    expires_at: datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        secret_store.remember(self.refresh_token)

    def current(self) -> str:
        """An access token that is valid now (renewed first if it is about to expire)."""
        with self._lock:
            if not self.access_token or (
                self.expires_at is not None and self.clock() >= self.expires_at
            ):
                self._renew()
            return self.access_token

    def renew(self, refused: str = "") -> str:
        """A new access token after the server refused ``refused`` (a 401, a failed login).

        When another thread renewed it meanwhile, that newer token is returned instead.
        """
        with self._lock:
            if not refused or refused == self.access_token:
                self._renew()
            return self.access_token

    def _renew(self) -> None:
        try:
            token = self._refresh()
        except _Refused as refused:
            # Another Ticketbell (the tray, a `check`) may have rotated the refresh token and
            # stored the new one: use that before calling the sign-in lost.
            stored = self._stored()
            if not stored or stored == self.refresh_token:
                self._refused(refused.error, refused.description)
            self.refresh_token = stored
            try:
                token = self._refresh()
            except _Refused as again:
                self._refused(again.error, again.description)
        self._take(token)

    def _stored(self) -> str:
        if not self.keyring_name:
            return ""
        try:
            return secret_store.get(self.keyring_name)
        except secret_store.SecretUnavailable:
            return ""

    def _refresh(self) -> dict[str, Any]:
        """One refresh token grant (RFC 6749 section 6); raises _Refused or a SourceError."""
        from authlib.integrations.base_client.errors import OAuthError

        sess = self.client.session()
        try:
            return dict(sess.refresh_token(self.client.provider.token_url, self.refresh_token))
        except OAuthError as exc:
            if exc.error in ("invalid_grant", "invalid_token", "unauthorized_client"):
                raise _Refused(exc.error, exc.description or "") from None
            text = N_("{name}: the sign-in server refused to renew the access token ({error})")
            raise BadResponse(
                Text(text, name=self.client.source, error=exc.error),
                str(exc.description or ""),
            ) from None
        except ValueError as exc:  # not JSON: a gateway's page
            text = N_("{name}: the sign-in server gave an answer that is not a token")
            raise BadResponse(
                Text(text, name=self.client.source),
                str(exc),
            ) from None
        except Exception as exc:  # noqa: BLE001 - requests' network errors
            text = N_("{name}: cannot reach the sign-in server {host}")
            host = urlsplit(self.client.provider.token_url).hostname
            raise Unavailable(
                Text(text, name=self.client.source, host=str(host)),
                f"{type(exc).__name__}: {exc}",
            ) from None
        finally:
            sess.close()

    def _take(self, token: dict[str, Any]) -> None:
        access = str(token.get("access_token") or "")
        if not access:
            text = N_("{name}: the sign-in server sent no access token")
            raise BadResponse(Text(text, name=self.client.source))
        secret_store.remember(access)
        self.access_token = access
        lifetime = seconds_or_none(token.get("expires_in"))
        if lifetime is None:
            self.expires_at = None
        else:
            ahead = min(RENEW_AHEAD, timedelta(seconds=lifetime / 4))
            self.expires_at = self.clock() + timedelta(seconds=lifetime) - ahead
        rotated = str(token.get("refresh_token") or "")
        if rotated and rotated != self.refresh_token:
            self.refresh_token = rotated  # providers that rotate refuse the old one from now on
            if self.keyring_name:
                secret_store.set(self.keyring_name, rotated)
            else:
                secret_store.remember(rotated)

    def _refused(self, error: str, description: str) -> None:
        if self.keyring_name:
            secret_store.delete(self.keyring_name)  # useless now; no poll asks with it again
        text = N_(
            "sign-in needed — the sign-in was revoked or has expired ({error}); sign in again "
            "in Settings or with `ticketbell signin {name}`"
        )
        raise SignInNeeded(Text(text, error=error, name=repr(self.client.source)), description)


class _Refused(Exception):
    """The provider refused the refresh token (RFC 6749 5.2 ``invalid_grant``...)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(error)
        self.error, self.description = error, description


def seconds_or_none(value: object) -> float | None:
    """A positive number of seconds sent by a sign-in server, at most ``MAX_SERVER_SECONDS``
    (an ``expires_in`` of ``"inf"`` or ``1e300`` would overflow ``timedelta``, or wait forever)."""
    if not isinstance(value, str | int | float):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    if not seconds > 0:  # also NaN
        return None
    return min(seconds, MAX_SERVER_SECONDS)


def tokens_for(
    config: SourceConfig, refresh_token: str, clock: Callable[[], datetime] = utcnow
) -> AccessTokens:
    """The access tokens of an ``auth = "oauth"`` source whose secret is its refresh token."""
    return AccessTokens(
        client_for(config),
        refresh_token,
        clock,
        keyring_name="" if config.secret_env else config.name,
    )


def sign_in_needed(config: SourceConfig) -> SignInNeeded:
    text = N_("sign-in needed — press Sign in… in Settings, or run `ticketbell signin {name}`")
    return SignInNeeded(Text(text, name=repr(config.name)))


def bearer_auth(tokens: AccessTokens) -> Any:
    """A requests auth that sends the current access token and renews it once on a 401."""
    import requests

    class BearerAuth(requests.auth.AuthBase):
        def __init__(self) -> None:
            #: the requests sent again with a renewed token: each is retried once at most
            self.retries: weakref.WeakSet[requests.PreparedRequest] = weakref.WeakSet()

        def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
            request.headers["Authorization"] = f"Bearer {tokens.current()}"
            request.register_hook("response", self._retry_once)
            return request

        def _retry_once(self, response: requests.Response, **kwargs: Any) -> requests.Response:
            if response.status_code != 401 or response.request in self.retries:
                return response
            response.close()
            sent = str(response.request.headers.get("Authorization", ""))
            tokens.renew(refused=sent.removeprefix("Bearer "))
            again = response.request.copy()
            again.headers["Authorization"] = f"Bearer {tokens.access_token}"
            self.retries.add(again)
            retry = response.connection.send(again, **kwargs)
            retry.history.append(response)
            retry.request = again
            return retry

    return BearerAuth()
