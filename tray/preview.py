"""Pictures of the tray for the docs, drawn from the same view-model and icons the tray uses.

``python -m tray.preview docs/img`` writes ``tray-icons.png`` (every state at 16-64 px, with
its tooltip in both languages) and ``tray-menu.png`` (the menu as the view-model builds it for
a sample status; pystray's menus are native widgets that Xvfb without GTK cannot show, so the
menu is rendered here with Pillow).
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Final

from PIL import Image, ImageDraw, ImageFont

from tray.icons import state_icon
from tray.status import parse_status
from tray.viewmodel import (
    ICONS,
    MenuEntry,
    PairingCode,
    TrayState,
    build_menu,
    state_label,
)

SIZES: Final = (16, 24, 32, 48, 64)
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


def sample_menu() -> tuple[MenuEntry, ...]:
    status = parse_status({
        "online": True, "connectivity": "online", "workstations": 4, "version": "0.1.0",
        "datasets": [
            {"id": "cty-abc", "connected": True,
             "counts": {"synced": 1200, "pending": 3, "error": 1, "conflict": 1}},
            {"id": "cty-xyz", "connected": True, "counts": {"synced": 310}},
        ],
    })
    expires = datetime(2030, 1, 1, 10, 30).astimezone()
    return build_menu(status, "vi", pairing=PairingCode("482913", expires))


def render_menu(entries: tuple[MenuEntry, ...], state: TrayState) -> Image.Image:
    """A desktop-style popup menu under a panel holding the icon."""
    font, pad, line = _font(15), 14, 28
    width = 40 + max(int(font.getlength(e.text)) for e in entries) + 2 * pad
    rows = [(e, 9 if e.separator else line) for e in entries]
    height = 40 + sum(h for _, h in rows) + 12
    image = Image.new("RGBA", (width + 40, height), "#dadce0")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width + 40, 31), fill="#202124")
    image.alpha_composite(state_icon(state, 24), (width + 8, 4))
    draw.rectangle((10, 36, 10 + width, height - 6), fill="white", outline="#9aa0a6")
    y = 42
    for entry, h in rows:
        if entry.separator:
            draw.line((18, y + 4, width + 2, y + 4), fill="#dadce0", width=1)
        else:
            colour = "#202124" if entry.enabled else "#80868b"
            if entry.checked is not None:
                box = (22, y + 8, 34, y + 20)
                draw.rectangle(box, outline=colour, width=2)
                if entry.checked:
                    draw.line((24, y + 14, 28, y + 18, 33, y + 9), fill="#1a73e8", width=3)
            text_font = _font(15) if not entry.default else _bold(15)
            draw.text((10 + pad + 30, y + 5), entry.text, font=text_font, fill=colour)
        y += h
    return image


def _bold(size: int) -> Font:
    bold = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
    return ImageFont.truetype(bold, size) if Path(bold).exists() else _font(size)


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "docs/img")
    out.mkdir(parents=True, exist_ok=True)
    render_sheet().save(out / "tray-icons.png")
    render_menu(sample_menu(), TrayState.ATTENTION).save(out / "tray-menu.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
