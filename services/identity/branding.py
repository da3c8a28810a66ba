"""The operator's branding, set in the operator console: display name, logo, primary and accent
colours, an email footer line. Kept in ``operator_settings`` (key ``branding``); every change is
announced as ``branding.updated`` so notify and billing keep their copy (services.common.brand).

Colours are checked for contrast where the portal uses them: the primary colour is link text on
white and the background of white text (top bar, buttons), so it needs 4.5:1 against white (WCAG
AA for text); the accent marks things (focus rings, markers, rules) and needs 3:1 against white
(WCAG 1.4.11). A refused colour comes back with a nearby shade that would pass.

The logo is a PNG, JPEG or SVG of at most ``MAX_LOGO_BYTES``, checked by its content (Pillow
opens the pictures; an SVG is parsed with defusedxml and refused when it holds scripts, event
attributes, ``foreignObject`` or any reference outside itself).
"""
from __future__ import annotations

import io
import re

from sqlalchemy.orm import Session

from services.common import brand
from services.common.blobs import blob_store
from services.common.caller import OPERATOR_ADMIN, CallerContext
from services.common.db import UnitOfWork
from services.common.errors import ValidationFailed
from services.identity import audit
from services.identity.models import OperatorSetting

KEY = "branding"
MAX_LOGO_BYTES = 512 * 1024
MAX_LOGO_SIDE = 4000                      # pixels, either way
PRIMARY_MIN, ACCENT_MIN = 4.5, 3.0        # contrast against white
_SHORT_HEX = re.compile(r"^#[0-9a-fA-F]{3}$")
_LONG_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
SETTABLE = ("display_name", "primary_color", "accent_color", "email_footer")


# --- colours ---------------------------------------------------------------------------------
def normalise_color(value: str) -> str:
    """``#abc`` or ``#aabbcc`` (any case) as ``#aabbcc``; anything else is refused."""
    value = (value or "").strip()
    if _SHORT_HEX.match(value):
        value = "#" + "".join(c * 2 for c in value[1:])
    if not _LONG_HEX.match(value):
        raise ValueError("Give a colour as a hex code such as #1f4e79.")
    return value.lower()


def darker(color: str, minimum: float) -> str:
    """The nearest shade of ``color`` (scaled towards black) with ``minimum`` contrast on white."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    for step in range(100, -1, -1):
        shade = "#%02x%02x%02x" % tuple(round(c * step / 100) for c in (r, g, b))
        if brand.contrast(shade, "#ffffff") >= minimum:
            return shade
    return "#000000"


def check_color(field: str, value: str) -> str:
    """The colour, normalised, or ValueError saying why it is refused and what would pass."""
    color = normalise_color(value)
    minimum = PRIMARY_MIN if field == "primary_color" else ACCENT_MIN
    ratio = brand.contrast(color, "#ffffff")
    if ratio < minimum:
        use = ("as link text on white and behind white text" if field == "primary_color"
               else "as a marker on the white page")
        raise ValueError(f"{color} is too light to read {use}: its contrast with white is "
                         f"{ratio:.1f}:1, at least {minimum}:1 is needed. A darker shade such as "
                         f"{darker(color, minimum)} passes.")
    return color


def validate_changes(changes: dict) -> dict:
    """The changes, cleaned (colours normalised, text trimmed, empty = back to the default), or
    ValidationFailed naming each bad field."""
    errors, clean = {}, {}
    for field, value in changes.items():
        if field not in SETTABLE:
            errors[field] = ["Unknown field."]
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            clean[field] = None
            continue
        try:
            clean[field] = check_color(field, value) if field.endswith("_color") else " ".join(str(value).split())
        except ValueError as exc:
            errors[field] = [str(exc)]
    if errors:
        raise ValidationFailed.of(errors, "The branding was not changed.")
    return clean


# --- the logo --------------------------------------------------------------------------------
_SVG_URL = re.compile(r"url\(\s*['\"]?\s*(?!#)", re.I)


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def check_svg(data: bytes) -> None:
    """Refuse an SVG that could run script or fetch anything when shown: ``script`` and
    ``foreignObject`` elements, ``on*`` attributes, references (``href``, ``url(...)``,
    ``@import``) to anything but its own ``#fragments``. defusedxml refuses entities and DTDs."""
    from defusedxml import ElementTree
    from defusedxml.common import DefusedXmlException
    from xml.etree.ElementTree import ParseError

    try:
        root = ElementTree.fromstring(data)
    except (ParseError, DefusedXmlException, ValueError):
        raise ValueError("The SVG could not be read as plain XML (entities and DTDs are refused).")
    if _local_name(root.tag) != "svg":
        raise ValueError("The file is not an SVG image.")
    for element in root.iter():
        name = _local_name(element.tag)
        if name in ("script", "foreignobject", "iframe", "embed", "object"):
            raise ValueError(f"The SVG holds a <{name}> element; save it without scripts or embedded content.")
        for attribute, value in element.attrib.items():
            local = _local_name(attribute)
            if local.startswith("on"):
                raise ValueError(f"The SVG holds an event attribute ({local}); save it without scripts.")
            if local == "href" and not value.strip().startswith("#"):
                raise ValueError("The SVG refers to something outside itself (href); embed everything in the file.")
            if _SVG_URL.search(value) or "@import" in value.lower():
                raise ValueError("The SVG refers to something outside itself (url()); embed everything in the file.")
        if name == "style" and element.text and (_SVG_URL.search(element.text) or "@import" in element.text.lower()):
            raise ValueError("The SVG's style refers to something outside itself; embed everything in the file.")


def logo_type(data: bytes) -> str:
    """The logo's content type, from its content: PNG and JPEG opened by Pillow (size checked),
    SVG checked by ``check_svg``. ValueError when it is none of them or is refused."""
    if len(data) > MAX_LOGO_BYTES:
        raise ValueError(f"The logo is larger than {MAX_LOGO_BYTES // 1024} KB; the most accepted.")
    if data[:8] == b"\x89PNG\r\n\x1a\n" or data[:3] == b"\xff\xd8\xff":
        from PIL import Image

        try:
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
                width, height, kind = image.width, image.height, image.format
        except Exception:
            raise ValueError("The picture could not be read; save it again as PNG or JPEG.")
        if width > MAX_LOGO_SIDE or height > MAX_LOGO_SIDE:
            raise ValueError(f"The logo is {width}x{height} pixels; at most {MAX_LOGO_SIDE} a side.")
        return "image/png" if kind == "PNG" else "image/jpeg"
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<?xml", b"<svg", b"<!--")) and b"<svg" in data[:4096].lower():
        check_svg(data)
        return "image/svg+xml"
    raise ValueError("The logo must be a PNG, JPEG or SVG image.")


# --- settings --------------------------------------------------------------------------------
def stored(session: Session) -> dict:
    row = session.get(OperatorSetting, KEY)
    return dict(row.value) if row is not None else {}


def view(session: Session) -> dict:
    """The branding in use (``effective``) and what the operator set (``settings``; unset = the default)."""
    own = stored(session)
    return {**brand.effective(own), "settings": {field: own.get(field) for field in SETTABLE}}


def _save(uow: UnitOfWork, caller: CallerContext, value: dict, details: dict) -> dict:
    value["version"] = int(value.get("version") or 0) + 1
    row = uow.session.get(OperatorSetting, KEY, with_for_update=True) or OperatorSetting(key=KEY)
    row.value = value
    uow.session.add(row)
    audit.record(uow.session, caller, "branding.changed", details=details)
    uow.emit("branding.updated", event_data(value))
    uow.session.flush()
    return view(uow.session)


def event_data(value: dict) -> dict:
    return {"version": value["version"], "logo": value.get("logo"),
            **{field: value.get(field) for field in SETTABLE}}


def update(uow: UnitOfWork, caller: CallerContext, changes: dict) -> dict:
    caller.require_operator(OPERATOR_ADMIN)
    clean = validate_changes(changes)
    return _save(uow, caller, {**stored(uow.session), **clean}, clean)


def set_logo(uow: UnitOfWork, caller: CallerContext, upload: dict) -> dict:
    """Keep an uploaded logo (``{key, size, sha256, filename}`` from the gateway) when its
    content passes ``logo_type``; a refused file is deleted from the blob store."""
    caller.require_operator(OPERATOR_ADMIN)
    store = blob_store()
    if int(upload.get("size") or 0) > MAX_LOGO_BYTES:
        store.delete(upload["key"])
        raise ValidationFailed.of({"file": [f"The logo is larger than {MAX_LOGO_BYTES // 1024} KB; the most accepted."]})
    with store.open(upload["key"]) as stream:
        data = stream.read(MAX_LOGO_BYTES + 1)
    try:
        content_type = logo_type(data)
    except ValueError as exc:
        store.delete(upload["key"])
        raise ValidationFailed.of({"file": [str(exc)]}, "The logo was not changed.")
    value = stored(uow.session)
    logo = {"key": upload["key"], "content_type": content_type, "sha256": upload["sha256"]}
    return _save(uow, caller, {**value, "logo": logo}, {"logo": content_type})


def remove_logo(uow: UnitOfWork, caller: CallerContext) -> dict:
    caller.require_operator(OPERATOR_ADMIN)
    return _save(uow, caller, {**stored(uow.session), "logo": None}, {"logo": None})
