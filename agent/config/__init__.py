"""The TOML configuration: where it lives, what it may say, and clear errors when it is wrong.

Every validation error names the file and the key and says what is allowed, in one line:

    ticketbell.toml: sources[1].interval: "5x" is not a duration; use e.g. "90s", "10m", "2h"

- :mod:`~agent.config.schema`: every key declared once (type, default, least value, check,
  label and help) and the parsers of durations, days and times;
- :mod:`~agent.config.shapes`: what a valid file becomes (frozen dataclasses) and ConfigError;
- :mod:`~agent.config.read`: reading and writing the file against the declarations;
- :mod:`~agent.config.provisioning`: the files an owner hands to staff, never with a secret.

Secrets never live here: a source's token is in the OS keyring under the source's name, or in the
environment variable its ``secret_env`` names (see ``agent.secrets``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.config.read import (
    DEMO_CONFIG,
    MAX_FILE_BYTES,
    demo_config,
    from_dict,
    load,
    read_toml,
    save,
    to_toml,
    tomllib,  # the TOML reader in use (tomli before Python 3.11), for reading exports back
)
from agent.config.schema import ROLES
from agent.config.shapes import (
    Alerts,
    BusinessHours,
    Config,
    ConfigError,
    Escalation,
    SourceConfig,
    Team,
    WindowRule,
    Windows,
    default_config_path,
    default_data_dir,
    default_log_dir,
)
from agent.config.values import WEEKDAYS, parse_days, parse_duration, parse_time_range

if TYPE_CHECKING:
    from agent.config.provisioning import (
        export_provisioning,
        read_provisioning,
        risky_settings,
        secret_findings,
        secrets_needed,
    )

#: imported when first used (the tray's start never uses them): see __getattr__
_PROVISIONING = {
    "export_provisioning",
    "read_provisioning",
    "risky_settings",
    "secret_findings",
    "secrets_needed",
}


def __getattr__(name: str) -> Any:
    """The provisioning functions, from :mod:`~agent.config.provisioning` when first asked for."""
    if name in _PROVISIONING:
        from agent.config import provisioning

        return getattr(provisioning, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEMO_CONFIG",
    "MAX_FILE_BYTES",
    "ROLES",
    "WEEKDAYS",
    "Alerts",
    "BusinessHours",
    "Config",
    "ConfigError",
    "Escalation",
    "SourceConfig",
    "Team",
    "WindowRule",
    "Windows",
    "default_config_path",
    "default_data_dir",
    "default_log_dir",
    "demo_config",
    "export_provisioning",
    "from_dict",
    "load",
    "parse_days",
    "parse_duration",
    "parse_time_range",
    "problems",
    "read_provisioning",
    "read_toml",
    "risky_settings",
    "save",
    "secret_findings",
    "secrets_needed",
    "to_toml",
    "tomllib",
]


def problems(data: dict[str, Any], file: Path | None = None, limit: int = 30) -> list[ConfigError]:
    """Every mistake in the document ``data``, not only the first (the settings window marks
    them all): it is validated again with each key found wrong taken out, until it passes or
    ``limit``. What taking a key out causes (a required key now missing, or the table it was
    in) is not a mistake of its own and is not listed."""
    doc = copy.deepcopy(data)
    found: list[ConfigError] = []
    for _ in range(2 * limit):
        try:
            from_dict(doc, file)
            break
        except ConfigError as exc:
            caused = any(f.key == exc.key or f.key.startswith(exc.key) for f in found)
            if not caused:
                found.append(exc)
            if len(found) >= limit or not _take_out(doc, exc.parts):
                break
    return found


def _take_out(doc: dict[str, Any], parts: tuple[str | int, ...]) -> bool:
    """Remove the table key at ``parts``, or the nearest enclosing one. A source that cannot
    lose the key (a required one is missing) becomes a plain demo source of the same name, so
    the other sources keep their places; False when nothing could be taken out."""
    for n in range(len(parts), 0, -1):
        holder: Any = doc
        for part in parts[: n - 1]:
            try:
                holder = holder[part]
            except (KeyError, IndexError, TypeError):
                holder = None
                break
        key = parts[n - 1]
        if isinstance(holder, dict) and key in holder:
            del holder[key]
            return True
        sources = doc.get("sources")
        if holder is sources and isinstance(sources, list) and isinstance(key, int):
            if not 0 <= key < len(sources):
                return False
            name = sources[key].get("name") if isinstance(sources[key], dict) else None
            sources[key] = {"name": name or f"source {key + 1}", "kind": "demo"}
            return True
    return False
