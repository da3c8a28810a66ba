"""Invitations by real email, acceptance through the link, a customer's own account, API keys,
and sign-in throttling: over HTTP against the running stack."""
import re
import uuid

import pytest
import requests

from tests.conftest import wait_for
from tests.e2e.conftest import PASSWORD, auth, get, invite_and_accept, post, sign_in

pytestmark = pytest.mark.e2e

@pytest.fixture(scope="module")
def customer(stack, admin_token):
    created = post(stack, "/api/v1/admin/customers", {"name": f"Flows {uuid.uuid4().hex[:6]}"}, admin_token)
    assert created.status_code == 201
    return created.json()


def test_an_invited_person_signs_in_from_the_emailed_link(stack, mailbox, admin_token, customer):
    email = f"robin.{uuid.uuid4().hex[:6]}@client.example"
    token = invite_and_accept(stack, mailbox, admin_token, customer["id"], email, "customer_admin")
    me = get(stack, "/api/v1/me", token).json()
    assert me["email"] == email and me["customer_id"] == customer["id"]
    own = get(stack, "/api/v1/customer", token).json()
    assert own["client_id"] == customer["client_id"]
    assert get(stack, "/api/v1/admin/customers", token).status_code == 403


def test_an_api_key_acts_for_its_customer_only(stack, mailbox, admin_token, customer):
    token = invite_and_accept(stack, mailbox, admin_token, customer["id"],
                              f"keys.{uuid.uuid4().hex[:6]}@client.example", "customer_admin")
    created = post(stack, "/api/v1/api-keys", {"name": "ERP link"}, token)
    assert created.status_code == 201
    secret = created.json()["secret"]
    own = get(stack, "/api/v1/customer", secret)
    assert own.status_code == 200 and own.json()["id"] == customer["id"]
    listed = get(stack, "/api/v1/api-keys", token).json()
    assert [k["prefix"] for k in listed] == [created.json()["prefix"]] and "secret" not in listed[0]
    assert get(stack, "/api/v1/api-keys", "pk_0000_not-a-key").status_code == 401


def test_pitfall_15_failed_sign_ins_are_counted_across_gateway_processes_then_429(stack):
    """PITFALLS 15: a count kept in one process's memory would let each gateway worker allow its
    own five guesses; the counts live in identity's database, so guesses spread over two gateway
    processes are throttled after five in all."""
    gateways = [stack.base, stack.another_gateway()]
    email = f"guess.{uuid.uuid4().hex[:6]}@nobody.example"
    codes = [requests.post(f"{gateways[i % 2]}/api/v1/auth/login", timeout=15,
                           json={"email": email, "password": "wrong guess"}).status_code
             for i in range(5)]
    assert codes == [401] * 5
    for base in gateways:
        throttled = requests.post(f"{base}/api/v1/auth/login", timeout=15,
                                  json={"email": email, "password": "wrong guess"})
        assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
        assert throttled.json()["error"]["code"] == "throttled"


def test_a_forgotten_password_is_reset_from_the_emailed_link(stack, mailbox, admin_token, customer):
    email = f"forgot.{uuid.uuid4().hex[:6]}@client.example"
    old_token = invite_and_accept(stack, mailbox, admin_token, customer["id"], email)
    for address in (email, f"nobody.{uuid.uuid4().hex[:6]}@client.example"):
        asked = post(stack, "/api/v1/auth/password-reset", {"email": address})
        assert asked.status_code == 202 and asked.json() == {"status": "accepted"}
    message = mailbox.wait_for_subject(email, "Reset your")
    token = re.search(r"reset-password#token=(\S+)", message.get_body(preferencelist=("plain",)).get_content())[1]
    new_password = "granite-swallow-53-orbit"
    done = post(stack, "/api/v1/auth/password-reset/confirm", {"token": token, "password": new_password})
    assert done.status_code == 204
    assert post(stack, "/api/v1/auth/password-reset/confirm",
                {"token": token, "password": new_password}).status_code == 404
    sign_in(stack, email, new_password)
    wait_for(lambda: get(stack, "/api/v1/me", old_token).status_code == 401,
             what="the session from before the reset to end")


def test_signing_out_and_switching_access_off_end_sessions(stack, mailbox, admin_token, customer):
    email = f"leaver.{uuid.uuid4().hex[:6]}@client.example"
    first = invite_and_accept(stack, mailbox, admin_token, customer["id"], email)
    assert post(stack, "/api/v1/auth/logout", {}, first).status_code == 204
    assert get(stack, "/api/v1/me", first).status_code == 401     # at once on this worker
    second = sign_in(stack, email)
    me = get(stack, "/api/v1/me", second).json()
    switched = requests.patch(f"{stack.base}/api/v1/admin/users/{me['id']}", json={"has_portal_access": False},
                              headers=auth(admin_token), timeout=15)
    assert switched.status_code == 200
    wait_for(lambda: get(stack, "/api/v1/me", second).status_code == 401,
             what="the session of a user switched off to end")
    refused = post(stack, "/api/v1/auth/login", {"email": email, "password": PASSWORD})
    assert refused.status_code == 401


def test_staff_activate_with_the_emailed_temporary_password(stack, mailbox, admin_token):
    email = f"dispatch.{uuid.uuid4().hex[:6]}@operator.example"
    created = post(stack, "/api/v1/admin/staff", {"email": email, "name": "Dale", "role": "dispatcher"},
                   admin_token)
    assert created.status_code == 201 and created.json()["must_change_password"] is True
    body = mailbox.wait_for_subject(email, "Your").get_body(preferencelist=("plain",)).get_content()
    temporary = re.search(r"password: (\S+)", body)[1]
    limited = sign_in(stack, email, temporary)
    blocked = get(stack, "/api/v1/admin/customers", limited)
    assert blocked.status_code == 403 and blocked.json()["error"]["details"]["reason"] == "password_change_required"
    changed = requests.patch(f"{stack.base}/api/v1/me", headers=auth(limited), timeout=15,
                             json={"current_password": temporary, "new_password": "harbour-violet-84-stone"})
    assert changed.status_code == 200 and changed.json()["must_change_password"] is False
    full = sign_in(stack, email, "harbour-violet-84-stone")
    assert get(stack, "/api/v1/admin/customers", full).status_code == 200
