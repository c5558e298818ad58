"""The security headers every HTML and API response carries, defined once.

Two places send them: the Ingress (through ingress-nginx's ``custom-headers`` annotation, which
needs no snippet) and the frontend's own nginx, so the page is protected even when reached
without the Ingress (port-forward, another gateway). The CSP allows only same-origin scripts,
styles and API calls, which is all the bundled web UI uses.
"""

from __future__ import annotations

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}

ALLOWED_RESPONSE_HEADERS = ",".join(SECURITY_HEADERS)
"""The ingress-nginx controller's ``global-allowed-response-headers`` value.

The controller refuses a ``custom-headers`` ConfigMap naming any header not on that list (it
answers 503 on every path of the Ingress), so the add-on install must set it from here.
"""
