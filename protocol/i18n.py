"""Languages the product speaks and how a request picks one."""

from __future__ import annotations

from typing import Literal

Lang = Literal["vi", "en"]
LANGUAGES: tuple[Lang, ...] = ("vi", "en")
# Where ``officesync --lang`` (or ``OFFICESYNC_LANG``) leaves its choice in click's context
# ``meta`` for every subcommand (node, ws, hub, tray).
LANG_META_KEY = "officesync.lang"


def pick_language(accept_language: str | None, default: Lang = "vi") -> Lang:
    """Pick ``vi`` or ``en`` from an ``Accept-Language`` header, honouring q-values."""
    if not accept_language:
        return default
    best: tuple[float, Lang] | None = None
    for part in accept_language.split(","):
        fields = part.strip().split(";")
        tag = fields[0].strip().lower()
        q = 1.0
        for param in fields[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.split("-")[0]
        if primary in LANGUAGES and q > 0 and (best is None or q > best[0]):
            best = (q, primary)  # type: ignore[assignment]
    return best[1] if best else default
