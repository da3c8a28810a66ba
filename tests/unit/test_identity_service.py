"""The identity service's entrypoints, driven by nameko's worker_factory on a real database
(SQLite here; the integration suite runs them on PostgreSQL), with no broker."""
import json

import pytest
from sqlalchemy import select

from services.common import tokens
from services.common.caller import CUSTOMER_BOOKER, OPERATOR_ADMIN, CallerContext
from services.common.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationFailed
from services.identity.models import Base, Customer, User
from tests.unit.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, call


def test_login_returns_a_token_for_the_right_password_only(factory):
    answer = call(factory, None, "login", {"email": "Boss@Operator.example ", "password": ADMIN_PASSWORD})
    assert answer["token_type"] == "Bearer" and answer["user"]["role"] == OPERATOR_ADMIN
    ctx, _ = tokens.read(answer["access_token"])
    assert ctx.role == OPERATOR_ADMIN and ctx.user_id == answer["user"]["id"]
    for wrong in ({"email": ADMIN_EMAIL, "password": "nope"}, {"email": "nobody@x.example", "password": "x"}):
        with pytest.raises(Unauthenticated, match="Email or password is wrong"):
            call(factory, None, "login", wrong)
    with pytest.raises(ValidationFailed):
        call(factory, None, "login", {"email": "not-an-email", "password": "x"})


def test_password_is_stored_as_argon2id(factory):
    with factory() as session:
        stored = session.scalar(select(User.password_hash).where(User.email == ADMIN_EMAIL))
    assert stored.startswith("$argon2id$") and ADMIN_PASSWORD not in stored


def test_me_answers_for_the_caller_only(factory, admin):
    assert call(factory, admin, "get_me")["email"] == ADMIN_EMAIL
    with pytest.raises(Unauthenticated):
        call(factory, CallerContext(role="anonymous"), "get_me")
    with pytest.raises(NotFound):
        call(factory, CallerContext(role=CUSTOMER_BOOKER, user_id=admin.user_id, customer_id="other"), "get_me")


def test_creating_a_customer_writes_it_and_its_event_in_one_transaction(factory, admin):
    created = call(factory, admin, "create_customer", {"name": "Quick Couriers", "location_sharing": "none"})
    assert created["client_id"].startswith("C") and len(created["client_id"]) == 8
    with factory() as session:
        outbox = session.scalars(select(Base.OutboxMessage).order_by(Base.OutboxMessage.seq.desc())).first()
    event = json.loads(outbox.body)
    assert event["type"] == "customer.created" and event["customer_id"] == created["id"]
    assert event["data"]["location_sharing"] == "none" and outbox.published_at is None


def test_a_failed_write_leaves_neither_row_nor_event(factory, admin):
    with factory() as session:
        before = (session.query(Customer).count(), session.query(Base.OutboxMessage).count())
    with pytest.raises(ValidationFailed) as err:
        call(factory, admin, "create_customer", {"name": "X", "customer_id": "forced", "client_id": "C0000000"})
    assert set(err.value.details["fields"]) == {"customer_id", "client_id"}   # never set by callers
    with factory() as session:
        assert (session.query(Customer).count(), session.query(Base.OutboxMessage).count()) == before


def test_idempotency_key_returns_the_first_answer_and_creates_once(factory, admin):
    body = {"name": "Once Only Ltd"}
    first = call(factory, admin, "create_customer", body, idempotency_key="k-1")
    again = call(factory, admin, "create_customer", body, idempotency_key="k-1")
    assert again == first
    with factory() as session:
        assert session.query(Customer).filter_by(name="Once Only Ltd").count() == 1
    with pytest.raises(Conflict):
        call(factory, admin, "create_customer", {"name": "Something else"}, idempotency_key="k-1")


def test_customers_and_staff_rights(factory, admin):
    customer = CallerContext(role=CUSTOMER_BOOKER, user_id="u", customer_id="c")
    with pytest.raises(Forbidden):
        call(factory, customer, "create_customer", {"name": "Mine"})
    with pytest.raises(Forbidden):
        call(factory, customer, "list_customers", {})
    dispatcher = CallerContext(role="dispatcher", user_id="d")
    assert call(factory, dispatcher, "list_customers", {"per_page": 1})["per_page"] == 1
    with pytest.raises(Forbidden):
        call(factory, dispatcher, "create_customer", {"name": "Not allowed"})


def test_listing_pages_sorts_and_searches(factory, admin):
    for name in ("Zeta Haulage", "Alpha Haulage"):
        call(factory, admin, "create_customer", {"name": name})
    page = call(factory, admin, "list_customers", {"q": "haulage", "sort": "name", "per_page": 1})
    assert page["total"] == 2 and [c["name"] for c in page["items"]] == ["Alpha Haulage"]
    with pytest.raises(ValidationFailed):
        call(factory, admin, "list_customers", {"sort": "password_hash"})
    with pytest.raises(ValidationFailed):
        call(factory, admin, "list_customers", {"per_page": 500})


def test_update_emits_customer_updated(factory, admin):
    created = call(factory, admin, "create_customer", {"name": "Mover"})
    updated = call(factory, admin, "update_customer", created["id"], {"require_dimensions": True})
    assert updated["require_dimensions"] is True
    with factory() as session:
        last = session.scalars(select(Base.OutboxMessage).order_by(Base.OutboxMessage.seq.desc())).first()
    assert last.type == "customer.updated"
    with pytest.raises(NotFound):
        call(factory, admin, "update_customer", "no-such-id", {"name": "x"})


def test_renewing_claims_that_are_not_a_session_is_401_not_a_500(factory, admin):
    """Found by the authorization matrix (tests/attack/test_authorization_matrix.py)."""
    for claims in ({}, {"jti": "x"}, ["jti", "iat"]):
        with pytest.raises(Unauthenticated):
            call(factory, admin, "renew_session", claims)
