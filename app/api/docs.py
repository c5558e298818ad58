"""Swagger UI and ReDoc, served from the fastapi-offline package's copies of their files.

FastAPI's default pages load both from a CDN (and ReDoc its fonts from Google), so ``/docs`` was
blank offline, and every reader's browser told third parties it was reading our docs. Here
every asset comes from this service, and Swagger UI's validator badge, which would send our
OpenAPI document to an outside validator, is off.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_ROUTE = "/docs"
REDOC_ROUTE = "/redoc"
ASSETS_ROUTE = "/docs/assets"
OAUTH2_REDIRECT_ROUTE = "/docs/oauth2-redirect"
ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"


def add_docs(app: FastAPI, openapi_url: str) -> None:
    """Routes for the pages (the app must be made with ``docs_url=None, redoc_url=None``)."""
    app.mount(ASSETS_ROUTE, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get(DOCS_ROUTE, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=OAUTH2_REDIRECT_ROUTE,
            swagger_js_url=f"{ASSETS_ROUTE}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_ROUTE}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_ROUTE}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(OAUTH2_REDIRECT_ROUTE, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_ROUTE, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{ASSETS_ROUTE}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_ROUTE}/favicon.png",
            with_google_fonts=False,
        )
