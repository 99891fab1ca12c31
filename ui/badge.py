"""The tray icon: the bell from the SVG with the count drawn on it, in the colour of the state.

The state is decided by the agent's :class:`~agent.model.Status` (see :func:`badge_state`); this
module only draws. Every pixmap is rendered for its exact device size (``size * dpr``) from the
vector bell, so the icon is sharp on HiDPI screens, and the badge is a filled pill with a light
outline, so it reads on light and dark panels alike.
"""

from __future__ import annotations

from enum import Enum
from functools import lru_cache

from PySide6.QtCore import QByteArray, QRect, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QIcon,
    QIconEngine,
    QPainter,
    QPainterPath,
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
    BLIND = "blind"  # a source is failing or not read yet: the count is not known to be right


#: badge fill and text colour per state
COLOURS: dict[BadgeState, tuple[str, str]] = {
    BadgeState.IDLE: ("#2da44e", "#ffffff"),
    BadgeState.WAITING: ("#0969da", "#ffffff"),
    BadgeState.DUE_SOON: ("#f0b400", "#000000"),
    BadgeState.OVERDUE: ("#d1242f", "#ffffff"),
    BadgeState.BLIND: ("#8250df", "#ffffff"),
}


def badge_state(status: Status) -> BadgeState:
    if status.blind:
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


def render(count: int, state: BadgeState, size: int, dpr: float = 1.0) -> QPixmap:
    """The icon at ``size`` logical pixels for a screen with device pixel ratio ``dpr``."""
    px = max(1, round(size * dpr))
    pixmap = QPixmap(px, px)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    _bell().render(painter, QRectF(0, 0, px, px))
    text = badge_text(count, state)
    fill, ink = (QColor(c) for c in COLOURS[state])
    if text:
        _draw_pill(painter, px, text, fill, ink)
    else:  # idle: a dot in the corner says "all read, nothing waiting"
        d = px * 0.42
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#ffffff"))
        painter.drawEllipse(QRectF(px - d, px - d, d, d))
        inset = max(1.0, px * 0.05)
        painter.setBrush(fill)
        painter.drawEllipse(QRectF(px - d + inset, px - d + inset, d - 2 * inset, d - 2 * inset))
    painter.end()
    pixmap.setDevicePixelRatio(dpr)
    return pixmap


def _draw_pill(painter: QPainter, px: int, text: str, fill: QColor, ink: QColor) -> None:
    """A rounded badge in the lower right, as large as the icon allows: at 16 px the digits
    matter more than the bell."""
    height = px * (0.66 if len(text) < 3 else 0.56)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(6, round(height * 0.86)))
    font.setHintingPreference(QFont.HintingPreference.PreferFullHinting)
    metrics = QFontMetricsF(font)
    pad = height * 0.14
    width = min(float(px), max(height, metrics.horizontalAdvance(text) + 2 * pad))
    # shrink the font if "99+" would not fit the icon's width
    while metrics.horizontalAdvance(text) + 2 * pad > px and font.pixelSize() > 6:
        font.setPixelSize(font.pixelSize() - 1)
        metrics = QFontMetricsF(font)
    rect = QRectF(px - width, px - height, width, height)
    path = QPainterPath()
    radius = height / 2
    path.addRoundedRect(rect, radius, radius)
    outline = max(1.0, px / 24)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("#ffffff"))
    painter.drawPath(path)
    inner = QPainterPath()
    r2 = rect.adjusted(outline, outline, -outline, -outline)
    inner.addRoundedRect(r2, r2.height() / 2, r2.height() / 2)
    painter.setBrush(fill)
    painter.drawPath(inner)
    painter.setFont(font)
    painter.setPen(ink)
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


class _BadgeEngine(QIconEngine):
    """Draws the badge at the sizes the tray asks for, when it asks, once each.

    Rendering every common size and scale up front cost 18 renders per change of the count
    (36 at start) and kept every pixmap in memory; a tray asks for one or two.
    """

    def __init__(self, count: int, state: BadgeState) -> None:
        super().__init__()
        self.count = count
        self.state = state
        self.pixmaps: dict[tuple[int, float], QPixmap] = {}

    def scaledPixmap(
        self, size: QSize, mode: QIcon.Mode, state: QIcon.State, scale: float
    ) -> QPixmap:
        side = max(1, min(size.width(), size.height()))
        key = (side, scale)
        pixmap = self.pixmaps.get(key)
        if pixmap is None:
            pixmap = self.pixmaps[key] = render(self.count, self.state, side, scale)
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
        return _BadgeEngine(self.count, self.state)


def icon(count: int, state: BadgeState) -> QIcon:
    """The icon for ``count`` in ``state``, drawn at each tray size and scale when first asked.

    The same badge (same text and state) is the same icon: a refresh that changes nothing
    draws nothing.
    """
    text = badge_text(count, state)
    return _icon(text, state, min(count, 100) if text else 0)


@lru_cache(maxsize=2)
def _icon(text: str, state: BadgeState, drawn_count: int) -> QIcon:
    # drawn_count is a function of (text, state): it never splits the cache, only names what
    # is drawn ("99+" for any count above 99, nothing for idle)
    return QIcon(_BadgeEngine(drawn_count, state))


def status_icon(status: Status) -> QIcon:
    return icon(status.waiting, badge_state(status))
