"""``protocol.i18n.Text``: the one shape of bilingual text, and the rule that nothing else
picks a language by hand."""

from __future__ import annotations

import json
import re
from pathlib import Path

import orjson
import pytest
from pydantic import BaseModel, ValidationError

from protocol.connectivity import CONNECTIVITY_MESSAGES, Connectivity
from protocol.errors import MESSAGES, ErrorCode, ProtocolError, messages, render
from protocol.i18n import Text

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("agent", "hub", "protocol", "tray", "officesync", "workstation", "httpkit")
# A language picked by hand: `vi if lang == "vi" else en`, `0 if say == "vi" else 1`, …
HAND_PICKED = re.compile(r'if\s+\w+\s*==\s*"vi"|==\s*"vi"\s+else\b')


def test_get_and_call_pick_the_language_english_for_any_other() -> None:
    text = Text("Xin chào", "Hello")
    assert (text.get("vi"), text.get("en"), text("vi"), text("en")) == (
        "Xin chào", "Hello", "Xin chào", "Hello")
    assert text.get("fr") == "Hello"


def test_format_fills_both_languages_and_returns_a_text() -> None:
    template = Text("Đã lưu {count} bản ghi {label}", "Saved {count} {label} records")
    label = Text("khách hàng", "customer")
    filled = template.format(count=3, label=label)
    assert filled == Text("Đã lưu 3 bản ghi khách hàng", "Saved 3 customer records")
    # a wire dict as a parameter is filled per language too
    assert template.format(count=1, label={"vi": "vật tư", "en": "item"}).en == (
        "Saved 1 item records")


def test_format_reads_a_missing_parameter_as_a_question_mark_and_keeps_escapes() -> None:
    assert Text("{a} và {b} {{…}}", "{a} and {b} {{…}}").format(a=1) == Text(
        "1 và ? {…}", "1 and ? {…}")


def test_format_map_takes_the_mapping_type_that_answers_a_missing_key() -> None:
    class Empty(dict[str, object]):
        def __missing__(self, key: str) -> str:
            return ""

    assert Text("Không thấy{hint}", "Not found.{hint}").format_map({}, Empty) == Text(
        "Không thấy", "Not found.")


def test_add_map_join_and_unpacking() -> None:
    label = Text("Số tiền", "Amount") + Text(" (dòng 1)", " (line 1)")
    assert label == Text("Số tiền (dòng 1)", "Amount (line 1)")
    assert (Text("A", "B") + "!") == Text("A!", "B!")
    assert Text("Khách Hàng", "Customer").map(str.lower) == Text("khách hàng", "customer")
    assert Text.join("; ", [Text("a", "b"), Text("c", "d")]) == Text("a; c", "b; d")
    vi, en = Text("một", "one")
    assert (vi, en) == ("một", "one")


def test_text_is_frozen_and_hashable() -> None:
    text = Text("a", "b")
    with pytest.raises(AttributeError):
        text.vi = "c"  # type: ignore[misc]
    assert {text: 1}[Text("a", "b")] == 1


def test_of_accepts_every_old_shape() -> None:
    expected = Text("Tên", "Name")
    assert Text.of(expected) is expected
    assert Text.of(("Tên", "Name")) == expected
    assert Text.of({"vi": "Tên", "en": "Name"}) == expected
    assert Text.of("id") == Text("id", "id")


def test_the_wire_shape_is_a_vi_en_object_everywhere() -> None:
    text = Text("Xin chào", "Hello")
    wire = {"vi": "Xin chào", "en": "Hello"}
    assert text.as_dict() == wire
    assert orjson.loads(orjson.dumps({"m": text})) == {"m": wire}

    class Body(BaseModel):
        message: Text

    body = Body(message=text)
    assert body.model_dump() == {"message": wire}
    assert json.loads(body.model_dump_json()) == {"message": wire}
    assert Body.model_validate({"message": wire}).message == text
    assert Body.model_validate_json(json.dumps({"message": wire})).message == text
    with pytest.raises(ValidationError):
        Body.model_validate({"message": {"vi": "chỉ tiếng Việt"}})


def test_every_catalogue_entry_is_a_text_in_both_languages() -> None:
    for catalogue in (MESSAGES, CONNECTIVITY_MESSAGES):
        for value in catalogue.values():
            assert isinstance(value, Text) and value.vi and value.en and value.vi != value.en


def test_error_messages_keep_their_shapes() -> None:
    label = Text("Khách hàng", "Customer")
    params = {"label": label, "key": "KH001"}
    assert render(ErrorCode.DUPLICATE_KEY, "vi", params) == (
        "Khách hàng KH001 đã tồn tại. Vui lòng kiểm tra lại")
    assert messages(ErrorCode.DUPLICATE_KEY, params) == {
        "vi": "Khách hàng KH001 đã tồn tại. Vui lòng kiểm tra lại",
        "en": "Customer KH001 already exists. Please check again.",
    }
    # a Text parameter is kept in its wire shape, so params stay plain JSON
    err = ProtocolError(ErrorCode.DUPLICATE_KEY, params)
    assert err.params["label"] == {"vi": "Khách hàng", "en": "Customer"}
    assert json.loads(json.dumps(err.params))["label"]["en"] == "Customer"
    assert Connectivity.ONLINE.messages() == CONNECTIVITY_MESSAGES[Connectivity.ONLINE].as_dict()


def _python_files() -> list[Path]:
    found = [p for pkg in PACKAGES if (ROOT / pkg).is_dir() for p in (ROOT / pkg).rglob("*.py")]
    return [p for p in found if p != ROOT / "protocol" / "i18n.py"]


def test_the_pattern_finds_what_it_must() -> None:
    for line in ('    return vi if lang == "vi" else en',
                 '    index = 0 if say == "vi" else 1',
                 '    return (vi if lang == "vi" else en).format(**params)',
                 '    if lang == "vi":'):
        assert HAND_PICKED.search(line), line
    assert not HAND_PICKED.search('    ws = f"{run} ws --lang en" if lang == "en" else ""')


def test_no_module_picks_a_language_by_hand() -> None:
    files = _python_files()
    assert len(files) > 50  # the scan sees the tree
    offenders = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
                 for path in files
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if HAND_PICKED.search(line)]
    assert offenders == [], "use protocol.i18n.Text.get(lang):\n" + "\n".join(offenders)


def test_subscript_reads_like_the_wire_dict() -> None:
    text = Text("Xin chào", "Hello")
    assert (text["vi"], text["en"]) == ("Xin chào", "Hello")
    with pytest.raises(KeyError):
        text["fr"]
