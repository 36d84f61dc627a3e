"""Tray icons drawn with Pillow at run time, one look per :class:`TrayState`.

Each icon is drawn on a canvas eight times larger than asked and scaled down, so edges stay
smooth from 16 to 64 px; strokes are about an eighth of the icon wide, so a glyph is still
two pixels thick at 16 px. Shapes (check, arrows, dots, pause bars, cross, cloud, bar, key,
up arrow, empty circle, question mark; circle / rounded square / warning triangle / octagon /
hollow ring) tell the states apart without colour.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Final

from PIL import Image, ImageDraw

from tray.viewmodel import ICONS, Glyph, IconSpec, TrayState

SUPERSAMPLE: Final = 8
WHITE: Final = "#ffffff"

Point = tuple[float, float]


class _Pen:
    """Draws in glyph units: the glyph box is centred on (cx, cy) with half-size r."""

    def __init__(self, draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float,
                 width: float, colour: str, back: str) -> None:
        self.draw, self.cx, self.cy, self.r = draw, cx, cy, r
        self.width, self.colour, self.back = max(1, round(width)), colour, back

    def p(self, x: float, y: float) -> Point:
        return (self.cx + x * self.r, self.cy + y * self.r)

    def line(self, *points: Point, width: float | None = None, colour: str | None = None) -> None:
        w = self.width if width is None else max(1, round(width))
        xy = [self.p(x, y) for x, y in points]
        self.draw.line(xy, fill=colour or self.colour, width=w, joint="curve")
        for x, y in (xy[0], xy[-1]):  # round caps
            self.dot_px(x, y, w / 2, colour or self.colour)

    def dot_px(self, x: float, y: float, radius: float, colour: str) -> None:
        self.draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)

    def dot(self, x: float, y: float, radius: float, colour: str | None = None) -> None:
        px, py = self.p(x, y)
        self.dot_px(px, py, radius * self.r, colour or self.colour)

    def polygon(self, *points: Point, colour: str | None = None) -> None:
        self.draw.polygon([self.p(x, y) for x, y in points], fill=colour or self.colour)

    def rect(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.draw.rectangle((*self.p(x0, y0), *self.p(x1, y1)), fill=self.colour)


def _check(pen: _Pen) -> None:
    pen.line((-0.62, 0.02), (-0.18, 0.48), (0.62, -0.46))


def _arrows(pen: _Pen) -> None:
    pen.line((-0.68, -0.36), (0.4, -0.36))
    pen.polygon((0.2, -0.78), (0.78, -0.36), (0.2, 0.06))
    pen.line((0.68, 0.36), (-0.4, 0.36))
    pen.polygon((-0.2, -0.06), (-0.78, 0.36), (-0.2, 0.78))


def _dots(pen: _Pen) -> None:
    for x in (-0.6, 0.0, 0.6):
        pen.dot(x, 0.0, 0.22)


def _exclamation(pen: _Pen) -> None:
    pen.line((0.0, -0.62), (0.0, 0.22))
    pen.dot(0.0, 0.66, 0.17)


def _pause(pen: _Pen) -> None:
    pen.rect(-0.55, -0.6, -0.15, 0.6)
    pen.rect(0.15, -0.6, 0.55, 0.6)


def _cross(pen: _Pen) -> None:
    pen.line((-0.5, -0.5), (0.5, 0.5))
    pen.line((-0.5, 0.5), (0.5, -0.5))


def _cloud(pen: _Pen) -> None:
    """A plain, large cloud silhouette: no slash (it turned to mush at 24 px); the square
    orange badge says "not reachable"."""
    pen.dot(-0.5, 0.18, 0.36)
    pen.dot(0.02, -0.14, 0.5)
    pen.dot(0.52, 0.2, 0.34)
    pen.rect(-0.5, 0.18, 0.52, 0.54)


def _no_entry(pen: _Pen) -> None:
    pen.rect(-0.7, -0.2, 0.7, 0.2)


def _key(pen: _Pen) -> None:
    pen.dot(-0.45, 0.0, 0.42)
    pen.dot(-0.45, 0.0, 0.15, colour=pen.back)
    pen.line((-0.1, 0.0), (0.72, 0.0))
    pen.line((0.5, 0.0), (0.5, 0.38))
    pen.line((0.22, 0.0), (0.22, 0.3))


def _up_arrow(pen: _Pen) -> None:
    """A wide head on a short shaft: at 22 px a thin arrow read as the "!" of attention."""
    pen.line((0.0, 0.72), (0.0, 0.0), width=pen.width * 1.3)
    pen.polygon((-0.85, 0.12), (0.0, -0.8), (0.85, 0.12))


def _empty(pen: _Pen) -> None:
    cx, cy = pen.p(0.0, 0.0)
    rad = 0.5 * pen.r
    pen.draw.ellipse((cx - rad, cy - rad, cx + rad, cy + rad), outline=pen.colour,
                     width=pen.width)


def _question(pen: _Pen) -> None:
    cx, cy = pen.p(0.0, -0.3)
    rad = 0.34 * pen.r
    pen.draw.arc((cx - rad, cy - rad, cx + rad, cy + rad), 180, 90, fill=pen.colour,
                 width=pen.width)
    pen.line((0.0, 0.04), (0.0, 0.22))
    pen.dot(0.0, 0.64, 0.16)


GLYPHS: Final[dict[Glyph, Callable[[_Pen], None]]] = {
    Glyph.CHECK: _check,
    Glyph.ARROWS: _arrows,
    Glyph.DOTS: _dots,
    Glyph.EXCLAMATION: _exclamation,
    Glyph.PAUSE: _pause,
    Glyph.CROSS: _cross,
    Glyph.CLOUD: _cloud,
    Glyph.NO_ENTRY: _no_entry,
    Glyph.KEY: _key,
    Glyph.UP_ARROW: _up_arrow,
    Glyph.EMPTY: _empty,
    Glyph.QUESTION: _question,
}


def _badge(draw: ImageDraw.ImageDraw, spec: IconSpec, s: float) -> tuple[float, str, str]:
    """Draws the badge; returns the glyph centre's y and the glyph and background colours."""
    m = 0.03 * s
    if spec.shape == "square":
        draw.rounded_rectangle((m, m, s - m, s - m), radius=0.18 * s, fill=spec.fill)
        return s / 2, WHITE, spec.fill
    if spec.shape == "octagon":
        k = 0.29 * (s - 2 * m)  # the corner cut of a regular octagon
        lo, hi = m, s - m
        draw.polygon([(lo + k, lo), (hi - k, lo), (hi, lo + k), (hi, hi - k), (hi - k, hi),
                      (lo + k, hi), (lo, hi - k), (lo, lo + k)], fill=spec.fill)
        return s / 2, WHITE, spec.fill
    if spec.shape == "triangle":
        draw.polygon([(s / 2, m), (s - m, s - 2 * m), (m, s - 2 * m)], fill=spec.fill)
        return 0.63 * s, WHITE, spec.fill
    if spec.shape == "ring":
        draw.ellipse((m, m, s - m, s - m), fill=WHITE, outline=spec.fill, width=round(0.1 * s))
        return s / 2, spec.fill, WHITE
    draw.ellipse((m, m, s - m, s - m), fill=spec.fill)
    return s / 2, WHITE, spec.fill


@lru_cache(maxsize=128)
def render_icon(spec: IconSpec, size: int) -> Image.Image:
    """The icon as an RGBA image of ``size`` x ``size`` pixels (do not modify it: cached)."""
    s = size * SUPERSAMPLE
    canvas = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    cy, colour, back = _badge(draw, spec, s)
    small = spec.shape == "triangle"
    pen = _Pen(draw, s / 2, cy, (0.27 if small else 0.32) * s,
               (0.11 if small else 0.13) * s, colour, back)
    GLYPHS[spec.glyph](pen)
    return canvas.resize((size, size), Image.Resampling.LANCZOS)


def state_icon(state: TrayState, size: int = 64) -> Image.Image:
    return render_icon(ICONS[state], size)
