"""Walks an application through the accessibility bus (AT-SPI), as a screen reader does, and
prints what it found as JSON: for each page of its window, every control that takes focus (its
role, name, the label it is labelled by, where it is on the screen), then where the focus goes
on each press of Tab, once round.

Run by tests/test_ui_access_atspi.py with the system's python3 (Debian's python3-pyatspi is
built for it): ``python3 tests/atspi_walk.py APP_NAME PAGES NEXT_KEY``: after each page's
round of Tab, NEXT_KEY (an xdotool key, e.g. ``Right`` on a tab bar, ``alt+n`` for a wizard's
Next) brings the next page. Keys are pressed with xdotool (XTEST), as a keyboard would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pyatspi  # type: ignore[import-not-found]

MOST_TABS = 80
ITEMS = (pyatspi.ROLE_LIST_ITEM, pyatspi.ROLE_TABLE_CELL, pyatspi.ROLE_MENU_ITEM)


def find_app(name: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        desktop = pyatspi.Registry.getDesktop(0)
        for app in desktop:
            if app is not None and app.name == name and app.childCount:
                return app
        time.sleep(0.2)
    raise SystemExit(f"no application {name!r} on the accessibility bus")


def walk(node: Any, depth: int = 0) -> Any:
    """``node`` and the nodes under it that are shown (not those of a page behind another)."""
    if depth and not node.getState().contains(pyatspi.STATE_SHOWING):
        return
    yield node
    if depth > 60:
        return
    for i in range(node.childCount):
        child = node.getChildAtIndex(i)
        if child is not None:
            yield from walk(child, depth + 1)


def described(node: Any) -> dict[str, Any]:
    labels = [
        target.name
        for rel in node.getRelationSet()
        if rel.getRelationType() == pyatspi.RELATION_LABELLED_BY
        for target in (rel.getTarget(i) for i in range(rel.getNTargets()))
        if target is not None
    ]
    box = node.queryComponent().getExtents(pyatspi.DESKTOP_COORDS)
    try:
        actions = node.queryAction()
        keys = [actions.getKeyBinding(i) for i in range(actions.nActions)]
    except NotImplementedError:  # a control with no actions
        keys = []
    return {
        "role": node.getRoleName(),
        "name": node.name,
        "label": labels[0] if labels else "",
        "description": node.description,
        "enabled": node.getState().contains(pyatspi.STATE_ENABLED),
        "keys": [k for k in keys if k],  # what a screen reader says as its shortcut
        "box": [box.x, box.y, box.width, box.height],
    }


def controls(app: Any) -> list[dict[str, Any]]:
    found = []
    for node in walk(app):
        states = node.getState()
        if states.contains(pyatspi.STATE_FOCUSABLE) and states.contains(pyatspi.STATE_SHOWING):
            found.append(described(node))
    return found


def focused(app: Any) -> dict[str, Any] | None:
    """The control with the keyboard focus: the innermost focused node that is not an item of
    a list (a list and its current item both say focused; Tab moves between controls)."""
    found = [n for n in walk(app) if n.getState().contains(pyatspi.STATE_FOCUSED)]
    found = [n for n in found if n.getRole() not in ITEMS]
    # a nameless pane says focused with the control it hands its focus to (a tab widget with
    # its tab bar, a chart's viewport with the chart)
    found = [n for n in found if n.getRole() != pyatspi.ROLE_FILLER or n.name]
    # the current tab of a tab bar says focused while a control of its page has the focus
    controls = [n for n in found if n.getRole() != pyatspi.ROLE_PAGE_TAB]
    return described((controls or found)[-1]) if found else None


def key(name: str) -> None:
    subprocess.run(["xdotool", "key", name], check=True)
    time.sleep(0.25)


def same(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    return a is not None and b is not None and all(a[k] == b[k] for k in ("role", "name", "box"))


def round_of_tab(app: Any) -> list[dict[str, Any] | None]:
    """Where the focus is, then after each press of Tab until it is back there (at most
    MOST_TABS presses: a control Tab cannot leave shows as the same control over and over)."""
    if focused(app) is None:
        key("Tab")
    chain = [focused(app)]
    for _ in range(MOST_TABS):
        key("Tab")
        chain.append(focused(app))
        if same(chain[-1], chain[0]):
            break
    return chain


def next_page(app: Any, before: list[dict[str, Any]], next_key: str) -> None:
    """Press ``next_key`` and wait until the controls shown are others (a wizard may test a
    connection first)."""
    key(next_key)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and controls(app) == before:
        time.sleep(0.2)
    time.sleep(0.3)  # the page's focus


def main() -> None:
    name, pages, next_key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    app = find_app(name)
    time.sleep(0.5)  # the window's first paint and focus
    found = []
    for page in range(pages):
        if page:
            next_page(app, found[-1]["controls"], next_key)
        seen = controls(app)
        found.append({"controls": seen, "chain": round_of_tab(app)})
    print(json.dumps(found))


if __name__ == "__main__":
    main()
