"""The registry of source kinds: one line per kind, ``kind -> "module:Class"``.

Modules are imported only when a kind is used, so start-up does not pay for every connector.
The PyInstaller spec reads ``KINDS`` for its hidden imports, so packaging never drifts from it.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.sources.base import Source

log = logging.getLogger(__name__)

KINDS: dict[str, str] = {
    "demo": "agent.sources.demo:DemoSource",
    "freescout": "agent.sources.freescout:FreeScoutSource",
    "freshdesk": "agent.sources.freshdesk:FreshdeskSource",
    "github": "agent.sources.github:GitHubSource",
    "helpscout": "agent.sources.helpscout:HelpScoutSource",
    "imap": "agent.sources.imap:ImapSource",
    "json": "agent.sources.jsonapi:JsonSource",
    "rt": "agent.sources.rt:RTSource",
    "team": "agent.sources.team:TeamSource",
    "zammad": "agent.sources.zammad:ZammadSource",
    "zendesk": "agent.sources.zendesk:ZendeskSource",
}


def source_class(kind: str) -> type[Source]:
    try:
        target = KINDS[kind]
    except KeyError:
        raise KeyError(f"unknown source kind {kind!r}; known kinds: {', '.join(KINDS)}") from None
    module_name, _, class_name = target.partition(":")
    cls: type[Source] = getattr(importlib.import_module(module_name), class_name)
    return cls
