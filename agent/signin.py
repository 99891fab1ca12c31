"""OAuth 2 sign-in for sources that need it (Microsoft 365 and Google mailboxes, Zendesk).

Two ways to sign in, both ending with a refresh token in the keyring under the source's name:

* the **browser** way: authorization code with PKCE (RFC 7636) through the person's own browser,
  which comes back to a one-shot loopback listener on ``http://127.0.0.1:<port>/`` (RFC 8252);
* the **device code** way (RFC 8628): Ticketbell shows a short code and a web address, the person
  types the code there on any device, and Ticketbell polls the token endpoint until they did.

A source asks :class:`AccessTokens` for a current access token: it is renewed with the refresh
token shortly before it expires, and once more when the server refuses it (a 401 or a failed
IMAP login). A refresh token the provider refuses (revoked, expired, password changed) is
forgotten and the source raises :class:`~agent.sources.base.SignInNeeded`: the health says
"sign-in needed" and the agent stops asking the provider until the person signs in again.

The OAuth protocol itself is Authlib's (``authlib.integrations.requests_client``). Microsoft's
own MSAL is not used: it keeps refresh tokens in its own token cache and accepts only Microsoft
authorities, while here the refresh token lives in the keyring entry of the source and the same
code is proven against a local OAuth server in the tests. Access and refresh tokens are
registered with :func:`agent.secrets.remember`, so no log line or message carries them.
"""

from __future__ import annotations

import contextlib
import http.server
import secrets as random
import threading
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from agent import secrets as secret_store
from agent.model import utcnow
from agent.sources.base import BadResponse, NotConfigured, Option, SignInNeeded, Unavailable

if TYPE_CHECKING:
    import requests

    from agent.config import Config, SourceConfig

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: renew this long before the access token expires (at most a quarter of its lifetime)
RENEW_AHEAD = timedelta(minutes=2)
SIGN_IN_TIMEOUT = 300.0
#: Zendesk: every API token stops working on this day (developer.zendesk.com, "Migrating from
#: API tokens to OAuth access tokens"); token auth keeps working until then.
ZENDESK_TOKENS_END = date(2027, 4, 30)

#: The options an OAuth-capable kind adds to its ``optional`` (the settings form shows them).
OPTIONS = (
    Option(
        "provider",
        "Sign-in provider",
        str,
        "",
        'with auth = "oauth": "microsoft", "google", "zendesk" or "custom" (with issuer)',
    ),
    Option("client_id", "OAuth client id", str, "", "from the app your admin registered"),
    Option(
        "client_secret",
        "OAuth client secret",
        str,
        "",
        "only Google desktop clients have one (Google does not treat it as confidential)",
    ),
    Option("tenant", "Microsoft tenant", str, "organizations", "a tenant id or domain"),
    Option("issuer", "OAuth server (custom)", str, "", "its RFC 8414 metadata is read"),
    Option("scopes", "OAuth scopes (custom)", list, []),
    Option(
        "redirect_port",
        "Loopback port",
        int,
        0,
        "0: any free port; set one where the OAuth client allows only the exact "
        "http://127.0.0.1:PORT/ it was registered with",
    ),
)


@dataclass(frozen=True, slots=True)
class Provider:
    """Where and how one provider signs people in."""

    name: str
    authorize_url: str
    token_url: str
    device_url: str = ""  # empty: no device code flow (Google's mail scope, Zendesk)
    revoke_url: str = ""
    scopes: tuple[str, ...] = ()
    #: extra query parameters of the authorization request
    extra: tuple[tuple[str, str], ...] = ()
    imap_url: str = ""


MICROSOFT_LOGIN = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0"
PROVIDERS = {
    # learn.microsoft.com: "Authenticate an IMAP, POP or SMTP connection using OAuth"
    "microsoft": Provider(
        "microsoft",
        f"{MICROSOFT_LOGIN}/authorize",
        f"{MICROSOFT_LOGIN}/token",
        f"{MICROSOFT_LOGIN}/devicecode",
        scopes=("https://outlook.office.com/IMAP.AccessAsUser.All", "offline_access"),
        imap_url="imaps://outlook.office365.com:993",
    ),
    # developers.google.com/identity/protocols/oauth2/native-app: loopback only; the mail
    # scope is not allowed with device codes. access_type=offline brings a refresh token.
    "google": Provider(
        "google",
        "https://accounts.google.com/o/oauth2/v2/auth",
        "https://oauth2.googleapis.com/token",
        revoke_url="https://oauth2.googleapis.com/revoke",
        scopes=("https://mail.google.com/",),
        extra=(("access_type", "offline"), ("prompt", "consent")),
        imap_url="imaps://imap.gmail.com:993",
    ),
    # developer.zendesk.com: "Using PKCE to make Zendesk OAuth access tokens more secure" and
    # "OAuth Tokens for Grant Types" (/oauth/tokens, authorization_code and refresh_token)
    "zendesk": Provider(
        "zendesk",
        "{web}/oauth/authorizations/new",
        "{web}/oauth/tokens",
        scopes=("read",),
    ),
}


@dataclass(frozen=True)
class Client:
    """The OAuth client of one source: its provider's endpoints and its registered client id."""

    source: str
    provider: Provider
    client_id: str
    client_secret: str = ""
    verify: bool | str = True
    timeout: float = 30.0
    proxy: str = ""
    redirect_port: int = 0

    @property
    def can_use_device_code(self) -> bool:
        return bool(self.provider.device_url)

    def session(self, **kwargs: Any) -> Any:
        from authlib.integrations.requests_client import OAuth2Session

        sess = OAuth2Session(
            self.client_id,
            self.client_secret or None,
            token_endpoint_auth_method="client_secret_post" if self.client_secret else "none",
            scope=" ".join(self.provider.scopes) or None,
            default_timeout=self.timeout,
            **kwargs,
        )
        sess.verify = self.verify
        if self.proxy:
            sess.proxies = {"http": self.proxy, "https": self.proxy}
            sess.trust_env = False
        return sess


def uses_oauth(config: SourceConfig) -> bool:
    return str(config.options.get("auth") or "").lower() == "oauth"


def client_for(config: SourceConfig) -> Client:
    """The OAuth client of an ``auth = "oauth"`` source; NotConfigured names what is missing."""
    opts = config.options
    name = str(opts.get("provider") or ("zendesk" if config.kind == "zendesk" else "")).lower()
    if name == "custom":
        provider = discover(config)
    elif name in PROVIDERS:
        provider = PROVIDERS[name]
    else:
        raise NotConfigured(
            f"{config.name}: set provider to one of microsoft, google, zendesk, custom "
            f'(auth = "oauth" needs to know where to sign in)'
        )
    client_id = str(opts.get("client_id") or "").strip()
    if not client_id:
        raise NotConfigured(
            f"{config.name}: set client_id to the OAuth client id your admin registered "
            "(see the README: one-time registration)"
        )
    web = config.url.rstrip("/").removesuffix("/api/v2").removesuffix("/api")
    tenant = str(opts.get("tenant") or "organizations")

    def fill(url: str) -> str:
        return url.replace("{tenant}", tenant).replace("{web}", web)

    provider = replace(
        provider,
        authorize_url=fill(provider.authorize_url),
        token_url=fill(provider.token_url),
        device_url=fill(provider.device_url),
        revoke_url=fill(provider.revoke_url),
        scopes=tuple(opts.get("scopes") or ()) or provider.scopes,
    )
    secret = str(opts.get("client_secret") or "")
    secret_store.remember(secret)
    port = opts.get("redirect_port") or 0
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise NotConfigured(f"{config.name}: redirect_port must be a port number (or 0)")
    return Client(
        config.name,
        provider,
        client_id,
        secret,
        config.verify,
        config.timeout,
        config.proxy,
        port,
    )


_discovered: dict[str, Provider] = {}


def discover(config: SourceConfig) -> Provider:
    """A custom provider from its RFC 8414 metadata (``.well-known/oauth-authorization-server``)."""
    issuer = str(config.options.get("issuer") or "").rstrip("/")
    if not issuer:
        raise NotConfigured(f'{config.name}: provider = "custom" needs issuer = "https://..."')
    if issuer in _discovered:
        return _discovered[issuer]
    import requests

    url = f"{issuer}/.well-known/oauth-authorization-server"
    try:
        response = requests.get(url, timeout=config.timeout, verify=config.verify)
        meta = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise Unavailable(f"cannot read the OAuth server's metadata at {url}", str(exc)) from None
    if not isinstance(meta, dict) or "token_endpoint" not in meta:
        raise BadResponse(f"{url} is not OAuth server metadata (no token_endpoint)")
    provider = Provider(
        "custom",
        str(meta.get("authorization_endpoint") or ""),
        str(meta["token_endpoint"]),
        str(meta.get("device_authorization_endpoint") or ""),
        str(meta.get("revocation_endpoint") or ""),
    )
    _discovered[issuer] = provider
    return provider


# --------------------------------------------------------------------------- tokens


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
            raise BadResponse(
                f"{self.client.source}: the sign-in server refused to renew the access "
                f"token ({exc.error})",
                str(exc.description or ""),
            ) from None
        except ValueError as exc:  # not JSON: a gateway's page
            raise BadResponse(
                f"{self.client.source}: the sign-in server gave an answer that is not a token",
                str(exc),
            ) from None
        except Exception as exc:  # noqa: BLE001 - requests' network errors
            raise Unavailable(
                f"{self.client.source}: cannot reach the sign-in server "
                f"{urlsplit(self.client.provider.token_url).hostname}",
                f"{type(exc).__name__}: {exc}",
            ) from None
        finally:
            sess.close()

    def _take(self, token: dict[str, Any]) -> None:
        access = str(token.get("access_token") or "")
        if not access:
            raise BadResponse(f"{self.client.source}: the sign-in server sent no access token")
        secret_store.remember(access)
        self.access_token = access
        lifetime = _seconds(token.get("expires_in"))
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
        raise SignInNeeded(
            "sign-in needed — the sign-in was revoked or has expired "
            f"({error}); sign in again in Settings or with "
            f"`ticketbell signin {self.client.source!r}`",
            description,
        )


class _Refused(Exception):
    """The provider refused the refresh token (RFC 6749 5.2 ``invalid_grant``...)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(error)
        self.error, self.description = error, description


def _seconds(value: object) -> float | None:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


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
    return SignInNeeded(
        f"sign-in needed — press Sign in… in Settings, or run `ticketbell signin {config.name!r}`"
    )


def bearer_auth(tokens: AccessTokens) -> Any:
    """A requests auth that sends the current access token and renews it once on a 401."""
    import requests

    class BearerAuth(requests.auth.AuthBase):
        def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
            request.headers["Authorization"] = f"Bearer {tokens.current()}"
            request.register_hook("response", self._retry_once)
            return request

        def _retry_once(self, response: requests.Response, **kwargs: Any) -> requests.Response:
            if response.status_code != 401 or getattr(response.request, "_renewed", False):
                return response
            response.close()
            sent = str(response.request.headers.get("Authorization", ""))
            tokens.renew(refused=sent.removeprefix("Bearer "))
            again = response.request.copy()
            again.headers["Authorization"] = f"Bearer {tokens.access_token}"
            again._renewed = True  # type: ignore[attr-defined]
            retry = response.connection.send(again, **kwargs)
            retry.history.append(response)
            retry.request = again
            return retry

    return BearerAuth()


# --------------------------------------------------------------------------- signing in


@dataclass(frozen=True)
class DeviceCode:
    """What the person is told: go to ``verification_uri`` and type ``user_code``."""

    user_code: str
    verification_uri: str
    verification_uri_complete: str
    device_code: str = field(repr=False)
    interval: float
    expires_in: float

    def instructions(self) -> str:
        return (
            f"On any computer or phone, open {self.verification_uri} and enter the code "
            f"{self.user_code}. Then sign in with the mailbox's or helpdesk's account and allow "
            "Ticketbell to read it. This waits until you are done."
        )


class SignInFailed(Exception):
    """Signing in did not work; the message says why in plain words."""


def start_device_code(client: Client) -> DeviceCode:
    """Ask the provider for a device code (RFC 8628 section 3.1)."""
    if not client.can_use_device_code:
        raise SignInFailed(
            f"{client.provider.name} does not offer sign-in with a code for this; use the browser"
        )
    sess = client.session()
    try:
        response = sess.post(
            client.provider.device_url,
            data={"client_id": client.client_id, "scope": " ".join(client.provider.scopes)},
            headers={"Accept": "application/json"},
            withhold_token=True,
        )
        data = response.json()
    except Exception as exc:  # noqa: BLE001 - network or not JSON
        raise SignInFailed(f"cannot ask {client.provider.device_url} for a code ({exc})") from None
    finally:
        sess.close()
    if response.status_code != 200 or not isinstance(data, dict) or "device_code" not in data:
        said = data.get("error_description") or data.get("error") if isinstance(data, dict) else ""
        said = said or f"HTTP {response.status_code}"
        raise SignInFailed(f"the sign-in server refused to give a code ({said})")
    secret_store.remember(str(data["device_code"]))
    uri = str(data.get("verification_uri") or data.get("verification_url") or "")
    return DeviceCode(
        user_code=str(data.get("user_code") or ""),
        verification_uri=uri,
        verification_uri_complete=str(data.get("verification_uri_complete") or uri),
        device_code=str(data["device_code"]),
        interval=_seconds(data.get("interval")) or 5.0,
        expires_in=_seconds(data.get("expires_in")) or 900.0,
    )


def finish_device_code(
    client: Client, device: DeviceCode, cancel: threading.Event | None = None
) -> dict[str, Any]:
    """Poll the token endpoint until the person entered the code (RFC 8628 section 3.4/3.5)."""
    from authlib.integrations.base_client.errors import OAuthError

    cancel = cancel or threading.Event()
    interval = device.interval
    deadline = time.monotonic() + device.expires_in
    sess = client.session()
    try:
        while time.monotonic() < deadline:
            if cancel.wait(interval):
                raise SignInFailed("signing in was cancelled")
            try:
                return dict(
                    sess.fetch_token(
                        client.provider.token_url,
                        grant_type=DEVICE_GRANT,
                        device_code=device.device_code,
                        client_id=client.client_id,
                    )
                )
            except OAuthError as exc:
                if exc.error == "authorization_pending":
                    continue
                if exc.error == "slow_down":
                    interval += 5  # RFC 8628 section 3.5
                    continue
                if exc.error == "access_denied":
                    raise SignInFailed("access was not allowed at the sign-in page") from None
                if exc.error == "expired_token":
                    break
                raise SignInFailed(f"the sign-in server said {exc.error}") from None
            except Exception as exc:  # noqa: BLE001 - network
                raise SignInFailed(f"cannot reach the sign-in server ({exc})") from None
    finally:
        sess.close()
    raise SignInFailed("the code expired before it was entered; start again")


class _Redirect(http.server.BaseHTTPRequestHandler):
    """The one request the browser makes to the loopback redirect URI."""

    result: dict[str, str]

    def do_GET(self) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        if "code" not in query and "error" not in query:
            self.send_response(404)
            self.end_headers()
            return
        self.server.result = query  # type: ignore[attr-defined]
        ok = "code" in query
        text = (
            "Signed in. You can close this window and go back to Ticketbell."
            if ok
            else "Signing in did not work. Go back to Ticketbell and try again."
        )
        body = f"<!DOCTYPE html><title>Ticketbell</title><p>{text}</p>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the query holds the authorization code: never logged


def browser_sign_in(
    client: Client,
    open_browser: Callable[[str], object] = webbrowser.open,
    cancel: threading.Event | None = None,
    timeout: float = SIGN_IN_TIMEOUT,
) -> dict[str, Any]:
    """Authorization code with PKCE through the browser and a loopback redirect (RFC 8252)."""
    from authlib.integrations.base_client.errors import OAuthError

    cancel = cancel or threading.Event()
    try:
        server = http.server.HTTPServer(("127.0.0.1", client.redirect_port), _Redirect)
    except OSError as exc:
        raise SignInFailed(
            f"cannot listen on 127.0.0.1:{client.redirect_port} for the browser's answer ({exc})"
        ) from None
    server.result = {}  # type: ignore[attr-defined]
    server.timeout = 0.25
    redirect = f"http://127.0.0.1:{server.server_port}/"
    verifier = random.token_urlsafe(64)
    sess = client.session(redirect_uri=redirect, code_challenge_method="S256")
    try:
        url, state = sess.create_authorization_url(
            client.provider.authorize_url, code_verifier=verifier, **dict(client.provider.extra)
        )
        served = threading.Thread(
            target=_serve_until_answer, args=(server, cancel, timeout), daemon=True
        )
        served.start()
        open_browser(url)
        served.join()
        result: dict[str, str] = server.result  # type: ignore[attr-defined]
        if cancel.is_set():
            raise SignInFailed("signing in was cancelled")
        if not result:
            raise SignInFailed(f"no answer from the browser within {timeout:.0f} s; try again")
        if result.get("state") != state:
            raise SignInFailed("the browser's answer was not for this sign-in (state mismatch)")
        if "error" in result:
            said = result.get("error_description") or result["error"]
            raise SignInFailed(f"the sign-in page said: {said}")
        secret_store.remember(result["code"])
        try:
            return dict(
                sess.fetch_token(
                    client.provider.token_url, code=result["code"], code_verifier=verifier
                )
            )
        except OAuthError as exc:
            raise SignInFailed(
                f"the sign-in server refused the code ({exc.error}: {exc.description or ''})"
            ) from None
        except Exception as exc:  # noqa: BLE001 - network
            raise SignInFailed(f"cannot reach the sign-in server ({exc})") from None
    finally:
        sess.close()
        server.server_close()


def _serve_until_answer(
    server: http.server.HTTPServer, cancel: threading.Event, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not server.result and not cancel.is_set() and time.monotonic() < deadline:  # type: ignore[attr-defined]
        server.handle_request()


def sign_in(
    config: SourceConfig,
    say: Callable[[str], object],
    method: str = "auto",
    open_browser: Callable[[str], object] = webbrowser.open,
    cancel: threading.Event | None = None,
) -> str:
    """Run a sign-in for ``config`` and keep its refresh token in the keyring.

    ``method`` is "device", "browser" or "auto" (a device code where the provider has one).
    ``say`` receives what the person should do. Returns a line saying it worked.
    """
    client = client_for(config)
    device = method == "device" or (method == "auto" and client.can_use_device_code)
    if device:
        code = start_device_code(client)
        say(code.instructions())
        token = finish_device_code(client, code, cancel)
    else:

        def opened(url: str) -> object:
            say(
                "Your browser opens the sign-in page. Sign in with the mailbox's or "
                "helpdesk's account and allow Ticketbell to read it; then come back here. "
                f"If no browser opens, visit:\n{url}"
            )
            return open_browser(url)

        token = browser_sign_in(client, opened, cancel)
    refresh = str(token.get("refresh_token") or "")
    if token.get("access_token"):
        secret_store.remember(str(token["access_token"]))
    if not refresh:
        raise SignInFailed(
            "the sign-in server gave no refresh token, so Ticketbell would have to ask again "
            "within the hour; check that the client may use offline access"
        )
    try:
        secret_store.set(config.name, refresh)
    except secret_store.SecretUnavailable as exc:
        raise SignInFailed(str(exc)) from None
    return f"Signed in: {config.name!r} can be read now (the sign-in is kept in the keyring)."


def sign_out(config: SourceConfig) -> str:
    """Forget the source's tokens: revoke the refresh token where the provider can, then delete."""
    try:
        refresh = secret_store.get(config.name)
    except secret_store.SecretUnavailable:
        refresh = ""
    revoked = ""
    if refresh:
        with contextlib.suppress(NotConfigured, Unavailable, BadResponse):
            client = client_for(config)
            if client.provider.revoke_url:
                sess = client.session()
                try:
                    response = sess.revoke_token(
                        client.provider.revoke_url,
                        refresh,
                        token_type_hint="refresh_token",  # noqa: S106
                    )
                    if response.status_code == 200:
                        revoked = " and revoked at the provider"
                except Exception:  # noqa: BLE001, S110 - forgetting locally is what matters
                    pass
                finally:
                    sess.close()
    secret_store.delete(config.name)
    return f"Signed out: the sign-in of {config.name!r} is forgotten{revoked}."


# --------------------------------------------------------------------------- warnings


def auth_warnings(config: Config, now: datetime) -> list[str]:
    """Sign-in warnings for ``config validate`` and the tray (pure: ``now`` is passed in)."""
    warnings = []
    for src in config.sources:
        if src.kind == "zendesk" and not uses_oauth(src) and not src.options.get("oauth"):
            days = (ZENDESK_TOKENS_END - now.date()).days
            when = f"in {days} days" if days > 1 else "today or tomorrow" if days >= 0 else ""
            if when:
                said = f"stop working on {ZENDESK_TOKENS_END.isoformat()} ({when})"
            else:
                said = f"stopped working on {ZENDESK_TOKENS_END.isoformat()}"
            warnings.append(
                f'{src.name}: Zendesk API tokens {said}; switch to auth = "oauth" and sign in '
                "(see the README)"
            )
    return warnings
