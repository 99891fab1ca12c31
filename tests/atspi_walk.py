"""Walks an application through the accessibility bus (AT-SPI), as a screen reader does, and
prints what it found as JSON: every control that takes focus (its role, name, the label it is
labelled by, where it is on the screen), then where the focus goes on each press of Tab.

Run by tests/test_ui_access_atspi.py with the system's python3 (Debian's python3-pyatspi is
built for it): ``python3 tests/atspi_walk.py APP_NAME TABS``. Tab is pressed with xdotool
(XTEST), as a keyboard would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pyatspi  # type: ignore[import-not-found]

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
    return {
        "role": node.getRoleName(),
        "name": node.name,
        "label": labels[0] if labels else "",
        "description": node.description,
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
    # the current tab of a tab bar says focused while a control of its page has the focus
    controls = [n for n in found if n.getRole() != pyatspi.ROLE_PAGE_TAB]
    return described((controls or found)[-1]) if found else None


def main() -> None:
    name, tabs = sys.argv[1], int(sys.argv[2])
    app = find_app(name)
    time.sleep(0.5)  # the window's first paint and focus
    seen = controls(app)
    chain = [focused(app)]
    for _ in range(tabs):
        subprocess.run(["xdotool", "key", "Tab"], check=True)
        time.sleep(0.3)
        chain.append(focused(app))
    print(json.dumps({"controls": seen, "chain": chain}))


if __name__ == "__main__":
    main()
