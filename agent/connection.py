"""The settings window's "Test connection": one trial fetch of a source as the agent makes it.

The source is read from its ``[[sources]]`` table by config loading and built by the engine's own
construction (its secret from the keyring or ``secret_env``), so a test that passes here means
the agent will read the helpdesk the same way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.i18n import _, ngettext
from agent.sources import KINDS, source_class

if TYPE_CHECKING:
    from agent.config import SourceConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionTest:
    """What one trial fetch found, in words for a person (the settings window shows it)."""

    ok: bool
    message: str
    categories: list[str] | None = None  # the helpdesk's categories, when it can list them


def try_connection(table: dict[str, Any], secret: str | None = None) -> ConnectionTest:
    """Read one ``[[sources]]`` table as config loading does, build the source as the engine
    does (``secret``, or else the keyring's or ``secret_env``'s), fetch once and list the
    categories. Blocks for up to a fetch's deadline: run it off the UI thread."""
    from agent import config
    from agent.engine import make_source
    from agent.model import utcnow
    from agent.sources.base import SignInNeeded, SourceError

    try:
        cfg = config.from_dict({"sources": [table]}).sources[0]
        cls = source_class(cfg.kind)
        source = cls(cfg, secret, utcnow) if secret else make_source(cfg, utcnow)
        try:
            tickets = len(source.fetch(None).tickets)
            categories = source.list_categories()
        finally:
            source.close()
    except config.ConfigError as exc:
        label = _label(str(table.get("kind", "")), str(exc.parts[2] if exc.parts[2:] else ""))
        return ConnectionTest(
            False,
            sentence(
                _("Cannot test yet: {setting}: {problem}").format(
                    setting=label, problem=exc.message
                )
            ),
        )
    except SignInNeeded:
        return ConnectionTest(False, _("Press Sign in… first."))
    except SourceError as exc:
        return ConnectionTest(False, sentence(_("Not connected: {problem}").format(problem=exc)))
    except Exception as exc:  # the person hears back in any case; the traceback goes to the log
        log.exception("connection test failed")
        return ConnectionTest(
            False, _("Not connected: {error}.").format(error=exc.__class__.__name__)
        )
    connected = ngettext(
        "Connected: {count} ticket waiting.", "Connected: {count} tickets waiting.", tickets
    )
    return ConnectionTest(True, connected.format(count=tickets), categories)


def source_to_sign_in(table: dict[str, Any]) -> SourceConfig | str:
    """The source a ``[[sources]]`` table signs in to, or why it cannot yet (a sentence)."""
    from agent import config

    if str(table.get("auth", "")).lower() != "oauth":
        return _('Set "Sign-in" to oauth first, then press Sign in… again.')
    try:
        return config.from_dict({"sources": [table]}).sources[0]
    except config.ConfigError as exc:
        return sentence(_("Cannot sign in yet: {problem}").format(problem=exc.message))


def try_sign_in(
    source: SourceConfig, say: Callable[[str], None], cancel: threading.Event
) -> ConnectionTest:
    """The settings window's "Sign in…": sign in as ``ticketbell signin`` does, ``say``-ing the
    code or the page to open. Blocks until done or ``cancel`` is set: run it off the UI thread."""
    from agent import signin
    from agent.sources.base import SourceError

    try:
        return ConnectionTest(True, signin.sign_in(source, say, cancel=cancel))
    except (signin.SignInFailed, SourceError) as exc:
        return ConnectionTest(False, sentence(_("Not signed in: {problem}").format(problem=exc)))
    except Exception as exc:  # the person hears back in any case; the traceback goes to the log
        log.exception("sign-in failed")
        return ConnectionTest(
            False, _("Not signed in: {error}.").format(error=exc.__class__.__name__)
        )


def _label(kind: str, key: str) -> str:
    """The label the settings form gives ``key`` of a ``kind`` source (the key if none)."""
    from agent.config import schema

    options = schema.SOURCE + (source_class(kind).required if kind in KINDS else ())
    options += source_class(kind).optional if kind in KINDS else ()
    return next((_(o.label) for o in reversed(options) if o.key == key), key)


def sentence(text: str) -> str:
    """``text`` as a sentence: stripped, ending in a full stop unless it ends in one already."""
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."
