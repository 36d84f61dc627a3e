"""Command-line usage errors (an unknown command, a missing or unknown option, a bad value) in
the user's language. click words these in English ("No such command 'x'.", "Missing option
'--config'."); here each kind becomes one line in Vietnamese or English with the one step that
helps (the right ``--help``). Pure: no I/O; :func:`usage_message` is tested for every kind.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence

import click

from protocol.i18n import Lang, Text

LANG_ENV = "OFFICESYNC_LANG"

_TYPE_NAMES: dict[str, Text] = {
    "integer": Text("một số nguyên", "a whole number"),
    "float": Text("một số", "a number"),
    "boolean": Text("true hoặc false", "true or false"),
    "path": Text("một đường dẫn", "a path"),
    "file": Text("một tệp", "a file"),
    "text": Text("một chuỗi ký tự", "some text"),
}

_TEXTS: dict[str, Text] = {
    "no_command": Text("Không có lệnh '{name}'. Các lệnh có: {names}",
                       "There is no command '{name}'. The commands are: {names}"),
    "no_option": Text("Không có tùy chọn {name}{close}", "There is no option {name}{close}"),
    "close": Text(" (có phải ý bạn là {names}?)", " (did you mean {names}?)"),
    "missing_option": Text("Thiếu tùy chọn bắt buộc {name}", "The option {name} is required"),
    "missing_argument": Text("Thiếu {name}", "{name} is missing"),
    "option_value": Text("Tùy chọn {name} cần một giá trị", "The option {name} needs a value"),
    "bad_value": Text("Giá trị không hợp lệ cho {name}: phải là {expected}",
                      "Invalid value for {name}: it must be {expected}"),
    "bad_value_plain": Text("Giá trị không hợp lệ cho {name}", "Invalid value for {name}"),
    "one_of": Text("một trong {choices}", "one of {choices}"),
    "range": Text("{kind} từ {low} đến {high}", "{kind} from {low} to {high}"),
    "at_least": Text("{kind} từ {low} trở lên", "{kind} of at least {low}"),
    "extra": Text("Thừa đối số {args}", "Unexpected extra argument {args}"),
    "other": Text("Lệnh không đúng cách dùng", "The command is not used the right way"),
    "help": Text("Xem: {command} --help", "See: {command} --help"),
}


def language_of(argv: Sequence[str], environ: dict[str, str] | None = None) -> Lang:
    """The language asked for on the command line (``--lang vi|en`` anywhere, or
    ``--lang=…``), else ``OFFICESYNC_LANG``, else Vietnamese — read before click parses, since
    the error may be in the parsing itself."""
    env = os.environ if environ is None else environ
    for i, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--lang=") else (
            argv[i + 1] if arg == "--lang" and i + 1 < len(argv) else None)
        if value in ("vi", "en"):
            return "en" if value == "en" else "vi"
    return "en" if env.get(LANG_ENV) == "en" else "vi"


def _param_name(param: click.Parameter | None) -> str:
    if param is None:
        return "?"
    if isinstance(param, click.Option):
        return max(param.opts, key=len)
    return (param.human_readable_name or param.name or "?").upper()


def _expected(param_type: click.ParamType[object], lang: Lang) -> str | None:
    """What a value of ``param_type`` must be, in words, or ``None`` when we cannot say."""
    if isinstance(param_type, click.Choice):
        return _TEXTS["one_of"].format(choices=", ".join(map(str, param_type.choices))).get(lang)
    if isinstance(param_type, click.IntRange | click.FloatRange):
        kind = _TYPE_NAMES["integer" if isinstance(param_type, click.IntRange) else "float"]
        low, high = param_type.min, param_type.max
        if low is not None and high is not None:
            return _TEXTS["range"].format(kind=kind, low=low, high=high).get(lang)
        if low is not None:
            return _TEXTS["at_least"].format(kind=kind, low=low).get(lang)
        return kind.get(lang)
    name = getattr(param_type, "name", "")
    found = _TYPE_NAMES.get(name)
    return found.get(lang) if found else None


def _describe(err: click.UsageError, lang: Lang) -> str:
    if isinstance(err, click.exceptions.NoSuchCommand):
        group = err.ctx.command if err.ctx else None
        known = group.list_commands(err.ctx) \
            if isinstance(group, click.Group) and err.ctx is not None else []
        said = _TEXTS["no_command"].format(name=err.command_name,
                                           names=", ".join(known) or "-").get(lang)
        near = list(err.possibilities or difflib.get_close_matches(err.command_name, known))
        return said + (_TEXTS["close"].format(names=", ".join(near)).get(lang) if near else "")
    if isinstance(err, click.NoSuchOption):
        close = _TEXTS["close"].format(names=", ".join(err.possibilities)).get(lang) \
            if err.possibilities else ""
        return _TEXTS["no_option"].format(name=err.option_name, close=close).get(lang)
    if isinstance(err, click.MissingParameter):
        key = "missing_option" if isinstance(err.param, click.Option) else "missing_argument"
        return _TEXTS[key].format(name=_param_name(err.param)).get(lang)
    if isinstance(err, click.BadOptionUsage):
        return _TEXTS["option_value"].format(name=err.option_name).get(lang)
    if isinstance(err, click.BadParameter):
        name = _param_name(err.param)
        expected = _expected(err.param.type, lang) if err.param is not None else None
        if expected:
            return _TEXTS["bad_value"].format(name=name, expected=expected).get(lang)
        return _TEXTS["bad_value_plain"].format(name=name).get(lang)
    message = err.format_message()
    if message.startswith("Got unexpected extra argument"):
        args = message[message.find("(") + 1:message.rfind(")")]
        return _TEXTS["extra"].format(args=args).get(lang)
    return _TEXTS["other"].get(lang)


def usage_message(err: click.UsageError, lang: Lang) -> str:
    """One line: what is wrong, then where to read how the command is used."""
    command = err.ctx.command_path if err.ctx is not None else "officesync"
    return f"{_describe(err, lang)}. {_TEXTS['help'].format(command=command).get(lang)}"
