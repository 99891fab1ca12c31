"""Where a source signs in: the providers (Microsoft 365, Google, Zendesk, a custom RFC 8414
server), the OAuth client a source's options make, and the sign-in warnings of ``config validate``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

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


def sign_in_options(default: str, help: str) -> tuple[Option, ...]:
    """What a kind that can sign in with OAuth adds to its ``optional`` (the settings form shows
    them): ``auth``, "oauth" or the kind's own way, ``default`` ("token", "password"), which
    :func:`uses_oauth` reads and for which the form offers Sign in…; then the OAuth options."""
    return (Option("auth", N_("Sign-in"), str, default, help), *OPTIONS)


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
        text = N_(
            "{name}: set provider to one of microsoft, google, zendesk, custom "
            '(auth = "oauth" needs to know where to sign in)'
        )
        raise NotConfigured(Text(text, name=config.name))
    client_id = str(opts.get("client_id") or "").strip()
    if not client_id:
        text = N_(
            "{name}: set client_id to the OAuth client id your admin registered "
            "(see the README: one-time registration)"
        )
        raise NotConfigured(Text(text, name=config.name))
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
        text = N_("{name}: redirect_port must be a port number (or 0)")
        raise NotConfigured(Text(text, name=config.name))
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
        text = N_('{name}: provider = "custom" needs issuer = "https://..."')
        raise NotConfigured(Text(text, name=config.name))
    if issuer in _discovered:
        return _discovered[issuer]
    import requests

    url = f"{issuer}/.well-known/oauth-authorization-server"
    try:
        response = requests.get(url, timeout=config.timeout, verify=config.verify)
        meta = response.json()
    except (requests.RequestException, ValueError) as exc:
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
