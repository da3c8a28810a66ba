"""Access tokens, the error hierarchy across RPC, and the event envelope."""
import time

import jwt
import pytest
from nameko.exceptions import serialize

from services.common import errors, tokens
from services.common.caller import CUSTOMER_ADMIN, CallerContext
from services.common.events import CATALOGUE, asyncapi_document, make_envelope, read_envelope
from services.common.keys import derive_key


def test_token_carries_the_caller_and_expires():
    ctx = CallerContext(role=CUSTOMER_ADMIN, user_id="u1", customer_id="c1")
    token, ttl = tokens.issue(ctx, ttl=60)
    assert ttl == 60
    assert tokens.read(token)[0] == ctx
    old, _ = tokens.issue(ctx, ttl=60, now=time.time() - 3600)
    with pytest.raises(errors.Unauthenticated, match="expired"):
        tokens.read(old)


def test_token_signed_with_another_key_or_algorithm_is_refused():
    claims = {"iss": tokens.ISSUER, "sub": "u", "role": "operator_admin", "jti": "x",
              "exp": int(time.time()) + 60}
    with pytest.raises(errors.Unauthenticated):
        tokens.read(jwt.encode(claims, b"another key" * 3, algorithm="HS256"))
    with pytest.raises(errors.Unauthenticated):
        tokens.read(jwt.encode(claims, None, algorithm="none"))
    # a token minted for another purpose's key (the caller-context key) is not an access token
    with pytest.raises(errors.Unauthenticated):
        tokens.read(jwt.encode(claims, derive_key("caller-context"), algorithm="HS256"))


@pytest.mark.parametrize("exc", [
    errors.NotFound("No such order.", {"id": "o1"}),
    errors.Conflict("Already submitted.", {"status": "submitted"}),
    errors.ValidationFailed.of({"name": ["Missing data for required field."]}),
    errors.Forbidden(),
    errors.Unauthenticated("Sign in."),
])
def test_errors_cross_rpc_as_the_same_class_and_body(exc):
    """What nameko puts on the wire comes back as the same error with the same API body."""
    wire = serialize(exc)
    back = errors.from_remote(wire["exc_type"], wire["exc_args"])
    assert type(back) is type(exc)
    assert back.to_body() == exc.to_body()
    assert back.status == exc.status


def test_foreign_errors_are_not_ours():
    assert errors.from_remote("KeyError", ["x"]) is None


def test_envelope_is_checked_against_the_catalogue():
    data = {"order_id": "o1", "reference": "R-1", "status": "submitted"}
    env = make_envelope("order.submitted", data, customer_id="c1", correlation_id="req-1")
    assert read_envelope(env) is env
    assert env["version"] == 1 and env["customer_id"] == "c1" and env["correlation_id"] == "req-1"
    with pytest.raises(errors.ValidationFailed):
        make_envelope("order.submitted", {"order_id": "o1"}, customer_id="c1")   # status missing
    with pytest.raises(errors.ValidationFailed):
        make_envelope("order.teleported", data, customer_id="c1")
    with pytest.raises(errors.ValidationFailed):
        read_envelope({"id": "not-a-uuid", "type": "order.submitted"})
    with pytest.raises(errors.ValidationFailed):
        read_envelope(["not", "an", "object"])


def test_asyncapi_document_lists_every_event_type_with_its_schema():
    doc = asyncapi_document()
    assert set(doc["channels"]) == set(CATALOGUE)
    payload = doc["channels"]["customer.created"]["subscribe"]["message"]["payload"]
    assert "client_id" in payload["properties"]["data"]["properties"]
    assert payload["properties"]["type"]["const"] == "customer.created"
