"""Sign-in through an OpenID Connect provider (SSO_PROVIDERS)."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import jsonify, make_response, redirect, request
from flask_smorest import Blueprint

from gateway import sso
from gateway.auth import client_address
from gateway.blueprints.auth import set_session
from gateway.rpc import answer, client
from services.common.errors import PortalError
from services.identity.schemas import LoginOut

blp = Blueprint("sso", __name__, url_prefix="/api/v1/auth/sso",
                description="Sign in with Google, Microsoft or another OpenID Connect provider.")


@blp.route("", methods=["GET"])
@blp.doc(responses={"200": {"description": "`{providers: [names]}`"}})
def list_providers():
    """The providers this portal accepts."""
    return jsonify({"providers": sorted(sso.providers())})


@blp.route("/<string:provider>/start", methods=["GET"])
@blp.doc(responses={"302": {"description": "To the provider's sign-in page."}})
def start(provider):
    """Go to the provider; it comes back to `/callback`. With `?next=/path` (the web portal), the
    callback signs the browser in with the session cookie and goes to that portal path."""
    url, flow = sso.start(provider, request.args.get("next"))
    response = redirect(url, code=302)
    response.set_cookie(sso.COOKIE, flow, max_age=sso.FLOW_SECONDS, httponly=True, samesite="Lax",
                        secure=request.is_secure, path="/api/v1/auth/sso")
    return response


@blp.route("/<string:provider>/callback", methods=["GET"])
@blp.response(200, LoginOut)
def callback(provider):
    """Where the provider sends the browser back: links the provider's identity to the portal
    user of the same, verified email (or accepts that address's pending invitation) and signs
    in. Never creates access on its own."""
    cookie = request.cookies.get(sso.COOKIE)
    try:
        claims = sso.finish(provider, request.args.to_dict(), cookie)
        result = client().call("identity", "sso_sign_in", provider, claims["sub"], claims.get("email"),
                               bool(claims.get("email_verified")), address=client_address())
    except PortalError as exc:
        if not sso.portal_flow(cookie):
            raise
        # the portal's sign-in page says why, in the browser that asked
        response = redirect(f"/sign-in?{urlencode({'sso_error': exc.message})}", code=303)
        response.delete_cookie(sso.COOKIE, path="/api/v1/auth/sso")
        return response
    if claims.get("portal_next"):
        response = set_session(redirect(claims["portal_next"], code=303), result)
    else:
        response = make_response(answer(result))
    response.delete_cookie(sso.COOKIE, path="/api/v1/auth/sso")
    return response
