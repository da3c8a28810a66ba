"""OpenID Connect sign-in, the browser's side: send the user to the provider, take the code it
sends back, exchange it (Authlib's OAuth2 client), and check the ID token (PyJWT against the
provider's published keys: signature, issuer, audience, expiry, and the nonce of this flow).

Nothing is kept on the server between the two legs: the flow's state and nonce travel in a
signed, short-lived, HttpOnly cookie, so a callback that did not start in this browser (login
CSRF) or came back too late is refused. Providers come from SSO_PROVIDERS."""
from __future__ import annotations

import json
import secrets
from functools import lru_cache

import jwt
import requests
from authlib.integrations.requests_client import OAuth2Session
from itsdangerous import BadSignature, URLSafeTimedSerializer

from services.common.config import env
from services.common.errors import NotFound, ServiceUnavailable, Unauthenticated
from services.common.keys import accepted_keys

COOKIE = "portal_sso"
FLOW_SECONDS = 600
HTTP_TIMEOUT = 10


def providers() -> dict[str, dict]:
    return json.loads(env("SSO_PROVIDERS") or "{}")


def _provider(name: str) -> dict:
    conf = providers().get(name)
    if conf is None:
        raise NotFound("No such sign-in provider.")
    return conf


@lru_cache(maxsize=16)
def _metadata(issuer: str) -> dict:
    try:
        response = requests.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration", timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        return response.json()
    except requests.RequestException as exc:
        raise ServiceUnavailable("The sign-in provider does not answer; try again shortly.") from exc


@lru_cache(maxsize=16)
def _keys(jwks_uri: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(jwks_uri, timeout=HTTP_TIMEOUT)


def _signing_key(jwks_uri: str, id_token: str):
    """The provider's key for this token: by its ``kid``, or the only key when the token names
    none (some providers publish a single key and leave ``kid`` out)."""
    kid = jwt.get_unverified_header(id_token).get("kid")
    keys = _keys(jwks_uri).get_signing_keys()
    match = [k for k in keys if k.key_id == kid] if kid else (keys if len(keys) == 1 else [])
    if not match:
        raise jwt.InvalidTokenError("no published key matches the ID token")
    return match[0].key


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(accepted_keys("sso-flow")[::-1], salt="sso")   # the last one signs


def callback_url(name: str) -> str:
    return f"{env('PORTAL_URL').rstrip('/')}/api/v1/auth/sso/{name}/callback"


def _client(name: str, conf: dict) -> OAuth2Session:
    return OAuth2Session(conf["client_id"], conf["client_secret"], scope="openid email profile",
                         redirect_uri=callback_url(name))


def start(name: str, portal_next: str | None = None) -> tuple[str, str]:
    """The provider's authorization URL, and the cookie that binds the flow to this browser.
    ``portal_next``: the web portal started it; the callback then signs the browser in (session
    cookie) and sends it to that portal path instead of answering JSON."""
    conf = _provider(name)
    meta = _metadata(conf["issuer"])
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    url, _ = _client(name, conf).create_authorization_url(meta["authorization_endpoint"], state=state,
                                                          nonce=nonce)
    flow = {"provider": name, "state": state, "nonce": nonce}
    if portal_next is not None:
        flow["next"] = portal_next if portal_next.startswith("/") and not portal_next.startswith("//") else "/"
    return url, _serializer().dumps(flow)


def portal_flow(cookie: str | None) -> bool:
    """Whether this browser's flow was started by the web portal (so a refusal goes back to its
    sign-in page rather than answering JSON)."""
    try:
        return "next" in _serializer().loads(cookie or "", max_age=FLOW_SECONDS)
    except BadSignature:
        return False


def finish(name: str, args: dict, cookie: str | None) -> dict:
    """The verified ID token claims of a completed flow; Unauthenticated otherwise."""
    conf = _provider(name)
    try:
        flow = _serializer().loads(cookie or "", max_age=FLOW_SECONDS)
    except BadSignature:
        raise Unauthenticated("This sign-in did not start here or took too long; start again.") from None
    # Bytes: compare_digest raises TypeError on a non-ASCII str (a 500 for a hostile `state`).
    if flow["provider"] != name or not secrets.compare_digest(flow["state"].encode(),
                                                              args.get("state", "").encode()):
        raise Unauthenticated("This sign-in did not start here; start again.")
    if "error" in args or "code" not in args:
        raise Unauthenticated(f"The provider did not sign you in ({args.get('error', 'no code')}).")
    meta = _metadata(conf["issuer"])
    try:
        token = _client(name, conf).fetch_token(meta["token_endpoint"], code=args["code"],
                                                grant_type="authorization_code", timeout=HTTP_TIMEOUT)
        id_token = token["id_token"]
        key = _signing_key(meta["jwks_uri"], id_token)
        claims = jwt.decode(id_token, key, audience=conf["client_id"], issuer=meta["issuer"],
                            algorithms=meta.get("id_token_signing_alg_values_supported", ["RS256"]))
    except (requests.RequestException, jwt.PyJWKClientError) as exc:
        raise ServiceUnavailable("The sign-in provider does not answer; try again shortly.") from exc
    except (jwt.InvalidTokenError, KeyError, ValueError) as exc:
        raise Unauthenticated(f"The provider's answer could not be verified ({type(exc).__name__}).") from None
    except Exception as exc:       # Authlib's OAuth errors: a refused or replayed code
        raise Unauthenticated(f"The provider refused the sign-in ({exc}).") from None
    if not secrets.compare_digest(str(claims.get("nonce", "")).encode(), flow["nonce"].encode()):
        raise Unauthenticated("This sign-in's answer belongs to another flow; start again.")
    return {**claims, "portal_next": flow.get("next")}
