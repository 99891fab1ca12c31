"""``ticketbell claim SOURCE ID [--release]``: "I'm on it" for the team, from a terminal.

It publishes (or, with ``--release``, ends) this person's retained claim on the team broker
(``[team]``); every member's Ticketbell shows it beside the ticket. The running agent's own
"I'm on it" does the same from the tray.
"""

from __future__ import annotations

import argparse
import sys

from agent.commands.common import EXIT_OK, EXIT_UNKNOWN, EXIT_USAGE, load_config_or_say
from agent.i18n import _
from agent.model import one_line


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    claim = sub.add_parser("claim", parents=[common], help=_('"I\'m on it" for the team hub'))
    claim.add_argument("source", help=_("the source's name"))
    claim.add_argument("ticket", help=_("the ticket's id"))
    claim.add_argument("--release", action="store_true", help=_("end this claim"))


def claim_command(args: argparse.Namespace) -> int:
    config = load_config_or_say(args)
    if config is None:
        return EXIT_USAGE
    if config.team is None:
        said = _("{path}: no [team] table: claims go to a team").format(path=config.path)
        print(f"ticketbell: {said}", file=sys.stderr)
        return EXIT_USAGE
    from agent.team_agent import claim_once

    problem = claim_once(config.team, args.source, args.ticket, args.release)
    what = f"{one_line(args.source, 60)} #{one_line(args.ticket, 40)}"
    if problem:
        print(f"ticketbell: {what}: {problem}", file=sys.stderr)
        return EXIT_UNKNOWN
    said = _("released") if args.release else _("claimed by {user}").format(user=config.team.user)
    print(f"{what}: {said}")
    return EXIT_OK
