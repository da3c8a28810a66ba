"""The web portal: one page (gateway/web/portal/index.html) for every portal path, its scripts
and styles under /assets, and the front-end libraries installed from the npm registry
(gateway/web/package-lock.json) under /assets/vendor. Nothing is loaded from elsewhere: the
Content-Security-Policy allows this origin only (and the map tile server, when one is set)."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, abort, send_from_directory
from jinja2 import Environment, Template

from services.common.config import env

WEB = Path(__file__).resolve().parent.parent / "web"
PORTAL = WEB / "portal"
VENDOR = {   # /assets/vendor/<name>/... -> the installed package's distributed files
    "leaflet": WEB / "node_modules" / "leaflet" / "dist",
}
# Paths that are not portal screens: their own blueprints answer, or nothing does.
NOT_PORTAL = ("api/", "assets/", "t/", "unsubscribe/", "healthz", "readyz")

page = Blueprint("web", __name__)
_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


@lru_cache(maxsize=None)
def _template(path: Path) -> Template:
    """A page's template, read and compiled once per process (autoescaped)."""
    return Environment(autoescape=True).from_string(path.read_text())


def html_page(path: Path) -> str:
    """The portal's page or the public tracking page, with the operator's name and the map tile
    server filled in (read from the environment at each request, like every setting)."""
    return _template(path).render(brand=env("PORTAL_OPERATOR_NAME"), tiles=env("MAP_TILE_URL"),
                                  tiles_attribution=env("MAP_TILE_ATTRIBUTION"))


def tile_origin() -> str:
    url = env("MAP_TILE_URL")
    if not url:
        return ""
    parts = urlsplit(url.replace("{s}", "a"))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else ""


def csp() -> str:
    """Scripts and styles of this origin only: no inline script, no eval, no other host."""
    tiles = tile_origin()
    return ("default-src 'self'; script-src 'self'; style-src 'self'; "
            f"img-src 'self' data: blob:{' ' + tiles if tiles else ''}; connect-src 'self'; font-src 'self'; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@page.route("/", methods=["GET"])
@page.route("/<path:path>", methods=["GET"])
def shell(path: str = ""):
    if path.startswith(NOT_PORTAL):
        abort(404)
    return html_page(PORTAL / "index.html"), 200, {"Cache-Control": "no-cache", "Content-Type": "text/html; charset=utf-8"}


@page.route("/assets/vendor/<string:package>/<path:name>", methods=["GET"])
def vendor(package: str, name: str):
    if package not in VENDOR:
        abort(404)
    return send_from_directory(VENDOR[package], name, max_age=3600)


@page.route("/assets/theme.css", methods=["GET"])
def theme():
    """The operator's colour (PORTAL_BRAND_COLOR) for the portal: a stylesheet, because the CSP
    allows no inline style."""
    color = env("PORTAL_BRAND_COLOR")
    if not _HEX_COLOR.match(color or ""):
        color = "#0b5cad"
    return f":root {{ --brand: {color}; }}\n", 200, {"Content-Type": "text/css; charset=utf-8",
                                                     "Cache-Control": "no-cache"}


@page.route("/assets/<path:name>", methods=["GET"])
def asset(name: str):
    # no-cache: revalidated (ETag) on each load, so a deploy is seen at once
    response = send_from_directory(PORTAL, name, max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response
