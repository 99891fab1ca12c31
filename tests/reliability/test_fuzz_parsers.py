"""Every connector's ``parse_*`` functions, fed random JSON (shapes, types, sizes) with hypothesis:
each returns or raises ``BadResponse`` (the only error a helpdesk's data may cause) — never a
KeyError, TypeError or anything else that would show a person a traceback instead of a message.

The functions are found from the registry of kinds, so a new connector is fuzzed as soon as it
is registered. Arguments the agent itself makes (the source's name, its web URL, what an earlier
parse returned) get valid values by name; a parameter this table does not know fails the test,
so a new parser cannot slip through unfuzzed.
"""

from __future__ import annotations

import importlib
import inspect
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.sources import KINDS
from agent.sources.base import BadResponse
from tests.reliability.conftest import JSON_FIELDS

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
#: documented exceptions to the rule, each turned into BadResponse by its one caller
ALSO_RAISES: dict[str, type[Exception]] = {"imap.parse_internaldate": ValueError}

#: parameters that carry what the helpdesk sent: these get the random data
FROM_THE_HELPDESK = {
    "data",
    "ticket",
    "issue",
    "conv",
    "items",
    "value",
    "requester_id",
    "raw",
    "text",
    "line",
}
#: parameters the agent fills itself: valid values
FROM_THE_AGENT: dict[str, Any] = {
    "source": "Desk",
    "web": "https://desk.example.com",
    "team": frozenset(),
    "categories": (),
    "paused_labels": (),
    "now": NOW,
    "arrived": NOW,
    "customers": frozenset({"ana@example.com"}),
    "mailboxes": {},
    "groups": {},
    "users": {},
    "comments": [],
    "conversations": [],
    "messages": [],
    "history": [],
    "folder": "INBOX",
    "uidvalidity": 1,
    "uid": 1,
    "what": "a field",
    "items_path": "data",
    "fields": dict(JSON_FIELDS),
    "team_name": "acme",  # the team kind: what the broker says (agent/sources/team_messages.py)
    "user": "anna",
}


def _companions(kind_module: str) -> list[str]:
    """The modules a kind's file is split into: ``agent.sources.imap`` -> ``imap_mail``, ..."""
    prefix = kind_module.rpartition(".")[2] + "_"
    folder = Path(inspect.getfile(importlib.import_module(kind_module))).parent
    return [f"agent.sources.{p.stem}" for p in folder.glob(f"{prefix}*.py")]


def parsers() -> list[tuple[str, Any]]:
    found = []
    for kind, target in sorted(KINDS.items()):
        module = importlib.import_module(target.partition(":")[0])
        companions = _companions(module.__name__)  # agent.sources.imap_mail, team_messages...
        seen = set()
        for where in (module, *map(importlib.import_module, companions)):
            for name, fn in inspect.getmembers(where, inspect.isfunction):
                own = fn.__module__ in (module.__name__, *companions)
                if name.startswith("parse_") and own and fn not in seen:
                    seen.add(fn)
                    found.append((f"{kind}.{name}", fn))
    return found


PARSERS = parsers()


def json_values(keys: list[str]) -> st.SearchStrategy[Any]:
    """Random JSON whose object keys are mostly the names the connector looks for."""
    key = st.sampled_from(keys) | st.text(max_size=8) if keys else st.text(max_size=8)
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**63), max_value=2**64)
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text(max_size=30)
        | st.sampled_from(
            ["2026-11-23T10:00:00Z", "2026-11-23T10:00:00+0100", "0", "", "open", "new"]
        )
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(key, inner, max_size=8),
        max_leaves=40,
    )


def module_keys(fn: Any) -> list[str]:
    source = Path(inspect.getfile(fn)).read_text(encoding="utf-8")
    return sorted(set(re.findall(r'"([A-Za-z_][A-Za-z0-9_]{1,30})"', source)))


def test_every_registered_connector_has_parsers_to_fuzz() -> None:
    kinds = {name.split(".")[0] for name, _ in PARSERS}
    assert set(KINDS) - {"demo"} <= kinds, set(KINDS) - kinds


@pytest.mark.parametrize(("name", "fn"), PARSERS, ids=[n for n, _ in PARSERS])
def test_a_parser_returns_or_raises_bad_response_for_any_input(
    name: str, fn: Any, record_property: Any
) -> None:
    record_property("fault", f"fuzzed parser {name}")
    params = inspect.signature(fn).parameters
    fuzzed = [p for p in params if p in FROM_THE_HELPDESK]
    fixed = {
        p: FROM_THE_AGENT[p] for p in params if p not in FROM_THE_HELPDESK and p in FROM_THE_AGENT
    }
    unknown = [
        p
        for p, spec in params.items()
        if p not in FROM_THE_HELPDESK and p not in FROM_THE_AGENT and spec.default is spec.empty
    ]
    assert not unknown, f"{name}: teach this test what {unknown} is"
    assert fuzzed, f"{name}: which parameter carries the helpdesk's data?"
    keys = module_keys(fn)
    data = json_values(keys)
    raw = st.binary(max_size=300) | data.map(lambda v: repr(v).encode())
    strategies = {}
    for p in fuzzed:
        # A parameter typed dict (or list) is one item the connector already checked is an
        # object (or a list): its contents are random, its own type is as promised.
        hint = str(params[p].annotation)
        if p in ("raw", "line"):
            strategies[p] = raw
        elif p == "text":
            strategies[p] = st.text(max_size=60) | data.map(str)
        elif hint.startswith("dict"):
            strategies[p] = st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), data)
        elif hint.startswith("list"):
            strategies[p] = st.lists(data, max_size=6)
        else:
            strategies[p] = data

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(st.fixed_dictionaries(strategies))
    def check(values: dict[str, Any]) -> None:
        try:
            fn(**values, **fixed)
        except (BadResponse, ALSO_RAISES.get(name, BadResponse)):
            pass

    check()


def test_a_huge_answer_is_parsed_or_refused_not_crashed() -> None:
    """10,000 items with 10,000-character strings: parsers cope with size as with shape."""
    item = {k: "x" * 10_000 for k in ("title", "subject", "name", "status", "state")}
    for name, fn in PARSERS:
        params = inspect.signature(fn).parameters
        fixed = {p: FROM_THE_AGENT[p] for p in params if p in FROM_THE_AGENT}
        for p in params:
            if p in FROM_THE_HELPDESK:
                hint = str(params[p].annotation)
                fixed[p] = item if hint.startswith("dict") else [item] * 10_000
                if p in ("raw", "line"):
                    fixed[p] = b"x" * 100_000
                if p == "text":
                    fixed[p] = "x" * 100_000
        try:
            fn(**fixed)
        except (BadResponse, ALSO_RAISES.get(name, BadResponse)):
            pass
        except Exception as exc:  # noqa: BLE001 - the point is to name the parser that broke
            pytest.fail(f"{name} raised {type(exc).__name__}: {exc}")
