"""The icon legend for the docs, drawn from the same view-model and icons the tray uses.

``python -m tray.preview docs/img`` writes ``tray-icons.png`` (every state at 16-64 px on
light and dark panels, with its label in both languages). The menu picture,
``tray-menu.png``, is a screenshot of the real GTK menu taken by the smoke test
(``OFFICESYNC_TRAY_SCREENSHOT_DIR=docs/img pytest tests/tray/test_smoke.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

from PIL import Image, ImageDraw, ImageFont

from tray.icons import state_icon
from tray.viewmodel import ICONS, TrayState, state_label

SIZES: Final = (16, 22, 24, 32, 48, 64)
FONT_PATHS: Final = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "C:/Windows/Fonts/segoeui.ttf",
)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _font(size: int) -> Font:
    for path in FONT_PATHS:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def render_sheet() -> Image.Image:
    """Every state: icons at each size on light and dark panels, glyph and both labels."""
    row, icons_w = 72, sum(s + 12 for s in SIZES)
    sheet = Image.new("RGBA", (icons_w * 2 + 560, row * len(TrayState) + 10), "white")
    draw = ImageDraw.Draw(sheet)
    font, small = _font(15), _font(12)
    for i, state in enumerate(TrayState):
        y = 5 + i * row
        for j, panel in enumerate(("#f1f3f4", "#202124")):
            draw.rectangle((j * icons_w, y, (j + 1) * icons_w - 6, y + row - 6), fill=panel)
            x = j * icons_w + 6
            for size in SIZES:
                sheet.alpha_composite(state_icon(state, size), (x, y + (row - 6 - size) // 2))
                x += size + 12
        tx = icons_w * 2 + 10
        draw.text((tx, y + 6), state_label(state, "vi"), font=font, fill="#202124")
        draw.text((tx, y + 26), state_label(state, "en"), font=font, fill="#5f6368")
        draw.text((tx, y + 46), f"{state.value} · {ICONS[state].glyph.value}", font=small,
                  fill="#80868b")
    return sheet


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "docs/img")
    out.mkdir(parents=True, exist_ok=True)
    render_sheet().save(out / "tray-icons.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
