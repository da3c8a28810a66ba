"""The operator's branding: public to read (the portal shell, the sign-in page and the tracking
page apply it before anyone signs in), set by an operator admin in the console. The logo is
served from the blob store with its checked content type, cacheable under its versioned URL."""
from __future__ import annotations

from flask import Response, abort, request
from flask_smorest import Blueprint

from gateway.auth import caller, operator
from gateway.inputs import FileField, upload
from gateway.rpc import answer, client
from services.common.blobs import blob_store
from services.common.brand import logo_url
from services.common.caller import OPERATOR_ADMIN
from services.identity.schemas import BrandingIn, BrandingOut, BrandingSettingsOut

blp = Blueprint("branding", __name__, url_prefix="/api/v1",
                description="The operator's name, logo and colours.")
PUBLIC = ("name", "primary_color", "accent_color", "primary_text", "accent_text")


def _settings(found: dict) -> dict:
    return {**{k: found[k] for k in PUBLIC}, "logo_url": logo_url(found),
            "email_footer": found["email_footer"], "settings": found["settings"]}


def _identity(method: str, *args):
    return client().call("identity", method, *args, caller=caller())


@blp.route("/branding", methods=["GET"])
@blp.response(200, BrandingOut)
def public_branding():
    """The operator's display name, colours (with the text colour that reads on each) and logo
    URL; the platform's defaults until the operator sets its own. No sign-in needed."""
    found = client().call("identity", "get_branding")
    response = answer({**{k: found[k] for k in PUBLIC}, "logo_url": logo_url(found)})
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


@blp.route("/branding/logo", methods=["GET"])
@blp.response(200, description="The logo (PNG, JPEG or SVG), with its content type.")
@blp.alt_response(404, description="No logo is set.")
@blp.alt_response(304, description="Not modified: the `If-None-Match` ETag is the logo's.")
@blp.doc(parameters=[{"in": "query", "name": "v", "schema": {"type": "string"},
                      "description": "The logo's version (from `logo_url`): the answer may be cached for good."}])
def logo():
    """The operator's logo. Cacheable for a year under the `?v=` of GET /branding's `logo_url`."""
    found = client().call("identity", "get_branding").get("logo")
    if not found:
        abort(404)
    with blob_store().open(found["key"]) as stream:
        data = stream.read()
    response = Response(data, mimetype=found["content_type"])
    current = request.args.get("v") == found["sha256"][:16]
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable" if current else "public, max-age=60"
    response.headers["Content-Disposition"] = "inline"
    response.set_etag(found["sha256"][:32])
    return response.make_conditional(request)


@blp.route("/admin/branding", methods=["GET"])
@operator()
@blp.response(200, BrandingSettingsOut)
def get_branding():
    """The branding in use and what the operator set (null: the default)."""
    return answer(_settings(_identity("get_branding")))


@blp.route("/admin/branding", methods=["PATCH"])
@operator(OPERATOR_ADMIN)
@blp.arguments(BrandingIn)
@blp.response(200, BrandingSettingsOut)
def update_branding(_payload):
    """Change the display name, colours or email footer (null or "" = back to the default). A
    colour too light to read on white is refused with a darker shade that would pass."""
    return answer(_settings(_identity("update_branding", request.get_json())))


@blp.route("/admin/branding/logo", methods=["PUT"])
@operator(OPERATOR_ADMIN)
@blp.arguments(FileField, location="files")
@blp.response(200, BrandingSettingsOut)
def set_logo(_file):
    """Upload the logo (multipart `file`): PNG, JPEG or SVG up to 512 KB, read by its content;
    an SVG with scripts or references outside itself is refused."""
    return answer(_settings(_identity("set_branding_logo", upload(prefix="branding"))))


@blp.route("/admin/branding/logo", methods=["DELETE"])
@operator(OPERATOR_ADMIN)
@blp.response(200, BrandingSettingsOut)
def remove_logo():
    """Remove the logo: the name stands alone again."""
    return answer(_settings(_identity("remove_branding_logo")))
