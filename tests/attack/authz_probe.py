"""Asking the running stack one cell of the matrix: a real HTTP request with a role's credential,
or a real RPC (nameko's ClusterRpcProxy on the stack's broker) with the caller context that role
would carry, and the answer reduced to the table's vocabulary:

- ``401`` / ``403``: refused by authentication / authorization (HTTP status, or the services'
  Unauthenticated / Forbidden errors over RPC);
- ``allow``: got past authorization: any other answer below 500 (2xx, or 400/404/409/413/422 for
  the placeholder ids and bodies the probe sends: the caller was let through to validation or
  lookup);
- ``422`` (RPC only): the method validated its arguments before it asked who calls, and the
  placeholder arguments stopped there: this probe cannot see that role's decision (the gateway's
  row for the same action can; a forged context never gets this far, PITFALLS 9);
- anything else (a 5xx, a non-platform error over RPC, no answer) is ``error: ...`` and fails
  whatever the table says.

Ids in paths and arguments are fresh random ones (nothing to find), bodies are ``{}``: the probe
asks "may this role ask?", never changes anything real.
"""
from __future__ import annotations

import json
import time
import uuid

import requests

from services.common import caller as caller_ctx
from tests.e2e.conftest import auth

WRITES = ("POST", "PUT", "PATCH")
REFUSALS = {"Unauthenticated": "401", "Forbidden": "403"}
VALIDATION = {"ValidationFailed", "BadRequest"}


def cell_of_status(status: int) -> str:
    if status in (401, 403):
        return str(status)
    return "allow" if status < 500 else f"error: HTTP {status}"


def http(stack, method: str, path: str, credential: str | None, *, body=None, params=None,
         headers=None) -> requests.Response:
    """One request; an SSE stream is opened and closed at once (its status is what counts)."""
    sent = {**(auth(credential) if credential else {}), **(headers or {})}
    stream = path.endswith("/stream")
    response = requests.request(method, f"{stack.base}{path}", json=body if method in WRITES else None,
                                params=params, headers=sent, timeout=(5, 20), stream=stream)
    if stream:
        if response.status_code == 200:
            response._content = b""         # an open event stream: its status is the answer
        else:
            response.content                # a refusal is an ordinary small body
        response.close()
    return response


def json_of(response):
    """The JSON body, or None (not JSON, or an event stream)."""
    if not response.headers.get("Content-Type", "").startswith("application/json") or not response.content:
        return None
    return response.json()


def random_values(route) -> dict[str, str]:
    return {name: str(uuid.uuid4()) for name in route.params}


# --- RPC ---------------------------------------------------------------------------------------
def placeholder_args(signature) -> list:
    """Positional arguments of the right kinds for an RPC method (required parameters only)."""
    args = []
    for name, param in list(signature.parameters.items())[1:]:            # [0] is self
        if param.default is not param.empty:
            break
        kind = str(param.annotation)
        args.append({} if "dict" in kind else [] if "list" in kind else 0.0 if "float" in kind
                    else False if "bool" in kind else 1 if kind == "int" else str(uuid.uuid4()))
    return args


def signed(ctx: caller_ctx.CallerContext, seconds: float = 3600) -> str:
    return caller_ctx.sign(ctx, time.time() + seconds)


def forged_contexts(operator_user_id: str) -> dict[str, object]:
    """Caller headers anyone who can publish on the broker could send (PITFALLS 9), each claiming
    to be the operator admin."""
    import base64
    import hashlib
    import hmac

    claim = {"role": caller_ctx.OPERATOR_ADMIN, "user_id": operator_user_id, "exp": time.time() + 3600}
    payload = base64.urlsafe_b64encode(json.dumps(claim).encode()).rstrip(b"=").decode()
    guessed = hmac.new(b"dev-only-secret-change-me", payload.encode(), hashlib.sha256).digest()
    return {
        "unsigned JSON": json.dumps(claim),
        "signed with a guessed key": f"{payload}.{base64.urlsafe_b64encode(guessed).rstrip(b'=').decode()}",
        "payload of a valid signature swapped": _swapped(claim),
        "expired signature": caller_ctx.sign(caller_ctx.CallerContext(caller_ctx.OPERATOR_ADMIN, operator_user_id),
                                             time.time() - 5),
        "a JSON object, not a string": claim,
    }


def _swapped(claim: dict) -> str:
    """A real signature of a harmless context, glued onto an operator payload."""
    import base64

    real = signed(caller_ctx.CallerContext(caller_ctx.ANONYMOUS))
    payload = base64.urlsafe_b64encode(json.dumps(claim).encode()).rstrip(b"=").decode()
    return f"{payload}.{real.split('.')[1]}"


class RpcCaller:
    """ClusterRpcProxy per caller header (nameko sends context_data as ``nameko.<key>`` headers)."""

    def __init__(self, amqp_uri: str, header, timeout: float = 20):
        from nameko.standalone.rpc import ClusterRpcProxy

        context = {} if header is None else {caller_ctx.CONTEXT_KEY: header}
        self._proxy = ClusterRpcProxy({"AMQP_URI": amqp_uri}, context_data=context, timeout=timeout)
        self.rpc = self._proxy.start()

    def cell(self, method) -> str:
        from nameko.exceptions import RemoteError, RpcTimeout

        from services.common.errors import from_remote

        try:
            getattr(getattr(self.rpc, method.service), method.name)(*placeholder_args(method.signature))
            return "allow"
        except RemoteError as exc:
            if exc.exc_type in REFUSALS:
                return REFUSALS[exc.exc_type]
            if exc.exc_type in VALIDATION:
                return "422"                   # stopped at argument validation: see the module's doc
            if from_remote(exc.exc_type, ()) is not None:
                return "allow"                 # a platform error past the caller check (404, 409 ...)
            return f"error: {exc.exc_type}: {str(exc.value)[:120]}"
        except RpcTimeout:
            return "error: no answer"

    def stop(self) -> None:
        self._proxy.stop()
