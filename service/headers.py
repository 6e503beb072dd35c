"""Security headers on every response, errors and 404s included (a ``before_send`` hook).

A handler that sets one of these headers itself keeps its value.
"""

from __future__ import annotations

from litestar.types import Message, Scope

# The docs page loads its scripts and styles from this server only; Swagger UI
# sets inline styles, hence 'unsafe-inline' for styles (never for scripts).
HTML_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"

ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    # Answers depend on the caller's key; no shared cache may keep them.
    "Cache-Control": "no-store",
}

# Raw header pairs, built once: this runs on every response.
_ALWAYS = [(name.lower().encode(), value.encode()) for name, value in ALWAYS.items()]
_CSP = b"content-security-policy"
_HTML_CSP = HTML_CSP.encode()
_API_CSP = API_CSP.encode()


async def add_security_headers(message: Message, _scope: Scope) -> None:
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers", ()))
    present = {bytes(name).lower(): bytes(value) for name, value in headers}
    headers.extend(pair for pair in _ALWAYS if pair[0] not in present)
    if _CSP not in present:
        is_html = present.get(b"content-type", b"").startswith(b"text/html")
        headers.append((_CSP, _HTML_CSP if is_html else _API_CSP))
    message["headers"] = headers
