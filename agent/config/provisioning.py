"""Provisioning files: an owner exports the team's settings (sources, categories, windows,
escalation: never a secret); staff import them and add their own token. A file that carries
anything that looks like a secret is refused, so a token pasted into one cannot travel by
e-mail unnoticed."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent.channels import OWNER_DESKTOP, channel_secrets, describe_target
from agent.config.read import from_dict, read_toml, to_toml
from agent.config.schema import URL_SECRET_QUERY, url_has_password
from agent.config.shapes import Config, ConfigError
from agent.i18n import _, ngettext

_SECRET_KEY = re.compile(
    r"(?:^|[_-])(token|password|passwd|pwd|secret|api[_-]?key|private[_-]?key|access[_-]?key"
    r"|client[_-]?secret|credentials?)(?:$|[_-])",
    re.IGNORECASE,
)
_NOT_SECRET_KEYS = {"secret_env"}  # names an environment variable, not its value


def secret_findings(data: object, prefix: str = "") -> list[tuple[str, str]]:
    """Every place in ``data`` that looks like a secret: (key path, why)."""
    found: list[tuple[str, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if _is_secret_key(key):
                found.append((path, _("the key {key!r} looks like a secret").format(key=key)))
            else:
                found += secret_findings(value, path)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += secret_findings(value, f"{prefix}[{i}]")
    elif isinstance(data, str):
        if url_has_password(data):
            found.append((prefix, _("the URL carries a password")))
        elif URL_SECRET_QUERY.search(data) and "://" in data:
            found.append((prefix, _("the URL carries a token")))
        elif "://" in data and _channel_secrets(data):
            said = _("the channel URL carries a token ({where})")
            found.append((prefix, said.format(where=_channel_secrets(data))))
    return found


def _channel_secrets(url: str) -> str:
    """Where an apprise channel URL carries a secret ("the +X-Api-Key field"), or ""."""

    return ", ".join(dict.fromkeys(where for where, _value in channel_secrets(url)))


def read_provisioning(path: Path) -> Config:
    """Read and validate a provisioning file. Raises ConfigError, also when it holds a secret."""
    data = read_toml(path)
    findings = secret_findings(data)
    if findings:
        key, why = findings[0]
        said = ngettext(
            "{why} (and {count} more); a provisioning file must not carry secrets. Remove them, "
            "and add the tokens on each computer with `ticketbell secret set NAME` "
            "(or in Settings)",
            "{why} (and {count} more); a provisioning file must not carry secrets. Remove them, "
            "and add the tokens on each computer with `ticketbell secret set NAME` "
            "(or in Settings)",
            len(findings) - 1,
        )
        if len(findings) == 1:
            said = _(
                "{why}; a provisioning file must not carry secrets. Remove it, and add the "
                "token on each computer with `ticketbell secret set NAME` (or in Settings)"
            )
        raise ConfigError(path, key, said.format(why=why, count=len(findings) - 1))
    config = from_dict(data, path)
    for table, src in zip(data.get("sources", []), config.sources, strict=True):
        if isinstance(src.verify, str):  # a CA path relative to the file: kept once imported
            table["verify"] = src.verify
    if config.team is not None and config.team.ca:  # the same for the broker's CA
        data["team"]["ca"] = config.team.ca
    return replace(config, raw=data)


def risky_settings(config: Config) -> list[str]:
    """What a provisioning file asks for that a person should agree to before it is used:
    TLS certificates not checked or checked against its own CA, traffic through a proxy,
    escalations sent from this computer (``sent_by`` its role) to channels outside it."""

    risky = []
    for src in config.sources:
        if src.verify is False:
            said = _("{name}: TLS certificates are not checked (verify = false)")
            risky.append(said.format(name=src.name))
        elif isinstance(src.verify, str):
            said = _("{name}: trusts the certificates in {path}")
            risky.append(said.format(name=src.name, path=src.verify))
        if src.proxy:
            said = _("{name}: all its traffic goes through the proxy {proxy}")
            risky.append(said.format(name=src.name, proxy=src.proxy))
    esc = config.escalation
    if esc.sent_by == config.role:
        targets = [t for level in esc.levels for t in level.notify] + list(esc.digest_to)
        for target in dict.fromkeys(targets):
            if target != OWNER_DESKTOP:
                said = _("escalations are sent from this computer to {target}")
                risky.append(said.format(target=describe_target(target)))
    return risky


def secrets_needed(config: Config) -> list[tuple[str, str]]:
    """The secrets this config expects in the keyring: (name, what it is), in config order."""
    from agent.sources import source_class

    needed = []
    for src in config.sources:
        cls = source_class(src.kind)
        if cls.needs_secret and not src.secret_env:
            said = _("{what} for the {kind} source").format(what=_(cls.secret_label), kind=src.kind)
            needed.append((src.name, said))
    channels = [t for level in config.escalation.levels for t in level.notify]
    for target in dict.fromkeys([*channels, *config.escalation.digest_to]):
        if target.startswith("keyring:"):
            needed.append((target.removeprefix("keyring:"), _("URL of the escalation channel")))
    return needed


def export_provisioning(config: Config, role: str = "assistant") -> str:
    """The config as a provisioning file for staff: TOML with every secret-looking entry left
    out (and named in a comment), the role set to ``role``, and the tokens to add listed."""
    data = _without_secrets(dict(config.raw))
    data["role"] = role
    escalation = data.get("escalation")
    if isinstance(escalation, dict) and "levels" in escalation:  # a level left with no channel
        escalation["levels"] = [lv for lv in escalation["levels"] if lv.get("notify")]
    lines = ["# Ticketbell provisioning file: import it with `ticketbell --import FILE`."]
    left_out = [key for key, _ in secret_findings(config.raw)]
    if left_out:
        lines.append(f"# Left out because they look like secrets: {', '.join(left_out)}")
    for name, what in secrets_needed(from_dict(data, None)):
        lines.append(f"# After importing, add the {what}: ticketbell secret set {name!r}")
    return "\n".join(lines) + "\n\n" + to_toml(data)


def _is_secret_key(key: object) -> bool:
    return key not in _NOT_SECRET_KEYS and bool(_SECRET_KEY.search(str(key)))


def _without_secrets(data: object) -> Any:
    def secret_text(value: object) -> bool:
        return isinstance(value, str) and bool(secret_findings(value))

    if isinstance(data, dict):
        return {
            k: _without_secrets(v)
            for k, v in data.items()
            if not _is_secret_key(k) and not secret_text(v)
        }
    if isinstance(data, list):
        return [_without_secrets(v) for v in data if not secret_text(v)]
    return data
