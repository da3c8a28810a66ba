"""What the code offers to callers, found by walking it (never by listing): every gateway route
(Flask's ``url_map`` of the app factory) and every RPC method of the five services (the nameko
entrypoints attached to each service class's methods). The authorization table
(authorization_matrix.csv) must name exactly these, so a new route or method without a row, or
a row whose route is gone, fails the suite.

Routes left out, by the rule in ``is_page``: the web portal's pages and files, not the API.
They are the app's static files (endpoint ``static``: Swagger UI's files), the browsable API
docs page (``/api/docs``), and GET routes of page blueprints (names ``web`` or ending in
``_page``: the portal shell, its assets, the public tracking page ``/t/<token>`` and the
unsubscribe page). A write to a page blueprint (POST /unsubscribe/<token>) changes data, so it
stays in the table.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass

from services.common.config import SERVICES
from services.common.topology import service_class

IGNORED_METHODS = {"HEAD", "OPTIONS"}
PARAM = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


@dataclass(frozen=True)
class Route:
    method: str
    rule: str           # Flask's rule, e.g. /api/v1/orders/<string:order_id>
    endpoint: str
    roles: tuple | None  # the roles the view declares with gateway.auth.requires, None if unguarded
    personal: bool = False   # marked services.common.caller.personal: read-only callers may write

    @property
    def key(self) -> tuple[str, str]:
        return ("route", f"{self.method} {self.rule}")

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.rule)

    def path(self, values: dict[str, str]) -> str:
        return PARAM.sub(lambda m: values[m[1]], self.rule)


@dataclass(frozen=True)
class RpcMethod:
    service: str
    name: str
    signature: inspect.Signature

    @property
    def key(self) -> tuple[str, str]:
        return ("rpc", f"{self.service}.{self.name}")


def is_page(rule, method: str) -> bool:
    """A web page or file (see the module's docstring), not an API route."""
    blueprint = rule.endpoint.rpartition(".")[0]
    if rule.endpoint == "static" or rule.rule == "/api/docs" or rule.rule.startswith("/api/docs/"):
        return True
    return method == "GET" and (blueprint == "web" or blueprint.endswith("_page"))


def gateway_routes() -> list[Route]:
    from gateway.app import create_app

    app = create_app()
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - IGNORED_METHODS):
            if not is_page(rule, method):
                found.append(Route(method, rule.rule, rule.endpoint, _declared_roles(view, method),
                                   bool(getattr(_view_of(view, method), "personal", False))))
    return sorted(found, key=lambda r: r.key)


def _view_of(view, method: str):
    """A MethodView keeps one view per HTTP method."""
    return getattr(getattr(view, "view_class", None), method.lower(), view)


def _declared_roles(view, method: str):
    """The roles of ``requires`` on the view."""
    return getattr(_view_of(view, method), "required_roles", None)


def rpc_methods() -> list[RpcMethod]:
    """Every RPC entrypoint of every service; event handlers, timers and pumps are not RPC and
    are listed by ``other_entrypoints``."""
    from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
    from nameko.rpc import Rpc

    found = []
    for service in SERVICES:
        cls = service_class(service)
        for attr in dir(cls):
            method = getattr(cls, attr)
            if any(isinstance(ep, Rpc) for ep in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ())):
                found.append(RpcMethod(service, attr, inspect.signature(method)))
    return sorted(found, key=lambda m: m.key)


def other_entrypoints() -> list[str]:
    """Entrypoints no caller can call by RPC (event handlers, timers, pumps): shown in the report
    so a reader sees nothing was silently skipped."""
    from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
    from nameko.rpc import Rpc

    found = []
    for service in SERVICES:
        cls = service_class(service)
        for attr in dir(cls):
            for ep in getattr(getattr(cls, attr), ENTRYPOINT_EXTENSIONS_ATTR, ()):
                if not isinstance(ep, Rpc):
                    found.append(f"{service}.{attr} ({type(ep).__name__})")
    return sorted(found)
