"""Strict text, number and date values shared by the node and the hub.

Codes (the keys accountants type: ``KH001``, ``111``, ``PT000001``) are normalised before they
are stored or compared: Unicode NFKC (full-width ``ＫＨ００１`` becomes ``KH001``), trimmed,
upper-cased (``kh001`` is ``KH001``); invisible and control characters are refused, never
silently kept (``KH001`` + a zero-width space would look like ``KH001`` on every screen).

Amounts, quantities and prices are integers or decimal strings (ASCII digits, an optional
decimal point, at most :data:`MAX_DECIMALS` decimals) up to :data:`MAX_NUMBER` (2^53 − 1, the
largest integer every JSON reader keeps exactly); booleans, JSON floats, exponents and
full-width digits are refused. Dates are ``YYYY-MM-DD`` and nothing else.

The validators raise :class:`pydantic_core.PydanticCustomError` with types of our own;
:mod:`protocol.wording` turns them into sentences in Vietnamese and English.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal
from typing import Any

from pydantic_core import PydanticCustomError

MAX_NUMBER = 2**53 - 1
MAX_DECIMALS = 6
# Unicode categories never allowed in a value a person types on one line: controls (Cc, e.g.
# NUL), format characters (Cf: zero-width space, BOM, bidi marks, soft hyphen), surrogates,
# private use, unassigned code points and line/paragraph separators.
_REFUSED = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_MULTILINE_OK = frozenset("\n\r\t")
_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def refused_chars(value: str, *, multiline: bool = False) -> list[str]:
    """The invisible or control characters of ``value``, as ``U+200B`` (each once, in order)."""
    if value.isprintable():
        # str.isprintable() is False for every refused category (and for spaces other than
        # U+0020): the common case needs no per-character loop.
        return []
    found: list[str] = []
    for char in value:
        if multiline and char in _MULTILINE_OK:
            continue
        if unicodedata.category(char) in _REFUSED:
            name = f"U+{ord(char):04X}"
            if name not in found:
                found.append(name)
    return found


def _refuse_invisible(value: str, *, multiline: bool = False) -> None:
    bad = refused_chars(value, multiline=multiline)
    if bad:
        raise PydanticCustomError("text_invisible", "invisible characters", {"chars": bad})


def _nfkc(value: str) -> str:
    return value if value.isascii() else unicodedata.normalize("NFKC", value)


def _nfc(value: str) -> str:
    return value if value.isascii() else unicodedata.normalize("NFC", value)


# The form of the keys ``fold_code`` makes, numbered: a hub stores its records' keys in it and
# says which form its snapshot's keys are in; a node takes them as they come only in its own
# form (it folds each record's key itself otherwise). A change of ``fold_code`` is a new form.
KEY_FORM = "1"  # codes NFKC, trimmed, upper-cased, invisible characters dropped


def fold_code(value: str) -> str:
    """The comparison form of a code, never raising: NFKC, invisible characters dropped,
    trimmed, upper-cased. Used for keys already stored and for search input."""
    text = _nfkc(value)
    if not text.isprintable():
        text = "".join(c for c in text if unicodedata.category(c) not in _REFUSED)
    return text.strip().upper()


def code_value(value: Any) -> Any:
    """Validator of a code: normalised as :func:`fold_code`, invisible characters refused."""
    if not isinstance(value, str):
        return value  # the str validator that follows reports the wrong type
    text = _nfkc(value).strip()
    _refuse_invisible(text)
    return text.upper()


def line_value(value: Any) -> Any:
    """Validator of one-line text (names, phone numbers): NFC, trimmed, no invisible chars."""
    if not isinstance(value, str):
        return value
    text = _nfc(value).strip()
    _refuse_invisible(text)
    return text


def text_value(value: Any) -> Any:
    """Validator of free text (addresses, descriptions): as :func:`line_value`, new lines and
    tabs allowed."""
    if not isinstance(value, str):
        return value
    text = _nfc(value).strip()
    _refuse_invisible(text, multiline=True)
    return text


def _number(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise PydanticCustomError("number_bool", "a boolean is not a number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        text = value.strip()
        if "." in text and len(text.split(".", 1)[1]) > MAX_DECIMALS:
            raise PydanticCustomError("number_decimals", "too many decimals",
                                      {"places": MAX_DECIMALS})
        return Decimal(text)
    raise PydanticCustomError("number_format", "not an integer or a decimal string",
                              {"places": MAX_DECIMALS})


def _bounded(value: Any, number: Decimal) -> Any:
    if number > MAX_NUMBER:
        raise PydanticCustomError("number_too_large", "too large", {"max": MAX_NUMBER})
    return value.strip() if isinstance(value, str) else value


def amount_value(value: Any) -> Any:
    """Validator of an amount: an integer or decimal string, 0 < amount ≤ 2^53 − 1."""
    number = _number(value)
    if number <= 0:
        raise PydanticCustomError("number_not_positive", "must be greater than 0")
    return _bounded(value, number)


def quantity_value(value: Any) -> Any:
    """Validator of a quantity or price: an integer or decimal string, 0 ≤ value ≤ 2^53 − 1."""
    number = _number(value)
    if number < 0:
        raise PydanticCustomError("number_negative", "negative")
    return _bounded(value, number)


def date_value(value: Any) -> str:
    """Validator of a date: exactly ``YYYY-MM-DD`` (ASCII digits) and a real calendar day."""
    if not isinstance(value, str) or not _DATE.fullmatch(value.strip()):
        raise PydanticCustomError("date_format", "not YYYY-MM-DD")
    text = value.strip()
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise PydanticCustomError("date_invalid", "not a calendar day",
                                  {"input": text}) from None
