"""The language of an answer: the request's ``Accept-Language`` (``vi`` or ``en``, q-values
honoured), else the server's default, chosen once per request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from protocol.i18n import Lang, pick_language


def _vietnamese() -> Lang:
    return "vi"


@dataclass(frozen=True)
class HttpSettings:
    """What the kit needs to know about one server.

    ``language`` gives the default language at the time of the request (a node's configured
    language may change while it runs); ``api_prefix``, when set, is named in the answer to an
    unknown path (``/api/v1/``) so a person sees where the routes are.
    """

    language: Callable[[], Lang] = _vietnamese
    api_prefix: str | None = None


SETTINGS = web.AppKey("httpkit_settings", HttpSettings)
REQUEST_LANG: web.RequestKey[Lang] = web.RequestKey("httpkit_lang")
DEFAULT_SETTINGS = HttpSettings()


def configure(
    app: web.Application, *, language: Lang | Callable[[], Lang] = "vi",
    api_prefix: str | None = None,
) -> HttpSettings:
    """Store the kit's settings on ``app`` (before the app starts)."""
    default = language if callable(language) else _constant(language)
    settings = HttpSettings(language=default, api_prefix=api_prefix)
    app[SETTINGS] = settings
    return settings


def _constant(lang: Lang) -> Callable[[], Lang]:
    def default() -> Lang:
        return lang

    return default


def settings_of(app: web.Application) -> HttpSettings:
    return app.get(SETTINGS, DEFAULT_SETTINGS)


def request_lang(request: web.Request) -> Lang:
    """The message language of this request (``Accept-Language``, else the server's default),
    computed once and kept on the request."""
    if REQUEST_LANG in request:
        return request[REQUEST_LANG]
    chosen = pick_language(request.headers.get("Accept-Language"),
                           settings_of(request.app).language())
    request[REQUEST_LANG] = chosen
    return chosen
