"""The notify service's emails: a Jinja2 template pair per kind under ``templates/email/`` (plain
text and HTML, each extending a base layout with the operator's name, colour and footer), and
``render``, which fills a pair from an event's context.

Why templates: the wording of every email lives in one place, apart from the code that decides
who gets which email, and the HTML part is autoescaped, so a reference, a name or a message typed
by a customer is always shown as text, never run as markup. The .txt template of a kind is the
source of its subject and its call to action: it sets ``subject_line``, ``action_label`` and
``action_url`` at its top, and the HTML part is rendered with those same values. Undefined
names are errors (``StrictUndefined``): a context key the caller forgot fails the render instead
of leaving a gap in an email someone receives.

Branding (name, logo, primary colour, footer line) is what the operator set in the console, from
notify's copy of ``branding.updated`` (``brand_of``), else the environment (``PORTAL_OPERATOR_NAME``,
``PORTAL_BRAND_COLOR``); ``PORTAL_URL`` and ``BILLING_EMAIL`` come from the environment, times are
shown in ``PORTAL_TIMEZONE``; all are read at each render, so a changed setting needs no new
template environment. The logo is linked from the gateway (an ``<img>`` with the name as its alt
text): mail clients that block pictures still show the name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.common.brand import current as current_brand
from services.common.brand import effective as effective_brand
from services.common.brand import logo_url
from services.common.config import env
from services.common.money import to_decimal

TEMPLATES = Path(__file__).parent / "templates" / "email"
DEFAULT_COLOR = "#1f4e79"
# The brand colour is written into style attributes, where escaping does not help: a hex colour
# or nothing (``red;background:url(...)`` would pass HTML escaping untouched).
_HEX_COLOR = re.compile(r"#[0-9a-fA-F]{3,8}")
# Longest subject: a webhook's URL or a conversation's subject may be long, a subject line is not.
MAX_SUBJECT = 200

# Sent whatever the recipient's preferences say, and without an unsubscribe line.
TRANSACTIONAL = frozenset({"invite", "activation", "password_reset", "webhook_disabled"})
KINDS = TRANSACTIONAL | frozenset({
    "order_submitted", "order_scheduled", "order_out_for_delivery", "order_delivered",
    "order_failed", "order_cancelled", "order_late", "message_posted", "quote_sent",
    "quote_requested", "invoice_issued", "invoice_overdue", "payment_received", "payment_failed",
    "import_finished", "request_received", "order_approval_requested", "order_approval_decided",
    "terms_published"})


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def brand_of(session) -> dict:
    """The branding in use: notify's copy of what the operator set, over the environment's."""
    from services.notify.models import BrandCopy

    return current_brand(session, BrandCopy)


def render(kind: str, context: dict, *, recipient_name: str | None = None,
           unsubscribe_url: str | None = None, brand: dict | None = None) -> RenderedEmail:
    """The subject, plain text and HTML of one email of ``kind`` (see KINDS) to one recipient,
    under ``brand`` (``brand_of``; the environment's when None). ``unsubscribe_url`` is left out
    of transactional kinds: nobody unsubscribes from those."""
    if kind not in KINDS:
        raise ValueError(f"unknown email kind {kind!r}")
    brand = brand or effective_brand()
    portal_url = env("PORTAL_URL").rstrip("/")
    values = {**context,
              "operator": brand["name"],
              "brand_color": brand["primary_color"] if _HEX_COLOR.fullmatch(brand["primary_color"]) else DEFAULT_COLOR,
              "brand_text": brand["primary_text"],
              "logo_url": logo_url(brand, portal_url),
              "email_footer": brand["email_footer"],
              "portal_url": portal_url,
              "support_email": env("BILLING_EMAIL"),
              "recipient_name": recipient_name,
              "unsubscribe_url": None if kind in TRANSACTIONAL else unsubscribe_url}
    templates = _environment()
    text = templates.get_template(f"{kind}.txt").make_module(values)
    # One line, whatever a customer's value held: a header must not break.
    subject = " ".join(text.subject_line.split())
    if len(subject) > MAX_SUBJECT:
        subject = subject[:MAX_SUBJECT - 1].rstrip() + "\u2026"
    html = templates.get_template(f"{kind}.html").render(
        values, subject_line=subject, action_label=text.action_label, action_url=text.action_url)
    return RenderedEmail(subject=subject, text=str(text), html=html)


# --- template filters -------------------------------------------------------------------------

def money(value: dict | None) -> str:
    """``{"amount": "1234.50", "currency": "EUR"}`` as ``EUR 1,234.50``: thousands separated,
    the decimals as given (amounts arrive rounded to their currency's minor unit)."""
    return "" if value is None else f"{value['currency']} {to_decimal(value['amount']):,}"


def when(value: datetime | str | None) -> str:
    """A moment as ``Thu 3 Dec 2026, 14:05 CET`` in PORTAL_TIMEZONE."""
    if value is None:
        return "not known yet"
    moment = _local(value)
    return f"{moment:%a} {moment.day} {moment:%b %Y, %H:%M} {moment.tzname()}"


def day(value: date | str | None) -> str:
    """A date (or the day of a moment in PORTAL_TIMEZONE) as ``3 December 2026``."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
    if isinstance(value, datetime):
        value = _local(value).date()
    return f"{value.day} {value:%B %Y}"


def ref(order: dict) -> str:
    """How an order is named to people: its reference, else the start of its id."""
    return order["reference"] or order["id"][:8]


def _local(value: datetime | str) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:   # the platform keeps times in UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(ZoneInfo(env("PORTAL_TIMEZONE")))


@cache
def _environment() -> Environment:
    """The process's one template environment, built at the first email. Templates ship with
    the code, so they are read once (no ``auto_reload`` stat before every email)."""
    environment = Environment(loader=FileSystemLoader(TEMPLATES),
                              autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    environment.filters.update(money=money, when=when, day=day, ref=ref)
    return environment
