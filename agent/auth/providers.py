"""Where a source signs in: the providers (Microsoft 365, Google, Zendesk, a custom RFC 8414
server), the OAuth client a source's options make, and the sign-in warnings of ``config validate``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import orjson

from agent import secrets as secret_store
from agent.i18n import N_, Text, _, ngettext
from agent.sources.base import BadResponse, NotConfigured, Option, Unavailable

if TYPE_CHECKING:
    from agent.config import Config, SourceConfig

#: Zendesk: every API token stops working on this day (developer.zendesk.com, "Migrating from
#: API tokens to OAuth access tokens"); token auth keeps working until then.
ZENDESK_TOKENS_END = date(2027, 4, 30)

#: The OAuth options that follow ``auth`` in an OAuth-capable kind's ``optional``.
OPTIONS = (
    Option(
        "provider",
        N_("Sign-in provider"),
        str,
        "",
        N_('with auth = "oauth": "microsoft", "google", "zendesk" or "custom" (with issuer)'),
    ),
    Option("client_id", N_("OAuth client id"), str, "", N_("from the app your admin registered")),
    Option(
        "client_secret",
        N_("OAuth client secret"),
        str,
        "",
        N_("only Google desktop clients have one (Google does not treat it as confidential)"),
    ),
    Option("tenant", N_("Microsoft tenant"), str, "organizations", N_("a tenant id or domain")),
    Option("issuer", N_("OAuth server (custom)"), str, "", N_("its RFC 8414 metadata is read")),
    Option("scopes", N_("OAuth scopes (custom)"), list, []),
    Option(
        "redirect_port",
        N_("Loopback port"),
        int,
        0,
        N_(
            "0: any free port; set one where the OAuth client allows only the exact "
            "http://127.0.0.1:PORT/ it was registered with"
        ),
    ),
)


def _auth_check(default: str) -> Callable[[Any], str]:
    """``auth``'s check: "oauth" or the kind's own way (in any case, as the kinds read it)."""

    def check(value: Any) -> str:
        ways = (default, "oauth")
        if str(value).lower() in ways:
            return ""
        said = _("{value!r} is not {what}; use {choices}")
        choices = _(" or ").join(f'"{way}"' for way in ways)
        return said.format(value=value, what=_("a way to sign in"), choices=choices)

    return check


def sign_in_options(default: str, help: str) -> tuple[Option, ...]:
    """What a kind that can sign in with OAuth adds to its ``optional`` (the settings form shows
    them): ``auth``, "oauth" or the kind's own way, ``default`` ("token", "password"), which
    :func:`uses_oauth` reads and for which the form offers Sign in…; then the OAuth options."""
    return (Option("auth", N_("Sign-in"), str, default, help, _auth_check(default)), *OPTIONS)


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


def _provider_name(config: SourceConfig) -> str:
    """The source's ``provider``; a Zendesk source's own sign-in when it names none."""
    given = config.options.get("provider") or ("zendesk" if config.kind == "zendesk" else "")
    return str(given).strip().lower()


def client_problems(config: SourceConfig) -> list[tuple[str, Text]]:
    """What keeps :func:`client_for` from making the source's OAuth client, as (key, what is
    wrong). Pure (a custom provider's metadata is not read): the OAuth kinds' ``check_options``
    return it, so ``config validate`` names the key before anyone tries to sign in."""
    opts = config.options
    name = _provider_name(config)
    if name != "custom" and name not in PROVIDERS:
        said = N_(
            'must be microsoft, google, zendesk or custom (auth = "oauth" needs to know where '
            "to sign in)"
        )
        return [("provider", Text(said))]
    if name == "custom" and not str(opts.get("issuer") or "").strip():
        said = N_('is missing; provider = "custom" needs the address of its OAuth server')
        return [("issuer", Text(said))]
    if not str(opts.get("client_id") or "").strip():
        said = N_(
            'is missing; auth = "oauth" needs the OAuth client id your admin registered '
            "(see the README: one-time registration)"
        )
        return [("client_id", Text(said))]
    port = opts.get("redirect_port") or 0
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        return [("redirect_port", Text(N_("must be a port number (or 0)")))]
    return []


def client_for(config: SourceConfig) -> Client:
    """The OAuth client of an ``auth = "oauth"`` source; NotConfigured names what is missing."""
    for key, problem in client_problems(config):
        text = N_("{name}: {key} {problem}")
        raise NotConfigured(Text(text, name=config.name, key=key, problem=problem))
    opts = config.options
    name = _provider_name(config)
    provider = discover(config) if name == "custom" else PROVIDERS[name]
    client_id = str(opts.get("client_id") or "").strip()
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
    return Client(
        config.name,
        provider,
        client_id,
        secret,
        config.verify,
        config.timeout,
        config.proxy,
        int(opts.get("redirect_port") or 0),
    )


_discovered: dict[str, Provider] = {}
#: the most of an OAuth server's metadata read (RFC 8414 documents are a few KiB)
MAX_METADATA = 1 << 20


def discover(config: SourceConfig) -> Provider:
    """A custom provider from its RFC 8414 metadata (``.well-known/oauth-authorization-server``)."""
    issuer = str(config.options.get("issuer") or "").rstrip("/")
    if not issuer:
        text = N_('{name}: provider = "custom" needs issuer = "https://..."')
        raise NotConfigured(Text(text, name=config.name))
    if issuer in _discovered:
        return _discovered[issuer]
    import requests  # here, not at the top: the demo tray's agent never loads the HTTP stack

    from agent.sources.http_errors import OVER_RESPONSE_CAP  # which imports requests too

    url = f"{issuer}/.well-known/oauth-authorization-server"
    try:
        response = requests.get(url, timeout=config.timeout, verify=config.verify, stream=True)
        body = response.raw.read(MAX_METADATA + 1, decode_content=True)
        response.close()
        if len(body) > MAX_METADATA:  # metadata is a few KiB: not read whole into memory
            raise BadResponse(Text(OVER_RESPONSE_CAP, name=url, mib=MAX_METADATA >> 20))
        if response.status_code >= 400:  # its 401 read as "not metadata (no token_endpoint)"
            said = N_(
                "the OAuth server at {url} answered HTTP {status}; is issuer the address of "
                "the OAuth server?"
            )
            raise BadResponse(Text(said, url=url, status=response.status_code))
        meta = orjson.loads(body)
    except (requests.RequestException, ValueError, OSError) as exc:
        unread = Text(N_("cannot read the OAuth server's metadata at {url}"), url=url)
        raise Unavailable(unread, str(exc)) from None
    if not isinstance(meta, dict) or "token_endpoint" not in meta:
        raise BadResponse(
            Text(N_("{url} is not OAuth server metadata (no token_endpoint)"), url=url)
        )
    provider = Provider(
        "custom",
        str(meta.get("authorization_endpoint") or ""),
        str(meta["token_endpoint"]),
        str(meta.get("device_authorization_endpoint") or ""),
        str(meta.get("revocation_endpoint") or ""),
    )
    _discovered[issuer] = provider
    return provider


def auth_warnings(config: Config, now: datetime) -> list[str]:
    """Sign-in warnings for ``config validate`` and the tray (pure: ``now`` is passed in)."""
    warnings = []
    for src in config.sources:
        if src.kind == "zendesk" and not uses_oauth(src) and not src.options.get("oauth"):
            days = (ZENDESK_TOKENS_END - now.date()).days
            if days > 1:
                when = ngettext("in {count} day", "in {count} days", days).format(count=days)
            else:
                when = _("today or tomorrow") if days >= 0 else ""
            said = _(
                "{name}: Zendesk API tokens stop working on {date} ({when}); "
                'switch to auth = "oauth" and sign in (see the README)'
            )
            if not when:
                said = _(
                    "{name}: Zendesk API tokens stopped working on {date}; "
                    'switch to auth = "oauth" and sign in (see the README)'
                )
            end = ZENDESK_TOKENS_END.isoformat()
            warnings.append(said.format(name=src.name, date=end, when=when))
    return warnings
