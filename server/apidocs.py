"""The API docs page at `/schema`: plain HTML made from the OpenAPI description, with no outside requests.

Litestar's viewers load their scripts from CDNs and fonts from Google, so they
render neither offline nor in mainland China (issue 10). This page is made on
the server from the same description as `/schema/openapi.json`: no script, no
font, no image, nothing fetched from anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from litestar import Request, Response, Router, get
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin
from litestar.response import Redirect

_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
_STYLE = """<style>
body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem 2rem; color: #222 }
h2 { border-bottom: 1px solid #ccc; margin-top: 2.5rem } h3 { margin: 2rem 0 .25rem; font-family: monospace }
.method { display: inline-block; min-width: 4.5rem; color: #fff; background: #456; padding: 0 .4rem }
table { border-collapse: collapse; margin: .5rem 0 } td, th { border: 1px solid #ddd; padding: .2rem .5rem;
text-align: left; vertical-align: top } code { font-size: 90% } .doc { white-space: pre-line }
</style>"""


def _type(schema: dict[str, Any]) -> str:
    """A schema as a short type name, a reference linked to its section below."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{escape(name)}">{escape(name)}</a>'
    for union in ("oneOf", "anyOf"):
        if union in schema:
            return " | ".join(_type(s) for s in schema[union])
    if "enum" in schema:
        return " | ".join(f"<code>{escape(repr(v))}</code>" for v in schema["enum"])
    if schema.get("type") == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if schema.get("type") == "object" and "additionalProperties" in schema:
        extra = schema["additionalProperties"]
        return f"object of {_type(extra) if isinstance(extra, dict) else 'any'}"
    kind = schema.get("type", "any")
    return escape(" | ".join(kind) if isinstance(kind, list) else str(kind))


def _table(head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    if not rows:
        return ""
    cells = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + f"</tr>{cells}</table>"


def _operation(method: str, path: str, op: dict[str, Any]) -> str:
    params = [(f"<code>{escape(p['name'])}</code>", escape(p.get("in", "")), "yes" if p.get("required") else "",
               _type(p.get("schema", {}))) for p in op.get("parameters", [])]
    body = ""
    for media, content in op.get("requestBody", {}).get("content", {}).items():
        body += f"<p>Body ({escape(media)}): {_type(content.get('schema', {}))}</p>"
    responses = []
    for status, answer in op.get("responses", {}).items():
        types = ", ".join(f"{_type(c.get('schema', {}))} ({escape(m)})" for m, c in answer.get("content", {}).items())
        responses.append((escape(status), escape(answer.get("description", "")), types))
    return (
        f'<h3><span class="method">{method.upper()}</span> {escape(path)}</h3>'
        f"<p><b>{escape(op.get('summary', ''))}</b></p><p class=\"doc\">{escape(op.get('description', ''))}</p>"
        + _table(("parameter", "in", "required", "type"), params) + body
        + _table(("status", "meaning", "body"), responses)
    )


def _schema(name: str, schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = [(f"<code>{escape(field)}</code>", _type(s), "yes" if field in required else "")
            for field, s in schema.get("properties", {}).items()]
    return (f'<h3 id="schema-{escape(name)}">{escape(name)}</h3>'
            f"<p class=\"doc\">{escape(schema.get('description', ''))}</p>"
            + _table(("field", "type", "required"), rows))


def render_page(spec: dict[str, Any], json_url: str) -> str:
    info = spec.get("info", {})
    parts = [f"<h1>{escape(info.get('title', ''))} {escape(info.get('version', ''))}</h1>",
             f"<p>{escape(info.get('description', ''))}</p>",
             f'<p>The machine-readable description: <a href="{escape(json_url)}">{escape(json_url)}</a>.</p>']
    by_tag: dict[str, list[str]] = {}
    for path, item in spec.get("paths", {}).items():
        for method in _METHODS:
            if method in item:
                tag = (item[method].get("tags") or ["other"])[0]
                by_tag.setdefault(tag, []).append(_operation(method, path, item[method]))
    for tag, operations in sorted(by_tag.items()):
        parts.append(f"<h2>{escape(tag)}</h2>" + "".join(operations))
    parts.append("<h2>Schemas</h2>")
    parts += [_schema(n, s) for n, s in sorted(spec.get("components", {}).get("schemas", {}).items())]
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(info.get("title", ""))}'
            f' API</title><meta name="viewport" content="width=device-width, initial-scale=1">{_STYLE}</head>'
            f"<body>{''.join(parts)}</body></html>")


class ApiDocsPage(OpenAPIRenderPlugin):
    """Serves `render_page` at the OpenAPI root; no favicon link (the browser asks this server)."""

    def __init__(self) -> None:
        super().__init__(path="/", favicon="", style="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return render_page(openapi_schema, self.get_openapi_json_route(request)).encode()


RENDER_PLUGINS = [ApiDocsPage(), JsonRenderPlugin()]


def _no_such_page(response: Response[Any]) -> Response[Any]:
    """Litestar answers any other path under `/schema` (`/schema/swagger`, `/schema/x`) with an HTML
    page of its own, the one 404 of the API that was no problem body: now the problem (`not_found`)."""
    if response.status_code == 404:
        raise NotFoundException  # the problem mapper's words for a path nothing is served at
    return response


def schema_router() -> Router:
    """The router Litestar fills with `/schema`'s pages (a new one for each app: routes register into it)."""
    return Router("/schema", route_handlers=[], include_in_schema=False, after_request=_no_such_page)


@get("/", include_in_schema=False, sync_to_thread=False)
def home() -> Redirect:
    """The office console (its sign-in page without a session): what a supervisor or the desk who types
    the server's bare address wants. The API's reference stays at `/schema`."""
    return Redirect("/console/", status_code=302)
