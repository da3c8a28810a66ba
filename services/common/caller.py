"""The caller context ``{user_id, customer_id, role}`` that travels with every RPC.

The gateway authenticates a request, builds the context and signs it (HMAC, with an expiry no
later than the call's deadline). Services trust only a signed context: nameko's context headers
can be set by anyone who can publish (PITFALLS 9). A customer role without a customer_id is
refused here, so no service can be asked for "all customers" by a customer.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import asdict, dataclass

from services.common.errors import Forbidden, NotFound, Unauthenticated
from services.common.keys import derive_key, signed_by_any

OPERATOR_ADMIN = "operator_admin"
DISPATCHER = "dispatcher"
CUSTOMER_ADMIN = "customer_admin"
CUSTOMER_BOOKER = "customer_booker"      # places and follows orders; no users, keys or payments
CUSTOMER_VIEWER = "customer_viewer"      # reads only (its own profile and preferences aside)
API_KEY = "api_key"
DRIVER = "driver"
SERVICE = "service"          # a service acting on its own (timers, event handlers)
ANONYMOUS = "anonymous"

OPERATOR_ROLES = frozenset({OPERATOR_ADMIN, DISPATCHER})
CUSTOMER_ROLES = frozenset({CUSTOMER_ADMIN, CUSTOMER_BOOKER, CUSTOMER_VIEWER, API_KEY})
CUSTOMER_PEOPLE = (CUSTOMER_ADMIN, CUSTOMER_BOOKER, CUSTOMER_VIEWER)      # the roles a customer's user holds
PAYERS = (CUSTOMER_ADMIN, API_KEY)      # billing is the admin's (and its integrations'), not a booker's
READ_ONLY_ROLES = frozenset({CUSTOMER_VIEWER})
ROLES = OPERATOR_ROLES | CUSTOMER_ROLES | {DRIVER, SERVICE, ANONYMOUS}
PEOPLE = tuple(sorted(OPERATOR_ROLES | set(CUSTOMER_PEOPLE)))   # callers that are a user row

def personal(handler):
    """Marks a gateway view or an RPC method that a read-only caller may still write through:
    it changes only the caller's own profile, sign-in or preferences (checked by
    gateway.auth.requires and services.common.database.Database)."""
    handler.personal = True
    return handler


CONTEXT_KEY = "caller"        # nameko context data key -> header ``nameko.caller``


@dataclass(frozen=True)
class CallerContext:
    role: str
    user_id: str | None = None
    customer_id: str | None = None
    # The sites (or cost centres) a customer's user is limited to, by code; None: all of them.
    sites: tuple[str, ...] | None = None
    problem: str | None = None   # why a presented context was refused

    def __post_init__(self):
        if self.sites is not None and not isinstance(self.sites, tuple):
            object.__setattr__(self, "sites", tuple(self.sites))     # JSON brings a list

    @property
    def is_operator(self) -> bool:
        return self.role in OPERATOR_ROLES

    @property
    def is_customer(self) -> bool:
        return self.role in CUSTOMER_ROLES

    def require(self, *roles: str) -> "CallerContext":
        """Refuse unless the caller is authenticated and holds one of ``roles`` (any, if none)."""
        if self.problem:
            raise Unauthenticated(self.problem)
        if self.role == ANONYMOUS and ANONYMOUS not in roles:
            raise Unauthenticated()
        if roles and self.role not in roles:
            raise Forbidden()
        return self

    @property
    def read_only(self) -> bool:
        return self.role in READ_ONLY_ROLES

    def sees_site(self, site: str | None) -> bool:
        """Whether a caller limited to some sites may see what belongs to ``site`` (an order
        without a site belongs to the whole customer: only unlimited callers see it)."""
        return self.sites is None or site in self.sites

    def require_operator(self, *roles: str) -> "CallerContext":
        return self.require(*(roles or OPERATOR_ROLES))

    def scope(self, customer_id: str | None = None) -> str | None:
        """The customer every query must be filtered by.

        A customer caller is always held to its own customer: asking for another one answers
        NotFound, exactly like an id that does not exist. Operator staff get the customer they
        name, or None (all customers)."""
        self.require()
        if self.is_customer:
            if customer_id is not None and customer_id != self.customer_id:
                raise NotFound()
            return self.customer_id
        if self.is_operator or self.role == SERVICE:
            return customer_id
        raise Forbidden()


def validate(ctx: CallerContext) -> None:
    if ctx.role not in ROLES:
        raise ValueError(f"unknown role {ctx.role!r}")
    if ctx.role in CUSTOMER_ROLES and not ctx.customer_id:
        raise ValueError("a customer role needs a customer_id")
    if ctx.role in OPERATOR_ROLES and ctx.customer_id:
        raise ValueError("operator staff act for no single customer")
    if ctx.sites is not None and ctx.role not in CUSTOMER_PEOPLE:
        raise ValueError("only a customer's users are limited to sites")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(ctx: CallerContext, expires_at: float) -> str:
    validate(ctx)
    body = {k: v for k, v in asdict(ctx).items() if v is not None and k != "problem"}
    body["exp"] = round(expires_at, 3)
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(derive_key("caller-context"), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def verify(token: str | None, now: float | None = None) -> CallerContext:
    """The context a signed token carries; a context with ``problem`` set when it is not valid.
    No token at all is the anonymous caller."""
    if not token:
        return CallerContext(role=ANONYMOUS)
    if not isinstance(token, str):
        # Anyone who can publish sets headers (PITFALLS 9): a JSON object there instead of the
        # signed string used to raise AttributeError while nameko injected the caller, which
        # leaves the RPC unanswered until its caller times out.
        return CallerContext(role=ANONYMOUS, problem="caller context refused: not a signed string")
    try:
        payload, mac = token.split(".")
        if not signed_by_any("caller-context", payload.encode(), _unb64(mac)):
            return CallerContext(role=ANONYMOUS, problem="caller context signature is not valid")
        body = json.loads(_unb64(payload))
        if body.pop("exp", 0) < (now or time.time()):
            return CallerContext(role=ANONYMOUS, problem="caller context has expired")
        ctx = CallerContext(**body)
        validate(ctx)
        return ctx
    except (ValueError, TypeError, KeyError) as exc:
        return CallerContext(role=ANONYMOUS, problem=f"caller context refused: {exc}")
