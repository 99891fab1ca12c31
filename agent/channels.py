"""Channel URLs, the places escalations go: ``owner-desktop``, ``keyring:NAME`` (a URL kept in
the keyring) or an apprise URL. Which are usable, which carry a secret, and how each may be
shown without one. Config validation and the escalator both ask; this module needs neither.

apprise is imported only when a URL is looked at: a config without channels never loads it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from agent import secrets as secret_store
from agent.i18n import _

OWNER_DESKTOP = "owner-desktop"
KEYRING_PREFIX = "keyring:"


def apprise_plugin(url: str) -> Any:
    """apprise's plugin for ``url``. Its secrets are registered for redaction first: apprise
    logs the whole URL ("Loaded JSON URL: …") while it loads the plugin."""
    import apprise

    for _field, value in channel_secrets(url):
        secret_store.remember(value)
        secret_store.remember(quote(value, safe=""))  # as apprise writes it back into a URL
    return apprise.Apprise.instantiate(url, suppress_exceptions=True)


# The names of a header (``+Name=``), URL parameter (``-name=``) or payload field (``:name=``)
# that carries a secret. apprise marks none of these private, so the name decides.
_SECRET_NAME = re.compile(
    r"auth|token|key|secret|pass|pwd|cookie|session|sig|credential|bearer", re.IGNORECASE
)
_SECRET_VALUE = re.compile(r"^\s*(bearer|basic|token|digest)\s+\S", re.IGNORECASE)


def channel_secrets(url: str) -> list[tuple[str, str]]:
    """The secrets written in an apprise URL, as (where, value) (where: words for a person, in
    the language in use), found by apprise's own parsing
    (the plugin's ``parse_url``) and its templates: the password; every token and query
    argument the plugin's template marks private (a Slack or Discord path token, ntfy's
    ``?token=``); and every header (``+``), parameter (``-``) or payload field (``:``) whose
    name or value says it authenticates (``+X-Api-Key=``, ``-apikey=``, ``+Authorization=``).
    Parsing loads no plugin, so nothing is logged."""
    from apprise.manager_plugins import NotificationManager

    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    try:
        # apprise's manager has no annotations: the call is untyped, not wrong
        cls = NotificationManager()[scheme]  # type: ignore[no-untyped-call]
        parsed = cls.parse_url(url)
    except Exception:  # noqa: BLE001 - an unknown scheme or a URL apprise cannot parse
        return []
    if not isinstance(parsed, dict):
        return []
    return [*_template_secrets(cls, parsed), *_field_secrets(cls, parsed)]


def _template_secrets(cls: Any, parsed: dict[str, Any]) -> list[tuple[str, str]]:
    """The password, and the tokens and ``?arguments`` the plugin's template marks private."""
    tokens = getattr(cls, "template_tokens", {})
    args = getattr(cls, "template_args", {})

    def private(spec: object) -> bool:
        if not isinstance(spec, dict):
            return False
        alias = spec.get("alias_of", ())
        aliases = [alias] if isinstance(alias, str) else list(alias)
        return bool(spec.get("private")) or any(
            tokens.get(a, {}).get("private") for a in aliases if isinstance(a, str)
        )

    found: list[tuple[str, str]] = []
    if parsed.get("password"):
        found.append((_("the password"), str(parsed["password"])))
    for key, value in parsed.items():
        if key != "password" and private(tokens.get(key)) and isinstance(value, str) and value:
            found.append((_("the {key}").format(key=key), value))
    for key, value in (parsed.get("qsd") or {}).items():
        if private(args.get(key)) and value:
            found.append((_("the ?{key}= argument").format(key=key), str(value)))
    return found


def _field_secrets(cls: Any, parsed: dict[str, Any]) -> list[tuple[str, str]]:
    """The headers (``+``), parameters (``-``) and payload fields (``:``) whose name or value
    says they authenticate."""
    found: list[tuple[str, str]] = []
    for group in getattr(cls, "template_kwargs", {}).values():
        prefix = group.get("prefix", "") if isinstance(group, dict) else ""
        for name, value in (parsed.get(f"qsd{prefix}") or {}).items() if prefix else ():
            if value and (_SECRET_NAME.search(name) or _SECRET_VALUE.match(str(value))):
                where = _("the {prefix}{name} field").format(prefix=prefix, name=name)
                found.append((where, str(value)))
    return found


def check_target(target: str) -> str | None:
    """Why ``target`` cannot be used as a channel (None: it can). Never repeats a secret.

    Uses apprise's own URL parsing: what apprise cannot load is refused with the scheme only.
    """
    if target == OWNER_DESKTOP:
        return None
    if target.startswith(KEYRING_PREFIX):
        name = target[len(KEYRING_PREFIX) :].strip()
        return (
            None if name else _('"keyring:" needs the name of a keyring entry, e.g. keyring:slack')
        )
    if apprise_plugin(target) is None:
        scheme = target.split("://", 1)[0] if "://" in target else ""
        wiki = "https://github.com/caronc/apprise/wiki"
        if not scheme:
            said = _(
                "this value is not a channel URL apprise understands; see {wiki} for the URL of "
                'each service, use "owner-desktop", or "keyring:NAME" for a URL kept in the keyring'
            )
            return said.format(wiki=wiki)
        said = _(
            "{scheme}://… is not a channel URL apprise understands; see {wiki} for the URL of "
            'each service, use "owner-desktop", or "keyring:NAME" for a URL kept in the keyring'
        )
        return said.format(scheme=scheme, wiki=wiki)
    return None


def carries_secret(target: str) -> bool:
    """Whether a URL written in the config carries a password or token (see
    :func:`channel_secrets`; also anything apprise masks in its private form)."""
    if target == OWNER_DESKTOP or target.startswith(KEYRING_PREFIX):
        return False
    if channel_secrets(target):
        return True
    plugin = apprise_plugin(target)
    return plugin is not None and plugin.url(privacy=True) != plugin.url()


@lru_cache(maxsize=64)
def describe_target(target: str) -> str:
    """A target as it may be shown in a log line or the tray: never with its secrets."""
    if target == OWNER_DESKTOP or target.startswith(KEYRING_PREFIX):
        return target
    plugin = apprise_plugin(target)
    if plugin is None:
        return target.split("://", 1)[0] + "://…"
    return str(plugin.url(privacy=True)).split("?", 1)[0]
