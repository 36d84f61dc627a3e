"""Icons: one per state, every size, told apart by shape alone (colour-blind users)."""

from __future__ import annotations

import itertools

import pytest
from PIL import Image

from tray.icons import render_icon, state_icon
from tray.viewmodel import ICONS, TrayState

SIZES = (16, 22, 24, 32, 48, 64)  # 22 and 24: GNOME/KDE panels


@pytest.mark.parametrize("size", SIZES)
def test_every_state_renders_at_every_size(size: int) -> None:
    for state in TrayState:
        icon = state_icon(state, size)
        assert icon.mode == "RGBA" and icon.size == (size, size)
        alpha = icon.getchannel("A")
        assert alpha.getextrema() == (0, 255)  # transparent corners, an opaque badge


def _shape_mask(icon: Image.Image) -> list[int]:
    """What a colour-blind user sees: badge outline and white/grey glyph, no hue."""
    grey = Image.alpha_composite(Image.new("RGBA", icon.size, "#808080"), icon).convert("L")
    alpha = icon.getchannel("A").point(lambda a: 1 if a > 128 else 0)
    light = grey.point(lambda v: 2 if v > 200 else 0)
    return [a + b for a, b in zip(alpha.tobytes(), light.tobytes(), strict=True)]


@pytest.mark.parametrize("size", [16, 22, 24, 32])
def test_states_differ_in_shape_not_only_colour(size: int) -> None:
    masks = {state: _shape_mask(state_icon(state, size)) for state in TrayState}
    for a, b in itertools.combinations(TrayState, 2):
        differing = sum(x != y for x, y in zip(masks[a], masks[b], strict=True))
        assert differing >= size // 2, f"{a} and {b} look alike at {size}px ({differing} px)"


def _badge_colour(icon: Image.Image) -> tuple[float, float, float]:
    """The mean colour of the icon's opaque, non-white pixels (the badge, not the glyph)."""
    raw = icon.tobytes()
    rgba = [tuple(raw[i:i + 4]) for i in range(0, len(raw), 4)]
    pixels = [p[:3] for p in rgba if p[3] > 200 and min(p[:3]) < 200]
    return tuple(sum(c[i] for c in pixels) / len(pixels) for i in range(3))  # type: ignore[return-value]


def test_states_differ_in_colour_too_at_16px() -> None:
    """Shape alone tells them apart (above); colour is the second cue, for everyone else."""
    colours = {state: _badge_colour(state_icon(state, 16)) for state in TrayState}
    for a, b in itertools.combinations(TrayState, 2):
        if ICONS[a].shape == "ring" or ICONS[b].shape == "ring":
            continue  # the hollow ring is white inside: its shape is the cue
        distance = sum((x - y) ** 2 for x, y in zip(colours[a], colours[b], strict=True)) ** 0.5
        assert distance >= 30, f"{a} and {b} have nearly the same colour ({distance:.0f})"


def test_cloud_unavailable_is_readable_at_24px() -> None:
    """The old crossed cloud was a smear at 24 px: the cloud is now one solid white shape,
    a good share of the badge, on a square badge no other online state uses."""
    icon = state_icon(TrayState.CLOUD_UNAVAILABLE, 24)
    mask = _shape_mask(icon)
    white = sum(v == 3 for v in mask)
    assert white >= 0.15 * 24 * 24, white
    assert ICONS[TrayState.CLOUD_UNAVAILABLE].shape == "square"


def test_glyph_survives_at_16px() -> None:
    """At the smallest size the white glyph is still a visible blob, not antialiased mush."""
    for state in TrayState:
        if ICONS[state].shape == "ring":
            continue
        mask = _shape_mask(state_icon(state, 16))
        assert sum(v == 3 for v in mask) >= 8, state


def test_icons_are_cached_and_not_redrawn() -> None:
    spec = ICONS[TrayState.IDLE]
    assert render_icon(spec, 32) is render_icon(spec, 32)


def test_the_docs_legend_has_a_row_per_state() -> None:
    from tray.preview import render_sheet

    sheet = render_sheet()
    assert sheet.height == 72 * len(TrayState) + 10
