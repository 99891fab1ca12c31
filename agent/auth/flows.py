"""Signing in: the browser way (authorization code with PKCE and a loopback redirect, RFC 7636
and RFC 8252) and the device code way (RFC 8628); signing out.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent import secrets as secret_store
from agent.auth.providers import Client, client_for
from agent.auth.tokens import seconds_or_none
from agent.i18n import _
from agent.sources.base import BadResponse, NotConfigured, Unavailable

if TYPE_CHECKING:
    from agent.config import SourceConfig

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SIGN_IN_TIMEOUT = 300.0


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
        return _(
            "On any computer or phone, open {url} and enter the code {code}. Then sign in with "
            "the mailbox's or helpdesk's account and allow Ticketbell to read it. This waits "
            "until you are done."
        ).format(url=self.verification_uri, code=self.user_code)


class SignInFailed(Exception):
    """Signing in did not work; the message says why in plain words."""


def _unreachable(exc: Exception) -> SignInFailed:
    """The sign-in server did not answer (``exc``: the network's error)."""
    return SignInFailed(_("cannot reach the sign-in server ({error})").format(error=exc))


#: the longest the device flow waits between two asks, and for the person, whatever the server says
MAX_DEVICE_INTERVAL = 60.0
MAX_DEVICE_WAIT = 3600.0


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
        raise SignInFailed(
            _("cannot ask {url} for a code ({error})").format(
                url=client.provider.device_url, error=exc
            )
        ) from None
    finally:
        sess.close()
    if response.status_code != 200 or not isinstance(data, dict) or "device_code" not in data:
        said = data.get("error_description") or data.get("error") if isinstance(data, dict) else ""
        said = said or f"HTTP {response.status_code}"
        raise SignInFailed(
            _("the sign-in server refused to give a code ({said})").format(said=said)
        )
    secret_store.remember(str(data["device_code"]))
    uri = str(data.get("verification_uri") or data.get("verification_url") or "")
    return DeviceCode(
        user_code=str(data.get("user_code") or ""),
        verification_uri=uri,
        verification_uri_complete=str(data.get("verification_uri_complete") or uri),
        device_code=str(data["device_code"]),
        # a server's numbers bound the wait, never unbounded: ask at least every minute, and give
        # the person at most an hour to type the code (RFC 8628's examples: 5 s and 30 min)
        interval=min(seconds_or_none(data.get("interval")) or 5.0, MAX_DEVICE_INTERVAL),
        expires_in=min(seconds_or_none(data.get("expires_in")) or 900.0, MAX_DEVICE_WAIT),
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
                raise SignInFailed(_("signing in was cancelled"))
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
                    interval = min(interval + 5, MAX_DEVICE_INTERVAL)  # RFC 8628 section 3.5
                    continue
                if exc.error == "access_denied":
                    raise SignInFailed(_("access was not allowed at the sign-in page")) from None
                if exc.error == "expired_token":
                    break
                said = _("the sign-in server said {error}").format(error=exc.error)
                raise SignInFailed(said) from None
            except Exception as exc:  # noqa: BLE001 - network
                raise _unreachable(exc) from None
    finally:
        sess.close()
    raise SignInFailed(_("the code expired before it was entered; start again"))


def open_in_browser(url: str) -> bool:
    """``webbrowser.open``, imported when a sign-in opens a page (not when the agent starts)."""
    import webbrowser

    return webbrowser.open(url)


def browser_sign_in(
    client: Client,
    open_browser: Callable[[str], object] = open_in_browser,
    cancel: threading.Event | None = None,
    timeout: float = SIGN_IN_TIMEOUT,
) -> dict[str, Any]:
    """Authorization code with PKCE through the browser and a loopback redirect (RFC 8252)."""
    import secrets as random

    from authlib.integrations.base_client.errors import OAuthError

    from agent.auth.loopback import RedirectServer, serve_until_answer

    cancel = cancel or threading.Event()
    try:
        server = RedirectServer(client.redirect_port)
    except OSError as exc:
        said = _("cannot listen on 127.0.0.1:{port} for the browser's answer ({error})")
        raise SignInFailed(said.format(port=client.redirect_port, error=exc)) from None
    redirect = f"http://127.0.0.1:{server.server_port}/"
    verifier = random.token_urlsafe(64)
    sess = client.session(redirect_uri=redirect, code_challenge_method="S256")
    try:
        url, state = sess.create_authorization_url(
            client.provider.authorize_url, code_verifier=verifier, **dict(client.provider.extra)
        )
        served = threading.Thread(
            target=serve_until_answer, args=(server, cancel, timeout), daemon=True
        )
        served.start()
        open_browser(url)
        served.join()
        result = server.result
        if cancel.is_set():
            raise SignInFailed(_("signing in was cancelled"))
        if not result:
            said = _("no answer from the browser within {seconds} s; try again")
            raise SignInFailed(said.format(seconds=f"{timeout:.0f}"))
        if result.get("state") != state:
            raise SignInFailed(_("the browser's answer was not for this sign-in (state mismatch)"))
        if "error" in result:
            said = result.get("error_description") or result["error"]
            raise SignInFailed(_("the sign-in page said: {said}").format(said=said))
        secret_store.remember(result["code"])
        try:
            return dict(
                sess.fetch_token(
                    client.provider.token_url, code=result["code"], code_verifier=verifier
                )
            )
        except OAuthError as exc:
            said = _("the sign-in server refused the code ({error}: {description})")
            said = said.format(error=exc.error, description=exc.description or "")
            raise SignInFailed(said) from None
        except Exception as exc:  # noqa: BLE001 - network
            raise _unreachable(exc) from None
    finally:
        sess.close()
        server.server_close()


def sign_in(
    config: SourceConfig,
    say: Callable[[str], object],
    method: str = "auto",
    open_browser: Callable[[str], object] = open_in_browser,
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
                _(
                    "Your browser opens the sign-in page. Sign in with the mailbox's or "
                    "helpdesk's account and allow Ticketbell to read it; then come back here. "
                    "If no browser opens, visit:\n{url}"
                ).format(url=url)
            )
            return open_browser(url)

        token = browser_sign_in(client, opened, cancel)
    refresh = str(token.get("refresh_token") or "")
    if token.get("access_token"):
        secret_store.remember(str(token["access_token"]))
    if not refresh:
        raise SignInFailed(
            _(
                "the sign-in server gave no refresh token, so Ticketbell would have to ask again "
                "within the hour; check that the client may use offline access"
            )
        )
    try:
        secret_store.set(config.name, refresh)
    except secret_store.SecretUnavailable as exc:
        raise SignInFailed(str(exc)) from None
    return _("Signed in: {name} can be read now (the sign-in is kept in the keyring).").format(
        name=repr(config.name)
    )


def sign_out(config: SourceConfig) -> str:
    """Forget the source's tokens: revoke the refresh token where the provider can, then delete."""
    try:
        refresh = secret_store.get(config.name)
    except secret_store.SecretUnavailable:
        refresh = ""
    revoked = False
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
                        revoked = True
                except Exception:  # noqa: BLE001, S110 - forgetting locally is what matters
                    pass
                finally:
                    sess.close()
    secret_store.delete(config.name)
    if revoked:
        said = _("Signed out: the sign-in of {name} is forgotten and revoked at the provider.")
    else:
        said = _("Signed out: the sign-in of {name} is forgotten.")
    return said.format(name=repr(config.name))
