"""The app's own icon, drawn in code: Tama's round face (no image files to ship or license)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPen, QPixmap, QRadialGradient

SIZES = (16, 22, 32, 48, 64, 128, 256)


def face_pixmap(size: int) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    s = float(size)
    glow = QRadialGradient(QPointF(s * 0.4, s * 0.35), s * 0.6)
    glow.setColorAt(0.0, QColor("#ffe3c2"))
    glow.setColorAt(1.0, QColor("#f5b58a"))
    painter.setPen(QPen(QColor("#7a4a3a"), max(1.0, s / 32)))
    painter.setBrush(QBrush(glow))
    painter.drawEllipse(QRectF(s * 0.06, s * 0.06, s * 0.88, s * 0.88))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("#2b2230"))
    for x in (0.36, 0.64):
        painter.drawEllipse(QPointF(s * x, s * 0.46), s * 0.07, s * 0.09)
    painter.setBrush(QColor("#e66a7a"))
    painter.drawChord(QRectF(s * 0.38, s * 0.52, s * 0.24, s * 0.2), 180 * 16, 180 * 16)
    painter.end()
    return pixmap


def app_icon() -> QIcon:
    icon = QIcon()
    for size in SIZES:
        icon.addPixmap(face_pixmap(size))
    return icon
