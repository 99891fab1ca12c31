"""The tray icon: the bell from the SVG with the count drawn on it, in the colour of the state.

The state is the most urgent ticket's (see :func:`badge_state`); this module only draws. Each
state has its own shape as well as its colour, for people who do not tell red from green:
waiting is round, due soon square, overdue a hexagon pointed at both ends. A helpdesk that cannot be
read adds a small purple "?" mark in the upper left, never hiding the count or the colour of
what is known; muted sound strikes the bell through. Every pixmap is rendered for its exact
device size (``size * dpr``) from the vector bell, so the icon is sharp on HiDPI screens, and the
badge is filled with a light outline, so it reads on light and dark panels alike.
"""

from __future__ import annotations

from enum import Enum
from functools import lru_cache

from PySide6 import QtCore  # QtCore.Qt where used: its ~120 enums are made on first access
from PySide6.QtCore import QByteArray, QPointF, QRect, QRectF, QSize
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QIcon,
    QIconEngine,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
)
from PySide6.QtSvg import QSvgRenderer

import resources
from agent.model import Status

BELL_SVG = "tray-bell.svg"
SIZES = (16, 22, 24, 32, 48, 64)
RATIOS = (1.0, 1.5, 2.0)


class BadgeState(str, Enum):
    IDLE = "idle"  # every source read, nothing waiting
    WAITING = "waiting"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    BLIND = "blind"  # a source is failing or not read yet, and no ticket is known at all


#: badge fill and text colour per state
COLOURS: dict[BadgeState, tuple[str, str]] = {
    BadgeState.IDLE: ("#2da44e", "#ffffff"),
    BadgeState.WAITING: ("#0969da", "#ffffff"),
    BadgeState.DUE_SOON: ("#f0b400", "#000000"),
    BadgeState.OVERDUE: ("#d1242f", "#ffffff"),
    BadgeState.BLIND: ("#8250df", "#ffffff"),
}


def badge_state(status: Status) -> BadgeState:
    """The most urgent ticket's state; BLIND only when a helpdesk cannot be read and nothing
    is known (with tickets known, :func:`status_icon` adds the can't-see mark instead)."""
    if status.blind and not status.waiting:
        return BadgeState.BLIND
    if status.overdue:
        return BadgeState.OVERDUE
    if status.due_soon:
        return BadgeState.DUE_SOON
    if status.waiting:
        return BadgeState.WAITING
    return BadgeState.IDLE


def badge_text(count: int, state: BadgeState) -> str:
    """What the badge says: the count ("99+" above 99), "?" when blind with nothing known."""
    if state is BadgeState.BLIND and count <= 0:
        return "?"
    if state is BadgeState.IDLE or count <= 0:
        return ""
    return "99+" if count > 99 else str(count)


_renderer: QSvgRenderer | None = None


def _bell() -> QSvgRenderer:
    global _renderer
    if _renderer is None:
        data = resources.path(BELL_SVG).read_bytes()
        _renderer = QSvgRenderer(QByteArray(data))
    return _renderer


def render(
    count: int,
    state: BadgeState,
    size: int,
    dpr: float = 1.0,
    *,
    blind: bool = False,
    muted: bool = False,
) -> QPixmap:
    """The icon at ``size`` logical pixels for a screen with device pixel ratio ``dpr``;
    ``blind``: the can't-see mark; ``muted``: the bell struck through."""
    px = max(1, round(size * dpr))
    pixmap = QPixmap(px, px)
    pixmap.fill(QtCore.Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    _bell().render(painter, QRectF(0, 0, px, px))
    if muted:
        _draw_slash(painter, px)
    text = badge_text(count, state)
    fill, ink = (QColor(c) for c in COLOURS[state])
    if text:
        _draw_pill(painter, px, text, fill, ink, state)
    else:  # idle: a dot in the corner says "all read, nothing waiting"
        d = px * 0.42
        painter.setPen(QtCore.Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#ffffff"))
        painter.drawEllipse(QRectF(px - d, px - d, d, d))
        inset = max(1.0, px * 0.05)
        painter.setBrush(fill)
        painter.drawEllipse(QRectF(px - d + inset, px - d + inset, d - 2 * inset, d - 2 * inset))
    if blind and state is not BadgeState.BLIND:
        _draw_blind_mark(painter, px)
    painter.end()
    pixmap.setDevicePixelRatio(dpr)
    return pixmap


def _shape(rect: QRectF, state: BadgeState) -> QPainterPath:
    """The badge's outline: round (waiting, can't see), square (due soon), a long hexagon
    pointed at both ends (overdue: a shape of its own even at 16 px, where an octagon and a
    circle look the same)."""
    path = QPainterPath()
    h = rect.height()
    if state is BadgeState.OVERDUE:
        c = h * 0.32
        x0, y0, x1, y1 = rect.left(), rect.top(), rect.right(), rect.bottom()
        mid = rect.center().y()
        points = [(x0, mid), (x0 + c, y0), (x1 - c, y0), (x1, mid), (x1 - c, y1), (x0 + c, y1)]
        path.moveTo(*points[0])
        for point in points[1:]:
            path.lineTo(*point)
        path.closeSubpath()
    else:
        radius = h * 0.12 if state is BadgeState.DUE_SOON else h / 2
        path.addRoundedRect(rect, radius, radius)
    return path


def _draw_slash(painter: QPainter, px: int) -> None:
    """Muted: the bell struck through (a dark stroke with a light edge, for either panel)."""
    # "/" from the upper right: the one corner neither the badge nor the can't-see mark covers
    a, b = QPointF(px * 0.88, px * 0.12), QPointF(px * 0.12, px * 0.88)
    for colour, width in (("#ffffff", 0.2), ("#d1242f", 0.11)):
        pen = QPen(QColor(colour), max(1.5, px * width))
        pen.setCapStyle(QtCore.Qt.PenCapStyle.RoundCap)
        painter.setPen(pen)
        painter.drawLine(a, b)
    painter.setPen(QtCore.Qt.PenStyle.NoPen)


def _draw_blind_mark(painter: QPainter, px: int) -> None:
    """A helpdesk cannot be read: a small purple disc with "?" in the upper left."""
    d = px * 0.5
    painter.setPen(QtCore.Qt.PenStyle.NoPen)
    painter.setBrush(QColor("#ffffff"))
    painter.drawEllipse(QRectF(0, 0, d, d))
    inset = max(1.0, px / 24)
    painter.setBrush(QColor(COLOURS[BadgeState.BLIND][0]))
    painter.drawEllipse(QRectF(inset, inset, d - 2 * inset, d - 2 * inset))
    if px >= 20:
        font = QFont()
        font.setBold(True)
        font.setPixelSize(max(6, round(d * 0.8)))
        painter.setFont(font)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(QRectF(0, 0, d, d), QtCore.Qt.AlignmentFlag.AlignCenter, "?")


def _draw_pill(
    painter: QPainter, px: int, text: str, fill: QColor, ink: QColor, state: BadgeState
) -> None:
    """A rounded badge in the lower right, as large as the icon allows: at 16 px the digits
    matter more than the bell."""
    height = px * (0.66 if len(text) < 3 else 0.56)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(6, round(height * 0.86)))
    font.setHintingPreference(QFont.HintingPreference.PreferFullHinting)
    metrics = QFontMetricsF(font)
    pad = height * (0.34 if state is BadgeState.OVERDUE else 0.14)  # room for the points
    least = height * (1.3 if state is BadgeState.OVERDUE else 1.0)
    width = min(float(px), max(least, metrics.horizontalAdvance(text) + 2 * pad))
    # shrink the font if "99+" would not fit the icon's width
    while metrics.horizontalAdvance(text) + 2 * pad > px and font.pixelSize() > 6:
        font.setPixelSize(font.pixelSize() - 1)
        metrics = QFontMetricsF(font)
    rect = QRectF(px - width, px - height, width, height)
    outline = max(1.0, px / 24)
    painter.setPen(QtCore.Qt.PenStyle.NoPen)
    painter.setBrush(QColor("#ffffff"))
    painter.drawPath(_shape(rect, state))
    painter.setBrush(fill)
    painter.drawPath(_shape(rect.adjusted(outline, outline, -outline, -outline), state))
    painter.setFont(font)
    painter.setPen(ink)
    painter.drawText(rect, QtCore.Qt.AlignmentFlag.AlignCenter, text)


class _BadgeEngine(QIconEngine):
    """Draws the badge at the sizes the tray asks for, when it asks, once each.

    Rendering every common size and scale up front cost 18 renders per change of the count
    (36 at start) and kept every pixmap in memory; a tray asks for one or two.
    """

    def __init__(self, count: int, state: BadgeState, blind: bool, muted: bool) -> None:
        super().__init__()
        self.count = count
        self.state = state
        self.blind = blind
        self.muted = muted
        self.pixmaps: dict[tuple[int, float], QPixmap] = {}

    def scaledPixmap(
        self, size: QSize, mode: QIcon.Mode, state: QIcon.State, scale: float
    ) -> QPixmap:
        side = max(1, min(size.width(), size.height()))
        key = (side, scale)
        pixmap = self.pixmaps.get(key)
        if pixmap is None:
            pixmap = self.pixmaps[key] = render(
                self.count, self.state, side, scale, blind=self.blind, muted=self.muted
            )
        return pixmap

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        return self.scaledPixmap(size, mode, state, 1.0)

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        scale = painter.device().devicePixelRatioF() if painter.device() else 1.0
        painter.drawPixmap(rect, self.scaledPixmap(rect.size(), mode, state, scale))

    def availableSizes(
        self, mode: QIcon.Mode = QIcon.Mode.Normal, state: QIcon.State = QIcon.State.Off
    ) -> list[QSize]:
        return [QSize(size, size) for size in SIZES]

    def clone(self) -> QIconEngine:
        return _BadgeEngine(self.count, self.state, self.blind, self.muted)


def icon(count: int, state: BadgeState, blind: bool = False, muted: bool = False) -> QIcon:
    """The icon for ``count`` in ``state``, drawn at each tray size and scale when first asked.

    The same badge (same text and state) is the same icon: a refresh that changes nothing
    draws nothing.
    """
    text = badge_text(count, state)
    return _icon(text, state, min(count, 100) if text else 0, blind, muted)


@lru_cache(maxsize=2)
def _icon(text: str, state: BadgeState, drawn_count: int, blind: bool, muted: bool) -> QIcon:
    # drawn_count is a function of (text, state): it never splits the cache, only names what
    # is drawn ("99+" for any count above 99, nothing for idle)
    return QIcon(_BadgeEngine(drawn_count, state, blind, muted))


def status_icon(status: Status, muted: bool = False) -> QIcon:
    """The icon for ``status``: the most urgent state's badge, the can't-see mark when a
    helpdesk cannot be read, the bell struck through when the sound is ``muted``."""
    return icon(status.waiting, badge_state(status), status.blind, muted)
