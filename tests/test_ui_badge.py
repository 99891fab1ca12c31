"""The tray badge: digits and state colour legible at every tray size and scale."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QImage, QPixmap

from ui.badge import COLOURS, BadgeState, badge_state, badge_text, render

SIZES = (16, 22, 24, 32)
RATIOS = (1.0, 1.5, 2.0)


def pixels(pm: QPixmap) -> tuple[int, int, list[tuple[int, int, int, int]]]:
    img = pm.toImage().convertToFormat(QImage.Format.Format_RGBA8888)
    w, h = img.width(), img.height()
    raw = bytes(img.constBits())[: w * h * 4]
    return w, h, [tuple(raw[i : i + 4]) for i in range(0, len(raw), 4)]  # type: ignore[misc]


def near(p: tuple[int, int, int, int], colour: str, tol: int = 40) -> bool:
    c = QColor(colour)
    return p[3] > 200 and abs(p[0] - c.red()) + abs(p[1] - c.green()) + abs(p[2] - c.blue()) < tol


def badge_box(pm: QPixmap, state: BadgeState) -> tuple[list[tuple[int, int, int, int]], int]:
    """The pixels inside the bounding box of the state's fill colour, and the fill count."""
    w, _, px = pixels(pm)
    fill = COLOURS[state][0]
    xy = [(i % w, i // w) for i, p in enumerate(px) if near(p, fill)]
    assert xy, f"no {state.value} colour in the icon"
    x0, x1 = min(x for x, _ in xy), max(x for x, _ in xy)
    y0, y1 = min(y for _, y in xy), max(y for _, y in xy)
    box = [px[y * w + x] for y in range(y0, y1 + 1) for x in range(x0, x1 + 1)]
    return box, len(xy)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dpr", RATIOS)
@pytest.mark.parametrize(
    "state", [BadgeState.WAITING, BadgeState.DUE_SOON, BadgeState.OVERDUE, BadgeState.BLIND]
)
def test_digits_and_state_colour_at_every_size(qapp, size: int, dpr: float, state) -> None:
    pm = render(7, state, size, dpr)
    assert (pm.width(), pm.height()) == (round(size * dpr),) * 2
    assert pm.devicePixelRatio() == dpr
    box, filled = badge_box(pm, state)
    # the badge is a sizeable part of the icon, and the digit's ink is drawn inside it
    assert filled >= 0.08 * pm.width() * pm.height()
    ink = COLOURS[state][1]
    assert sum(near(p, ink, 90) for p in box) >= max(4, len(box) // 12)
    # the number itself is drawn: 7 and 4 differ, and so do 1 and 11
    assert render(4, state, size, dpr).toImage() != pm.toImage()
    assert render(11, state, size, dpr).toImage() != render(1, state, size, dpr).toImage()


@pytest.mark.parametrize("size", SIZES)
def test_above_99_reads_99_plus(qapp, size: int) -> None:
    assert badge_text(100, BadgeState.WAITING) == "99+"
    assert badge_text(99, BadgeState.WAITING) == "99"
    hundred = render(100, BadgeState.OVERDUE, size, 2.0).toImage()
    assert render(5000, BadgeState.OVERDUE, size, 2.0).toImage() == hundred
    assert render(99, BadgeState.OVERDUE, size, 2.0).toImage() != hundred


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dpr", RATIOS)
def test_cannot_see_is_distinct_and_never_a_plain_zero(qapp, size: int, dpr: float) -> None:
    assert badge_text(0, BadgeState.BLIND) == "?"
    blind = render(0, BadgeState.BLIND, size, dpr)
    badge_box(blind, BadgeState.BLIND)  # its own colour is there
    for other in (BadgeState.IDLE, BadgeState.WAITING, BadgeState.OVERDUE):
        assert render(0, other, size, dpr).toImage() != blind.toImage()
    _, _, px = pixels(blind)
    for colour in ("#2da44e", COLOURS[BadgeState.WAITING][0]):  # no "all clear", no count colour
        assert not any(near(p, colour, 20) for p in px)


def test_idle_shows_a_green_mark_and_no_number(qapp) -> None:
    assert badge_text(0, BadgeState.IDLE) == ""
    pm = render(0, BadgeState.IDLE, 32, 1.0)
    _, filled = badge_box(pm, BadgeState.IDLE)
    assert filled > 20


def test_state_follows_the_status(qapp) -> None:
    from tests.test_ui_tray import status_of, waiting

    assert badge_state(status_of([])) is BadgeState.IDLE
    assert badge_state(status_of([waiting("1", due_in=60)])) is BadgeState.WAITING
    assert badge_state(status_of([waiting("1", due_in=60, state="due_soon")])) is (
        BadgeState.DUE_SOON
    )
    assert badge_state(status_of([waiting("1", due_in=-5, state="overdue")])) is (
        BadgeState.OVERDUE
    )
    failing = status_of([waiting("1", due_in=-5, state="overdue")], failing="HTTP 503")
    assert badge_state(failing) is BadgeState.BLIND
