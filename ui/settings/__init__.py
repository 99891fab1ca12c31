"""The settings window and the first-run wizard, one module per page.

Both edit the TOML document (a dict) and validate it with the agent's own ``config.save``: a
:class:`~agent.config.ConfigError` carries its key as a path and is shown next to that key's
field. Labels, hints and "empty: …" texts come from the declarations in
``agent.config.schema``; a source's fields from its kind's ``required``/``optional``. A
source's token goes to the keyring (``agent.secrets.set``), never to the file; so does an
escalation channel URL that carries a password or token (the file gets ``keyring:NAME``).
"Test connection" runs ``agent.connection.try_connection`` and "Send test" the agent's delivery,
each off the main thread, the answer back by signal.

- ``widgets``: what the pages share (labels, the key/value table editor, scrolling);
- ``source_form``: one helpdesk's form;
- ``sources``, ``response``, ``alerts``, ``escalation`` (with ``targets``), ``general``: the pages;
- ``dialog``: the window; ``wizard``: the first run.
"""

from __future__ import annotations

from ui.settings.dialog import SettingsDialog
from ui.settings.escalation import EscalationPage, LevelBox
from ui.settings.general import set_start_at_login
from ui.settings.response import ResponsePage, RuleRow
from ui.settings.source_form import SignInRow, SourceForm
from ui.settings.targets import TargetList, TargetRow
from ui.settings.widgets import KeyValueEditor, accept_risky
from ui.settings.wizard import FirstRunWizard

__all__ = [
    "EscalationPage",
    "FirstRunWizard",
    "KeyValueEditor",
    "LevelBox",
    "ResponsePage",
    "RuleRow",
    "SettingsDialog",
    "SignInRow",
    "SourceForm",
    "TargetList",
    "TargetRow",
    "accept_risky",
    "set_start_at_login",
]
