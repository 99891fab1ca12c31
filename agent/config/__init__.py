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
from agent.config.schema import (
    ROLES,
    WEEKDAYS,
    parse_days,
    parse_duration,
    parse_time_range,
)
from agent.config.shapes import (
    Alerts,
    BusinessHours,
    Config,
    ConfigError,
    Escalation,
    SourceConfig,
    WindowRule,
    Windows,
    default_config_path,
    default_data_dir,
    default_log_dir,
)

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
    "read_provisioning",
    "read_toml",
    "risky_settings",
    "save",
    "secret_findings",
    "secrets_needed",
    "to_toml",
    "tomllib",
]
