"""Languages the product speaks, how a request picks one, and :class:`Text` — every
bilingual message or label of the product."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

Lang = Literal["vi", "en"]
LANGUAGES: tuple[Lang, ...] = ("vi", "en")
# Where ``officesync --lang`` (or ``OFFICESYNC_LANG``) leaves its choice in click's context
# ``meta`` for every subcommand (node, ws, hub, tray).
LANG_META_KEY = "officesync.lang"


def as_lang(value: object) -> Lang | None:
    """``value`` as a language of the product, or None when it is not one."""
    return next((lang for lang in LANGUAGES if lang == value), None)


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
            best = (q, primary)
    return best[1] if best else default


class _Blank(dict[str, Any]):
    """Format values where a missing parameter reads ``?`` (never a ``KeyError``)."""

    def __missing__(self, key: str) -> str:
        return "?"


def _in(lang: Lang, value: Any) -> Any:
    """``value`` as it reads in ``lang``: a :class:`Text` or a ``{"vi", "en"}`` dict picks its
    language; anything else is itself."""
    if isinstance(value, Text):
        return value.get(lang)
    if isinstance(value, dict) and "vi" in value:
        return value.get(lang, value.get("en"))
    return value


@dataclass(frozen=True, slots=True)
class Text:
    """A sentence (or a label) in Vietnamese and in English — the one shape of bilingual text.

    ``text.get(lang)`` (or ``text(lang)``) picks a language; ``format`` fills placeholders in
    both languages and returns a :class:`Text` (a parameter that is itself a :class:`Text`
    or a ``{"vi", "en"}`` dict is filled per language). On the wire it is ``{"vi": …, "en":
    …}``: :meth:`as_dict`, orjson (a dataclass) and pydantic fields all write that shape.
    """

    vi: str
    en: str

    def get(self, lang: str) -> str:
        """The text in ``lang`` (English for any language other than Vietnamese)."""
        return self.vi if lang == "vi" else self.en

    def __call__(self, lang: str) -> str:
        """``text(lang)``, the same as :meth:`get`."""
        return self.get(lang)

    def __getitem__(self, lang: str) -> str:
        """``text["vi"]`` / ``text["en"]``, as on the wire dict (``KeyError`` otherwise)."""
        if lang not in LANGUAGES:
            raise KeyError(lang)
        return self.get(lang)

    def __iter__(self) -> Iterator[str]:
        """Unpacks as ``vi, en = text``."""
        return iter((self.vi, self.en))

    def format(self, **params: Any) -> Text:
        """Both languages with ``{placeholders}`` filled (missing ones read ``?``)."""
        return self.format_map(params)

    def format_map(self, params: Mapping[str, Any], missing: type[dict[str, Any]] = _Blank,
                   ) -> Text:
        """Like :meth:`format`; ``missing`` is the mapping type that answers an absent key."""
        return Text(
            self.vi.format_map(missing({k: _in("vi", v) for k, v in params.items()})),
            self.en.format_map(missing({k: _in("en", v) for k, v in params.items()})),
        )

    def map(self, change: Callable[[str], str]) -> Text:
        """``change`` applied to both languages (e.g. ``str.lower``)."""
        return Text(change(self.vi), change(self.en))

    def __add__(self, other: Text | str) -> Text:
        tail = other if isinstance(other, Text) else Text(other, other)
        return Text(self.vi + tail.vi, self.en + tail.en)

    def as_dict(self) -> dict[str, str]:
        """The wire shape: ``{"vi": …, "en": …}``."""
        return {"vi": self.vi, "en": self.en}

    @classmethod
    def of(cls, value: Text | Mapping[str, str] | tuple[str, str] | str) -> Text:
        """A :class:`Text` from its wire dict, a ``(vi, en)`` pair or one text for both."""
        if isinstance(value, Text):
            return value
        if isinstance(value, str):
            return cls(value, value)
        if isinstance(value, tuple):
            return cls(value[0], value[1])
        return cls(str(value["vi"]), str(value["en"]))

    @classmethod
    def join(cls, separator: Text | str, texts: Iterable[Text]) -> Text:
        """``texts`` joined per language with ``separator``."""
        sep = cls.of(separator)
        items = list(texts)
        return cls(sep.vi.join(t.vi for t in items), sep.en.join(t.en for t in items))

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler,
                                     ) -> core_schema.CoreSchema:
        """In a pydantic model: read from ``{"vi", "en"}`` (or a Text), dump to that dict."""
        from_dict = core_schema.no_info_after_validator_function(
            cls.of, core_schema.typed_dict_schema({
                "vi": core_schema.typed_dict_field(core_schema.str_schema()),
                "en": core_schema.typed_dict_field(core_schema.str_schema()),
            }))
        return core_schema.json_or_python_schema(
            json_schema=from_dict,
            python_schema=core_schema.union_schema(
                [core_schema.is_instance_schema(cls), from_dict]),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda t: t.as_dict()),
        )


def local_clock(instant: dt.datetime | str) -> str:
    """A moment as the clock on this machine's wall shows it (``HH:MM`` in the local time
    zone): ``2026-12-02T04:40:31Z`` on a machine in Hanoi is ``11:40``. A text that is not an
    ISO time is given back as it is."""
    if isinstance(instant, dt.datetime):
        return instant.astimezone().strftime("%H:%M")
    try:
        moment = dt.datetime.fromisoformat(instant.replace("Z", "+00:00"))
    except ValueError:
        return instant
    return moment.astimezone().strftime("%H:%M")
