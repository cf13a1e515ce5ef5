"""What every console page shares: the cookie session, CSRF and Origin checks, language, rendering.

The session cookie holds the same bearer token `/auth/token` gives a phone (a
client enrolled as "console", revoked at sign-out), so a session is exactly
as valid as the API's token, and is checked by the same `authenticate`. The
API itself never reads the cookie: it takes only `Authorization`, so a
cross-site form cannot speak to it with the browser's credentials.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import anyio
from jinja2 import Environment, PackageLoader, StrictUndefined
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException
from litestar.handlers import BaseRouteHandler
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.template import TemplateConfig

from sync import errors as E
from sync.fields import unstorable
from sync.messages import label, language, words
from sync.messages.values import GROUPS
from sync.pricing import yuan
from sync.schema import COLLECTIONS

from ...http.deps import address, is_https, remember_caller
from ...http.problems import allowed, on_http_error, sync_error_of, unexpected
from ..identity.service import Caller
from ..sheets.service import local

SESSION_COOKIE = "fieldsync_console"
LOGIN_COOKIE = "fieldsync_login"  # the sign-in form's CSRF value (double submit: no session yet)
LANG_COOKIE = "fieldsync_lang"
PATH = "/console"
MAX_FORM_FIELD_CHARS = 256  # a form value past this is refused before it is used (passwords are shorter)
# No script at all: the pages are plain forms. Inline styles only; images from this server.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
# A sheet's PDF for the session: never cached (a signature changes it), never sniffed as anything else.
PDF_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "Cache-Control": "no-store"}


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """The console's Jinja2 templates; every value is HTML-escaped unless a template says otherwise
    (none does), and an undefined name is an error, not an empty string."""
    environment = Environment(loader=PackageLoader(__package__ or "server.domains.console"),
                              autoescape=True, undefined=StrictUndefined)
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


class SignInNeeded(Exception):
    """No valid session: a page redirects to the sign-in form."""


def cookie(connection: ASGIConnection[Any, Any, Any, Any], key: str, value: str, **extra: Any) -> Cookie:
    """HttpOnly, SameSite=Lax, Secure behind https, only sent to the console's paths."""
    return Cookie(key=key, value=value, path=PATH, httponly=True, samesite="lax", secure=is_https(connection),
                  **extra)


def expired(connection: ASGIConnection[Any, Any, Any, Any], key: str) -> Cookie:
    return cookie(connection, key, "", max_age=0)


def csrf_of(token: str) -> str:
    """The session's CSRF value: derived from its token, which no other site can read (HttpOnly)."""
    return hashlib.sha256(b"fieldsync-console-csrf\0" + token.encode()).hexdigest()


def new_login_csrf() -> str:
    return secrets.token_hex(32)


def check_post(request: Request[Any, Any, Any], sent: object, expected: str | None) -> None:
    """A form post: from this site (Origin, else Referer) and carrying the right CSRF value; else 403."""
    origin = request.headers.get("origin") or request.headers.get("referer") or ""
    host = request.headers.get("host", "")
    if not host or urlsplit(origin).netloc != host:
        raise E.Forbidden("csrf: the form was not posted from this site")
    if not (expected and isinstance(sent, str) and hmac.compare_digest(sent.encode(), expected.encode())):
        raise E.Forbidden("csrf: the form's token is missing or wrong")


def check_session_post(request: Request[Any, Any, Any], data: dict[str, Any]) -> None:
    """A signed-in page's form post: `check_post` against the session's CSRF value."""
    check_post(request, data.get("csrf"), csrf_of(session_token(request) or ""))


def form_value(data: dict[str, Any], name: str, limit: int = MAX_FORM_FIELD_CHARS) -> str:
    """One form value, a string of at most `limit` characters (a note's field: its own limit)."""
    value = data.get(name, "")
    if isinstance(value, list):  # the field twice: it read "at most 256 characters", which it was
        raise E.InvalidRequest(f"{name} is given more than once", parameter=name, reason="repeated")
    if not isinstance(value, str) or len(value) > limit:
        raise E.InvalidRequest(f"{name} is at most {limit} characters", limit=limit)
    if what := unstorable(value):
        raise E.InvalidRequest(f"{name} holds {what}, which no field takes", parameter=name)
    return value


def session_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    token = connection.cookies.get(SESSION_COOKIE)
    return token if token and len(token) <= MAX_FORM_FIELD_CHARS else None


def _sign_in_check(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    token = session_token(connection)
    if token is None:
        raise SignInNeeded()
    try:
        caller: Caller = connection.app.state.store.authenticate(token, address(connection))
    except (E.Unauthorized, E.TokenExpired):
        raise SignInNeeded() from None
    return caller


async def signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """The console's first guard: the cookie's caller, then the API's own scope and role guards."""
    remember_caller(connection, await anyio.to_thread.run_sync(_sign_in_check, connection))


def lang_of(request: Request[Any, Any, Any]) -> str:
    return language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))


def people(state: Any) -> Callable[[object], str]:
    """The pages' `person(username)`: the name a user is shown by (王工, not wang), as the printed sheets
    name people (`Sheets.person`); the username of a removed or unknown user; empty for none. Each
    name is read once a page, and only when the page shows it."""
    known: dict[str, str] = {}

    def person(username: object) -> str:
        if not isinstance(username, str) or not username:
            return ""
        if username not in known:
            known[username] = state.sheets.person(username)
        return known[username]
    return person


def render(request: Request[Any, Any, Any], template: str, status: int = 200, caller: Caller | None = None,
           cookies: list[Cookie] | None = None, **context: Any) -> Response[bytes]:
    """A page in the request's language; `?lang=` also sets the language cookie."""
    lang = lang_of(request)
    cookies = list(cookies or [])
    if request.query_params.get("lang") == lang:
        cookies.append(cookie(request, LANG_COOKIE, lang, max_age=365 * 24 * 3600))
    token = session_token(request)
    engine = request.app.template_engine
    assert engine is not None  # create_app gives the app the console's templates
    html = engine.get_template(template).render(
        t=words("console", lang), label=lambda group, value: label(group, value, lang), lang=lang,
        person=people(request.app.state), caller=caller, path=request.url.path, csrf=csrf_of(token) if caller is not None and token else "", **context)
    return Response(html.encode(), status_code=status, media_type="text/html", headers=HEADERS,
                    cookies=cookies)


_MESSAGE_OF = {401: "bad_login", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 503: "unavailable"}


def on_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The console answers in HTML: a page for a problem, the sign-in form without a session."""
    if isinstance(exc, SignInNeeded):
        return Redirect(f"{PATH}/login", status_code=303, headers=HEADERS)
    assert isinstance(exc, E.SyncError)
    # A 405 or a 5xx (Litestar's own, or the storage full) read "请求有误" (bad_request): each has its words.
    # The blob store's 503 shares its status with the database's: its words go by its code.
    key = "csrf" if exc.detail.startswith("csrf:") else "storage_unavailable" if isinstance(
        exc, E.StorageUnavailable) else _MESSAGE_OF.get(exc.status, "server_error" if exc.status >= 500 else "bad_request")
    detail = refused_words(exc, words("console", lang_of(request)), request.method) if key == "bad_request" else ""
    return render(request, "error.html", exc.status, message_key=key, detail=detail, code=exc.code)


# A refused link's parameter, by the catalogue's words for it; a filter of listed values (kind, system, status)
# is `link_filter`; any other parameter `link_other`, a form `form_other`.
_LINK_WORDS = {"period": "link_period", "year": "link_year", "month": "link_month", "before": "link_page",
               "after": "link_page", "site_id": "link_site", "site": "link_site", "size": "link_size"}


def refused_words(exc: E.SyncError, t: Mapping[str, str], method: str) -> str:
    """Why a page or form was refused, in the catalogue's words. The detail is the API's English
    (`month 'x' is a month like 2026-11…`, Litestar's `Validation failed for GET …`) and read so on the
    Chinese page, the user's own text quoted in it; the code beside it names the refusal for support."""
    name = str(exc.extra.get("parameter") or ("after" if isinstance(exc, E.InvalidCursor) else ""))
    if name in _LINK_WORDS:
        return t[_LINK_WORDS[name]]
    if "valid" in exc.extra:
        return t["link_filter"]
    return t["link_other"] if method in ("GET", "HEAD") else t["form_other"]


def on_unexpected_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A console handler's own failure: logged as the API's are, and the console's 500 page, not the API's
    JSON problem shown raw in the browser (found by fixperiod)."""
    return on_error(request, unexpected(exc))


EXCEPTION_HANDLERS = {SignInNeeded: on_error, E.SyncError: on_error, Exception: on_unexpected_page}


def on_http_error_page(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's own refusals (no route for the path, a declared query parameter of the wrong type) on a
    console path: the console's page, as its handlers' refusals. They were the API's JSON problem, shown
    raw in the browser (`/console/sites/a%2Fb`, a thumbnail's `?size=x`). The API's paths keep the problem."""
    if request.url.path == PATH or request.url.path.startswith(f"{PATH}/"):
        error = sync_error_of(request, exc)
        named = [e.get("key") for e in exc.extra if isinstance(e, dict)] if isinstance(exc.extra, list) else []
        if len(named) == 1 and isinstance(named[0], str):  # Litestar's `?size=x`: its words name the parameter
            error.extra.setdefault("parameter", named[0])
        page = on_error(request, error)
        if allow := allowed(exc):
            page.headers["Allow"] = allow
        return page
    return on_http_error(request, exc)


def item_words(item: dict[str, Any], lang: str) -> str:
    """A checklist item's words in `lang` (Chinese first, its key as a last resort)."""
    return str((item["label_zh"] if lang == "zh" else None) or item["label"] or item["label_zh"] or item["key"])


def field_names(state: Any, lang: str) -> Callable[[str | None], str]:
    """What a page calls a field (a conflict-log register) in `lang`: the catalogue's words (序列号, not
    `serial_no`), a checklist item's (`item.lens_cleaned`: 镜头已擦拭) from its template; else as stored."""
    items: dict[str, str] = {}
    for found in state.sheets.checklists(None).values():
        for i in found:
            items.setdefault(i["key"], item_words(i, lang))

    def name(register: str | None) -> str:
        if not register:
            return ""
        if register.startswith("item."):
            return items.get(register[5:], register[5:])
        return label("field", register, lang)

    return name


MAX_SHOWN_VALUE = 120  # characters of a conflict's value shown (a phone may send 65,536)
ValueWords = Callable[[str, "str | None", object, object], str]
# The fields that hold a username, whatever the collection: shown as the person's name (王工, not wang).
PEOPLE = frozenset({"assigned_to", "by", "called_by", "checked_by", "decided_by", "logged_by", "on_duty",
                    "recorded_by", "retracted_by", "technician"})


def value_words(lang: str, field: Callable[[str | None], str], person: Callable[[object], str]) -> ValueWords:
    """What a page shows for a conflict-log value (`shown(collection, register, value, site_tz)`) in `lang`:
    a listed choice by the catalogue's words (`signed`: 客户已签字), a boolean 是/否 (a checklist answer too),
    a time in the site's zone, a `*_fen` amount in yuan (¥12.50), a username by the person's name
    (`person`: `people`); a group's values each after its field's name (`field`: `field_names`); a refused value too long to keep, its length; anything else as stored. Clipped to `MAX_SHOWN_VALUE` characters: a
    phone may send 65,536. The API's conflict log keeps the values as stored."""
    t = words("console", lang)

    def one(collection: str, name: str, value: object, tz: object) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return t["yes" if value else "no"]
        spec = COLLECTIONS[collection].field(name) if collection in COLLECTIONS else None
        if isinstance(value, str) and name in PEOPLE:
            return person(value)
        if isinstance(value, str) and spec is not None:
            group = GROUPS.get(f"{collection}.{name}")
            if group and value in spec.choices:
                return label(group, value, lang)
            if spec.type == "timestamp":  # one not in the protocol's form (a refused value): as stored
                return local(value, tz)
        if isinstance(value, int) and name.endswith("_fen"):
            return t["amount_yuan"].format(amount=yuan(value))
        return str(value)

    def shown(collection: str, register: str | None, value: object, tz: object) -> str:
        if isinstance(value, dict) and value.keys() == {"truncated", "length", "sha256"}:  # `batch._logged`'s
            text = t["value_truncated"].format(length=str(value["length"])[:20])
        elif isinstance(value, dict):  # a group's register (检查结果: outcome, note, checked_by, checked_at)
            text = t["value_sep"].join(t["value_pair"].format(name=field(str(k)), value=one(collection, str(k), v, tz))
                                       for k, v in value.items() if v is not None)
        else:
            text = one(collection, register or "", value, tz)
        return text if len(text) <= MAX_SHOWN_VALUE else text[:MAX_SHOWN_VALUE] + "…"

    return shown
