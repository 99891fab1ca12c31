"""``ticketbell report``: the scorecard of a week, a month or any period, beside the period
before it, as text (or JSON) on the screen and as HTML and CSV files.

The text and the HTML are in the person's language (the config's ``language``, else the
system's, as every command); JSON and CSV stay English for the scripts and spreadsheets that
read them."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from agent.commands.common import EXIT_OK, EXIT_USAGE, data_dir, load_config_or_say
from agent.config import Config
from agent.i18n import _
from agent.model import utcnow

if TYPE_CHECKING:  # the parser is built at every start: the rest is imported when it runs
    from agent.insight.aggregates import Day


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    rep = sub.add_parser("report", parents=[common], help=_("the scorecard of a week or a month"))
    span = rep.add_mutually_exclusive_group()
    span.add_argument("--week", action="store_true", help=_("the last 7 days (the default)"))
    span.add_argument("--month", action="store_true", help=_("the last 30 days"))
    rep.add_argument(
        "--from", dest="first", type=_day, metavar=_("DATE"), help=_("first day, YYYY-MM-DD")
    )
    rep.add_argument(
        "--to", dest="last", type=_day, metavar=_("DATE"), help=_("last day, YYYY-MM-DD")
    )
    rep.add_argument(
        "--html", type=Path, metavar=_("FILE"), help=_("also write the scorecard as HTML")
    )
    rep.add_argument("--csv", type=Path, metavar=_("FILE"), help=_("also write its numbers as CSV"))
    rep.add_argument("--json", action="store_true", help=_("print JSON instead of text"))


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        said = _("{text} is not a date; use YYYY-MM-DD").format(text=repr(text))
        raise argparse.ArgumentTypeError(said) from None


def history(config: Config, args: argparse.Namespace) -> list[Day]:
    """The daily aggregates: the demo's replayed history, or the queue's."""
    from agent.queue import LocalQueue, private_dir

    folder = data_dir(args)
    if getattr(args, "demo", False):
        from agent.insight.replay import demo_history, seed

        days = demo_history(config, utcnow(), private_dir(folder))
        seed(LocalQueue(folder, config.retention), days, utcnow())
        return days
    opening = logging.getLogger("agent.queue")
    level = opening.level
    opening.setLevel(logging.ERROR)  # only read: the tray holding the folder is no news here
    try:
        queue = LocalQueue(folder, config.retention)
    finally:
        opening.setLevel(level)
    try:
        return queue.aggregates.days()
    finally:
        queue.close()


def report_command(args: argparse.Namespace) -> int:
    from agent.escalation import display_zone
    from agent.insight import report

    config = load_config_or_say(args)
    if config is None:
        return EXIT_USAGE
    today = utcnow().astimezone(display_zone(config)).date()
    try:
        kind = "month" if args.month else "week" if args.week else ""
        period = report.period_for(today, kind, args.first, args.last)
        card = report.scorecard(history(config, args), period)
    except (ValueError, OSError) as exc:
        print(f"ticketbell: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for path, text in ((args.html, report.as_html), (args.csv, report.as_csv)):
        if path is not None:
            try:
                path.write_text(text(card), encoding="utf-8")
            except OSError as exc:
                said = _("cannot write {path}: {error}").format(
                    path=path, error=exc.strerror or exc
                )
                print(f"ticketbell: {said}", file=sys.stderr)
                return EXIT_USAGE
    print(
        report.as_json_text(card) if args.json else report.as_text(card),
        end="\n" if args.json else "",
    )
    return EXIT_OK
