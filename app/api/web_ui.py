"""The bundled web UI (``app/web/``), served by ``todo-api serve`` on the API's own origin.

One exact route per file (the folder is flat, as the cluster's ConfigMap needs it), not a
catch-all mount: a mount at ``/`` would also claim every unknown path and every API path called
with the wrong method, turning the API's 404s and 405s (with their ``Allow``) into its own.
In the cluster nginx serves the same folder (``infra/frontend.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
INDEX = "index.html"


def add_web_ui(app: FastAPI, web_dir: Path = WEB_DIR) -> None:
    """``/`` answers ``index.html``; each other file answers at ``/<name>`` (GET and HEAD)."""
    files = {path.name: path for path in sorted(web_dir.iterdir()) if path.is_file()}
    if INDEX not in files:
        raise RuntimeError(f"the web UI folder {web_dir} has no {INDEX}")
    for name, path in files.items():
        app.add_route(f"/{name}", _file(path), methods=["GET"], include_in_schema=False)
    app.add_route("/", _file(files[INDEX]), methods=["GET"], include_in_schema=False)


def _file(path: Path) -> Callable[[Request], Awaitable[FileResponse]]:
    async def serve(_request: Request) -> FileResponse:
        return FileResponse(path)

    return serve
