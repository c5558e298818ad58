"""The frontend: by default an unprivileged nginx serving the bundled web UI (``app/web/``).

The UI's files and nginx's configuration come from ConfigMaps, so the stock image is used as is
and a UI change is a ``pulumi up``, not an image build. nginx runs under a read-only root: its
pid file and temp paths point at an ``emptyDir`` on ``/tmp``, and it is started directly rather
than through the image's entrypoint scripts, which try to rewrite files under ``/etc/nginx``.

A pod-template annotation carries a hash of both ConfigMaps, so changing the UI or the server
configuration rolls the pods (a mounted ConfigMap alone would not restart nginx).

Another image may replace nginx (``site_dir: null``): it then brings its own content and must
answer ``health_path`` on ``port``.

No Dapr sidecar: a static web server makes no Dapr call (the browser talks to the API through
the Ingress), so a sidecar would only cost its requests on every replica.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pulumi
import pulumi_kubernetes.core.v1 as core
from pydantic import Field, field_validator

from infra.component import child_options
from infra.deployment import (
    AppLabels,
    AppWorkloadArgs,
    ServedApp,
    app_workload,
)
from infra.http_headers import SECURITY_HEADERS
from infra.labels import PinnedImage
from infra.probes import http_probes
from infra.security import scratch_volume
from infra.workload import container

DEFAULT_IMAGE = "nginxinc/nginx-unprivileged:1.28.0-alpine"
WEB_DIR = Path(__file__).resolve().parent.parent / "app" / "web"
"""The bundled web UI."""
SITE_ROOT = "/usr/share/nginx/html"
SERVICE_PORT = 80
WEB_PORT = 8080
"""nginx-unprivileged's port: above 1024, so no capability is needed to bind it."""
APP_NAME = "todo-web"
"""The app of the frontend."""
MAX_SITE_BYTES = 900 * 1024
"""A ConfigMap holds at most 1 MiB; keep room for metadata."""


def nginx_conf(port: int, health_path: str) -> str:
    """A complete nginx.conf for a static site under a read-only root filesystem."""
    headers = "\n".join(
        f'        add_header {name} "{value}" always;' for name, value in SECURITY_HEADERS.items()
    )
    return f"""worker_processes 2;
pid /tmp/nginx.pid;
error_log /dev/stderr warn;

events {{
    worker_connections 1024;
}}

http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /dev/stdout;
    sendfile on;
    server_tokens off;
    client_body_temp_path /tmp/client_temp;
    proxy_temp_path /tmp/proxy_temp;
    fastcgi_temp_path /tmp/fastcgi_temp;
    uwsgi_temp_path /tmp/uwsgi_temp;
    scgi_temp_path /tmp/scgi_temp;

    server {{
        listen {port};
        root {SITE_ROOT};
        index index.html;
{headers}

        location = {health_path} {{
            access_log off;
            default_type text/plain;
            return 200 "ok\\n";
        }}

        location = /favicon.ico {{
            access_log off;
            return 204;
        }}

        location / {{
            try_files $uri $uri/ /index.html;
        }}
    }}
}}
"""


def site_files(site_dir: Path) -> dict[str, str]:
    """The UI's files as ConfigMap data (keys are file names, so the directory must be flat)."""
    files = {path.name: path.read_text(encoding="utf-8") for path in sorted(site_dir.iterdir())}
    if "index.html" not in files:
        raise ValueError(f"site_dir={str(site_dir)!r} has no index.html")
    size = sum(len(text.encode()) for text in files.values())
    if size > MAX_SITE_BYTES:
        raise ValueError(
            f"site_dir={str(site_dir)!r} holds {size} bytes; a ConfigMap takes at most "
            f"{MAX_SITE_BYTES}: build an image with the site instead"
        )
    return files


class FrontendArgs(AppWorkloadArgs):
    """The frontend Deployment: image and what it serves."""

    image: PinnedImage = Field(default=DEFAULT_IMAGE, description="Web server image, pinned.")
    site_dir: Path | None = Field(
        default=WEB_DIR,
        description="Flat directory of static files served from a ConfigMap by the default "
        "nginx; `null` when the image brings its own content and server.",
    )
    port: int = Field(
        default=WEB_PORT, ge=1024, le=65535, description="Port the server listens on."
    )
    health_path: str = Field(
        default="/healthz",
        pattern=r"^/[A-Za-z0-9._/-]*$",
        description="Path answering 200 when alive.",
    )

    @field_validator("site_dir")
    @classmethod
    def _flat_directory(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        if not value.is_dir():
            raise ValueError(f"site_dir={str(value)!r} is not a directory")
        nested = [p.name for p in value.iterdir() if not p.is_file()]
        if nested:
            raise ValueError(f"site_dir={str(value)!r} must be flat; it contains {nested}")
        return value


class Frontend(ServedApp):
    """The frontend Deployment, its Service, its ConfigMaps and (when replicated) its PDB."""

    def __init__(
        self, name: str, args: FrontendArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:Frontend", name, None, opts)
        child = child_options(self, opts)
        names = AppLabels(args, app=APP_NAME, component="frontend")
        mounts = [core.VolumeMountArgs(name="tmp", mount_path="/tmp")]  # noqa: S108  # an emptyDir
        volumes = [scratch_volume("tmp")]
        annotations: dict[str, str] = {}
        command: list[str] | None = None
        if args.site_dir is not None:
            site = site_files(args.site_dir)
            conf = {"nginx.conf": nginx_conf(args.port, args.health_path)}
            site_map = core.ConfigMap(
                f"{name}-site",
                metadata=names.metadata(args.namespace, role="site"),
                data=site,
                opts=child,
            )
            conf_map = core.ConfigMap(
                f"{name}-nginx",
                metadata=names.metadata(args.namespace, role="nginx"),
                data=conf,
                opts=child,
            )
            volumes += [
                core.VolumeArgs(
                    name="site",
                    config_map=core.ConfigMapVolumeSourceArgs(name=site_map.metadata.name),
                ),
                core.VolumeArgs(
                    name="nginx-conf",
                    config_map=core.ConfigMapVolumeSourceArgs(name=conf_map.metadata.name),
                ),
            ]
            mounts += [
                core.VolumeMountArgs(name="site", mount_path=SITE_ROOT, read_only=True),
                core.VolumeMountArgs(
                    name="nginx-conf",
                    mount_path="/etc/nginx/nginx.conf",
                    sub_path="nginx.conf",
                    read_only=True,
                ),
            ]
            digest = hashlib.sha256(json.dumps([site, conf], sort_keys=True).encode()).hexdigest()
            annotations["checksum/config"] = digest
            command = ["nginx", "-g", "daemon off;"]

        server = container(
            "web",
            image=args.image,
            size=args.size,
            command=command,
            ports=[core.ContainerPortArgs(name="http", container_port=args.port, protocol="TCP")],
            volume_mounts=mounts,
            probes=http_probes(
                port="http", liveness_path=args.health_path, readiness_path=args.health_path
            ),
        )
        deployment = app_workload(
            name,
            args=args,
            names=names,
            containers=[server],
            volumes=volumes,
            pod_annotations=annotations,
            opts=child,
        )
        self._serve(
            name,
            args=args,
            names=names,
            deployment=deployment,
            service_port=SERVICE_PORT,
            opts=child,
        )
