"""The OpenAPI page at `/schema`, rendered on the server with no external assets.

Litestar's bundled UIs load JavaScript and a favicon from a CDN, which an air-gapped site cannot
reach. This page lists every operation with its parameters and responses, and links to the raw
document at `/schema/openapi.json`.
"""

from __future__ import annotations

import html
from typing import Any

from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin

_STYLE = """<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}
h2{border-bottom:1px solid #ccc;margin-top:2rem}.op{margin:1rem 0;padding:.5rem 1rem;border-left:4px solid #4a7}
.m{font-weight:bold;text-transform:uppercase;display:inline-block;width:4.5rem}code{background:#f4f4f4;padding:0 .2rem}
.r{color:#555;font-size:.9rem}</style>"""


class SelfContainedDocsPlugin(OpenAPIRenderPlugin):
    def __init__(self) -> None:
        super().__init__(path="/", favicon="", style=_STYLE)

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        info = openapi_schema.get("info", {})
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>{html.escape(str(info.get('title', 'API')))}</title>{self.style}</head><body>",
            f"<h1>{html.escape(str(info.get('title', '')))} <small>{html.escape(str(info.get('version', '')))}</small></h1>",
            f"<p>{html.escape(str(info.get('description', '')))}</p>",
            "<p>Machine-readable document: <a href='openapi.json'><code>/schema/openapi.json</code></a></p>",
        ]
        by_tag: dict[str, list[str]] = {}
        for path, item in sorted(openapi_schema.get("paths", {}).items()):
            for method, operation in item.items():
                if not isinstance(operation, dict):
                    continue
                tag = (operation.get("tags") or ["other"])[0]
                by_tag.setdefault(tag, []).append(_operation_html(method, path, operation))
        for tag, operations in sorted(by_tag.items()):
            parts.append(f"<h2>{html.escape(tag)}</h2>")
            parts.extend(operations)
        parts.append("</body></html>")
        return "".join(parts).encode()


def _operation_html(method: str, path: str, operation: dict[str, Any]) -> str:
    params = ", ".join(
        f"<code>{html.escape(str(p.get('name')))}</code> ({html.escape(str(p.get('in')))})"
        for p in operation.get("parameters", [])
        if isinstance(p, dict)
    )
    responses = ", ".join(
        f"{html.escape(str(code))} {html.escape(str(r.get('description', '')))}"
        for code, r in operation.get("responses", {}).items()
        if isinstance(r, dict)
    )
    return (
        f"<div class='op'><span class='m'>{html.escape(method)}</span><code>{html.escape(path)}</code>"
        f" — {html.escape(str(operation.get('summary', '')))}"
        f"<div class='r'>operation: <code>{html.escape(str(operation.get('operationId', '')))}</code>"
        f"{' · parameters: ' + params if params else ''}<br>responses: {responses}</div></div>"
    )
