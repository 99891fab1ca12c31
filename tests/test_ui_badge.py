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
    # a helpdesk that cannot be read never hides what is known to be overdue
    failing = status_of([waiting("1", due_in=-5, state="overdue")], failing="HTTP 503")
    assert badge_state(failing) is BadgeState.OVERDUE
    assert badge_state(status_of([], failing="HTTP 503")) is BadgeState.BLIND


def fill_mask(pm: QPixmap, colour: str) -> set[tuple[int, int]]:
    w, _, px = pixels(pm)
    return {(i % w, i // w) for i, p in enumerate(px) if near(p, colour)}


@pytest.mark.parametrize("size", (16, 22, 32))
@pytest.mark.parametrize("dpr", (1.0, 2.0))
def test_a_blind_source_adds_a_mark_and_keeps_the_urgent_colour(
    qapp, size: int, dpr: float
) -> None:
    """One helpdesk unreadable, tickets overdue at another: the badge stays red with its count
    and a small purple mark appears in the upper left (it used to turn all purple)."""
    plain_pm = render(3, BadgeState.OVERDUE, size, dpr)
    marked = render(3, BadgeState.OVERDUE, size, dpr, blind=True)
    red = COLOURS[BadgeState.OVERDUE][0]
    purple = COLOURS[BadgeState.BLIND][0]
    assert len(fill_mask(marked, red)) >= 0.9 * len(fill_mask(plain_pm, red))  # badge intact
    assert not fill_mask(plain_pm, purple)
    mark = fill_mask(marked, purple)
    half = marked.width() / 2
    assert len(mark) >= 0.05 * marked.width() ** 2
    assert all(x < half and y < half for x, y in mark)  # upper left, away from the count


@pytest.mark.parametrize("size", (16, 22, 32))
@pytest.mark.parametrize("dpr", (1.0, 2.0))
def test_states_differ_in_shape_not_only_in_colour(qapp, size: int, dpr: float) -> None:
    """For people who cannot tell the colours apart: waiting is round, due soon square,
    overdue pointed at both ends. Compared as shapes (where the fill is), whatever its colour."""
    states = (BadgeState.WAITING, BadgeState.DUE_SOON, BadgeState.OVERDUE)
    masks = {s: fill_mask(render(7, s, size, dpr), COLOURS[s][0]) for s in states}
    for a in states:
        for b in states:
            if a is not b:
                differ = len(masks[a] ^ masks[b])
                assert differ >= 0.08 * len(masks[a]), (a, b, differ)
    # the square's corners are filled; the round and the pointed badges' are not
    corners = {s: _corner_fill(masks[s]) for s in states}
    assert corners[BadgeState.DUE_SOON] > 2 * max(
        corners[BadgeState.WAITING], corners[BadgeState.OVERDUE]
    )


def _corner_fill(mask: set[tuple[int, int]]) -> int:
    """Filled pixels in the corner squares (a fifth of the side) of the mask's bounding box."""
    x0, x1 = min(x for x, _ in mask), max(x for x, _ in mask)
    y0, y1 = min(y for _, y in mask), max(y for _, y in mask)
    k = max(1, (x1 - x0) // 5)
    near_x = lambda x: x - x0 < k or x1 - x < k  # noqa: E731
    near_y = lambda y: y - y0 < k or y1 - y < k  # noqa: E731
    return sum(1 for x, y in mask if near_x(x) and near_y(y))


@pytest.mark.parametrize("state", [BadgeState.IDLE, BadgeState.WAITING, BadgeState.OVERDUE])
@pytest.mark.parametrize("blind", [False, True])
def test_muted_strikes_the_bell_through(qapp, state: BadgeState, blind: bool) -> None:
    loud = render(22, state, 32, 1.0, blind=blind)
    muted = render(22, state, 32, 1.0, blind=blind, muted=True)
    assert muted.toImage() != loud.toImage()
    # the stroke crosses the bell's upper right, which neither the badge nor the mark covers
    stroke = fill_mask(muted, "#d1242f") - fill_mask(loud, "#d1242f")
    assert sum(1 for x, y in stroke if x >= 16 and y < 16) >= 20


def test_the_tray_icon_follows_mute_and_blindness(qapp) -> None:
    from tests.test_ui_tray import status_of, waiting
    from ui.badge import status_icon

    status = status_of([waiting("1", due_in=-5, state="overdue")], failing="HTTP 503")
    images = {
        (muted,): status_icon(status, muted).pixmap(32, 32).toImage() for muted in (False, True)
    }
    assert images[(False,)] != images[(True,)]
    shown = status_icon(status).pixmap(32, 32)
    assert fill_mask(shown, COLOURS[BadgeState.OVERDUE][0])
    assert fill_mask(shown, COLOURS[BadgeState.BLIND][0])


def test_the_app_icon_is_the_tray_icon(qapp) -> None:
    """The app's icon (window, launcher, package) and the tray's bell are one picture: they
    differed (a blue tile with a red dot against the tray's dark bell)."""
    from PySide6.QtCore import QByteArray, QRectF, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    import resources

    def draw(name: str) -> QImage:
        image = QImage(64, 64, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        QSvgRenderer(QByteArray(resources.path(name).read_bytes())).render(
            painter, QRectF(0, 0, 64, 64)
        )
        painter.end()
        return image

    assert draw("ticketbell.svg") == draw("tray-bell.svg")
