"""The caller context: signed by the gateway, verified by services, scoping every query."""
import time

import pytest

from services.common import caller as c
from services.common.caller import CallerContext
from services.common.errors import Forbidden, NotFound, Unauthenticated

CUSTOMER = CallerContext(role=c.CUSTOMER_BOOKER, user_id="u1", customer_id="cust-a")
ADMIN = CallerContext(role=c.OPERATOR_ADMIN, user_id="u0")


def test_signed_context_round_trips():
    assert c.verify(c.sign(CUSTOMER, time.time() + 5)) == CUSTOMER


def test_pitfall_09_a_forged_or_altered_context_is_refused():
    """PITFALLS 9: context headers are not authentication; only a signed context counts."""
    token = c.sign(CUSTOMER, time.time() + 5)
    payload, mac = token.split(".")
    forged = c.sign(CallerContext(role=c.CUSTOMER_BOOKER, user_id="u1", customer_id="cust-b"),
                    time.time() + 5).split(".")[0]
    ctx = c.verify(f"{forged}.{mac}")
    assert ctx.problem and ctx.customer_id is None
    with pytest.raises(Unauthenticated):
        ctx.require()
    assert c.verify("not-a-token").problem
    assert c.verify(payload).problem


def test_pitfall_09_a_context_header_that_is_not_a_string_is_refused_not_raised():
    """A JSON object (or a list, a number) in the header: refused like any forgery; raising
    here would leave the RPC unanswered (the Caller dependency must never raise)."""
    for header in ({"role": c.OPERATOR_ADMIN, "user_id": "u0"}, ["x"], 42):
        ctx = c.verify(header)
        assert ctx.problem and ctx.role == c.ANONYMOUS


def test_expired_context_is_refused():
    ctx = c.verify(c.sign(CUSTOMER, time.time() - 1))
    assert ctx.problem == "caller context has expired"


def test_a_customer_role_without_customer_id_cannot_be_signed_nor_accepted():
    with pytest.raises(ValueError):
        c.sign(CallerContext(role=c.CUSTOMER_ADMIN, user_id="u"), time.time() + 5)
    # Even a correctly signed body is refused if it lacks the customer (defence in depth).
    import base64
    import hashlib
    import hmac
    import json

    from services.common.keys import derive_key

    body = base64.urlsafe_b64encode(json.dumps({"role": "customer_booker", "user_id": "u",
                                                "exp": time.time() + 5}).encode()).rstrip(b"=").decode()
    mac = base64.urlsafe_b64encode(hmac.new(derive_key("caller-context"), body.encode(),
                                            hashlib.sha256).digest()).rstrip(b"=").decode()
    assert "customer_id" in c.verify(f"{body}.{mac}").problem


def test_no_context_is_anonymous_and_cannot_pass_require():
    ctx = c.verify(None)
    assert ctx.role == c.ANONYMOUS
    with pytest.raises(Unauthenticated):
        ctx.require()
    assert ctx.require(c.ANONYMOUS) is ctx


def test_roles_are_checked():
    with pytest.raises(Forbidden):
        CUSTOMER.require_operator()
    with pytest.raises(Forbidden):
        CallerContext(role=c.DISPATCHER, user_id="d").require_operator(c.OPERATOR_ADMIN)
    assert ADMIN.require_operator() is ADMIN


def test_customer_scope_is_always_its_own_customer():
    assert CUSTOMER.scope() == "cust-a"
    assert CUSTOMER.scope("cust-a") == "cust-a"
    with pytest.raises(NotFound):          # another customer's id looks exactly like a missing one
        CUSTOMER.scope("cust-b")
    assert ADMIN.scope("cust-b") == "cust-b"
    assert ADMIN.scope() is None           # staff: all customers
    with pytest.raises(Forbidden):
        CallerContext(role=c.DRIVER, user_id="drv").scope("cust-a")
