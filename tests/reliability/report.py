"""The ``make reliability`` report: a pytest plugin (``-p tests.reliability.report``).

It reads what the reliability tests recorded with ``record_property`` (see
``tests/reliability/conftest.py``) and prints one table at the end of the run. A fault counts as
survived only when its test passed; a figure no test reported is shown as "not measured" rather
than as a reassuring 0. "secrets found" comes from the suite-wide secret scan
(``tests/secretscan.py``), which runs when the session finishes.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests import secretscan

FIGURES = (
    ("alerts_duplicated", "alerts duplicated (must be 0)"),
    ("alerts_lost", "alerts lost (must be 0)"),
    ("escalations_duplicated", "escalations duplicated (must be 0)"),
    ("escalations_lost", "escalations lost (must be 0)"),
    ("escalations_in_doubt", "escalations in doubt (kill cut the send; flagged)"),
    ("secrets_found", "secrets found (must be 0)"),
    ("tokens_to_foreign_host", "tokens sent to a foreign host (must be 0)"),
    ("kills", "SIGKILLs survived by the headless agent"),
    ("channel_tokens_accepted", "channel tokens taken into a config or export (must be 0)"),
    ("files_readable_by_others", "files readable by other users (must be 0)"),
    ("fetches_past_deadline", "fetches past their deadline (must be 0)"),
    ("scheduler_deaths", "scheduler deaths (must be 0)"),
    ("sent_twice_slow_channel", "messages sent twice to a slow channel (must be 0)"),
)


class Tally:
    def __init__(self) -> None:
        self.faults: dict[str, bool] = {}
        self.figures: dict[str, int] = {}
        self.failed: list[str] = []

    def add(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        if report.failed:
            self.failed.append(report.nodeid)
        if "fault" in props:
            name = f"{props['fault']} [{report.nodeid}]"
            self.faults[name] = self.faults.get(name, True) and report.passed
        for key, _ in FIGURES:
            if key in props:
                self.figures[key] = self.figures.get(key, 0) + int(props[key])

    def rows(self) -> list[tuple[str, str]]:
        tried = len(self.faults)
        survived = sum(self.faults.values())
        rows = [("faults tried", str(tried)), ("faults survived", str(survived))]
        for key, label in FIGURES:
            rows.append((label, str(self.figures[key]) if key in self.figures else "not measured"))
        rows.append(("tests failed", str(len(self.failed))))
        return rows

    def table(self) -> str:
        rows = self.rows()
        width = max(len(label) for label, _ in rows)
        vw = max(6, *(len(value) for _, value in rows))
        lines = [
            f"| {'what':<{width}} | {'result':>{vw}} |",
            f"|{'-' * (width + 2)}|{'-' * (vw + 2)}|",
        ]
        lines += [f"| {label:<{width}} | {value:>{vw}} |" for label, value in rows]
        return "\n".join(lines)


_tally = Tally()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _tally.add(report)
    elif report.when == "teardown" and report.failed:
        _tally.failed.append(report.nodeid)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    found = terminalreporter.config.stash.get(secretscan.FOUND, None)
    if found is not None:  # the suite-wide scan of tests/conftest.py ran at session finish
        _tally.figures["secrets_found"] = found
    terminalreporter.section("Ticketbell reliability")
    terminalreporter.write_line(_tally.table())
    broken = [name for name, ok in _tally.faults.items() if not ok]
    for name in broken:
        terminalreporter.write_line(f"NOT survived: {name}")
