"""click's usage errors (unknown command, missing or unknown option, bad value) reach the user
as one line in the chosen language with the ``--help`` that helps — never click's English."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from officesync.cli import main
from officesync.usage import language_of
from tests.agent.test_cli_messages import check_language

# (arguments, a phrase of the English line, a phrase of the Vietnamese line)
CASES = [
    (["nosuch"], "There is no command 'nosuch'", "Không có lệnh 'nosuch'"),
    (["statu"], "did you mean status?", "có phải ý bạn là status?"),
    (["status"], "The option --config is required. See: officesync status --help",
     "Thiếu tùy chọn bắt buộc --config. Xem: officesync status --help"),
    (["status", "--config", "x.toml", "--bogus"], "There is no option --bogus",
     "Không có tùy chọn --bogus"),
    (["hub", "serve", "--port", "abc"], "a whole number from 0 to 65535",
     "một số nguyên từ 0 đến 65535"),
    (["ws", "list"], "DATASET is missing", "Thiếu DATASET"),
    (["ws", "pair", "--node"], "The option --node needs a value",
     "Tùy chọn --node cần một giá trị"),
    (["hub", "datset"], "did you mean dataset?", "có phải ý bạn là dataset?"),
]


@pytest.mark.parametrize(("args", "en", "vi"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_a_usage_error_is_one_line_in_the_chosen_language(
        args: list[str], en: str, vi: str) -> None:
    for lang, expected in (("en", en), ("vi", vi)):
        result = CliRunner().invoke(main, ["--lang", lang, *args], prog_name="officesync")
        shown = result.stderr.strip()
        assert result.exit_code == 2, shown
        assert expected in shown
        assert len(shown.splitlines()) == 1, shown
        assert "Usage:" not in shown and "Error:" not in shown, shown
        assert not check_language(shown.replace("--help", ""), lang), shown


def test_a_bad_lang_itself_is_worded_in_vietnamese_by_default() -> None:
    result = CliRunner().invoke(main, ["--lang", "xx", "status"], env={"OFFICESYNC_LANG": ""},
                              prog_name="officesync")
    assert result.exit_code == 2
    assert "Giá trị không hợp lệ cho --lang: phải là một trong vi, en" in result.stderr


def test_help_and_version_still_exit_zero() -> None:
    assert CliRunner().invoke(main, ["--version"]).exit_code == 0
    assert "Usage:" in CliRunner().invoke(main, ["--help"]).output


def test_the_language_is_read_before_click_parses() -> None:
    assert language_of(["ws", "--lang", "en", "list"], {}) == "en"
    assert language_of(["--lang=en"], {}) == "en"
    assert language_of(["status"], {"OFFICESYNC_LANG": "en"}) == "en"
    assert language_of(["--lang", "xx"], {}) == "vi"
