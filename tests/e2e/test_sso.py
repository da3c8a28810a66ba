"""Signing in through a real OpenID Connect provider (oidc-provider-mock): the browser's round
trip followed with a cookie-keeping HTTP session."""
import uuid
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from tests.e2e.conftest import get, invite_and_accept, post

pytestmark = pytest.mark.e2e


def provider_user(oidc_provider, email, verified=True):
    sub = f"sub-{uuid.uuid4().hex[:8]}"
    response = requests.put(f"{oidc_provider}/users/{sub}", json={"email": email, "email_verified": verified},
                            timeout=10)
    assert response.status_code < 300, response.text
    return sub


def sso_round_trip(stack, sub, browser=None):
    """What a browser does: start here, sign in at the provider as ``sub``, come back."""
    browser = browser or requests.Session()
    started = browser.get(f"{stack.base}/api/v1/auth/sso/mock/start", allow_redirects=False, timeout=10)
    assert started.status_code == 302
    at_provider = browser.post(started.headers["Location"], data={"sub": sub}, allow_redirects=False, timeout=10)
    assert at_provider.status_code in (302, 303), at_provider.text[:300]
    back = at_provider.headers["Location"]
    assert back.startswith(f"{stack.base}/api/v1/auth/sso/mock/callback")
    return browser.get(back, timeout=15), back


def test_sso_signs_in_an_existing_user_of_the_same_verified_email(stack, mailbox, admin_token, oidc_provider):
    assert get(stack, "/api/v1/auth/sso", admin_token).json() == {"providers": ["mock"]}
    customer = post(stack, "/api/v1/admin/customers", {"name": f"SSO {uuid.uuid4().hex[:6]}"}, admin_token).json()
    email = f"sso.{uuid.uuid4().hex[:6]}@client.example"
    invite_and_accept(stack, mailbox, admin_token, customer["id"], email)
    sub = provider_user(oidc_provider, email)
    answer, _ = sso_round_trip(stack, sub)
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    assert get(stack, "/api/v1/me", token).json()["email"] == email


def test_sso_never_creates_access_on_its_own(stack, oidc_provider):
    stranger = provider_user(oidc_provider, f"stranger.{uuid.uuid4().hex[:6]}@nowhere.example")
    answer, _ = sso_round_trip(stack, stranger)
    assert answer.status_code == 401 and "invitation" in answer.json()["error"]["message"]
    unverified = provider_user(oidc_provider, "admin@example.com", verified=False)
    answer, _ = sso_round_trip(stack, unverified)
    assert answer.status_code == 401


def test_a_callback_not_started_in_this_browser_is_refused(stack, mailbox, admin_token, oidc_provider):
    email = f"csrf.{uuid.uuid4().hex[:6]}@client.example"
    customer = post(stack, "/api/v1/admin/customers", {"name": f"CSRF {uuid.uuid4().hex[:6]}"}, admin_token).json()
    invite_and_accept(stack, mailbox, admin_token, customer["id"], email)
    sub = provider_user(oidc_provider, email)
    victim = requests.Session()
    started = victim.get(f"{stack.base}/api/v1/auth/sso/mock/start", allow_redirects=False, timeout=10)
    at_provider = victim.post(started.headers["Location"], data={"sub": sub}, allow_redirects=False, timeout=10)
    callback = at_provider.headers["Location"]
    forged = requests.get(callback, timeout=15)             # another browser: no flow cookie
    assert forged.status_code == 401
    assert parse_qs(urlparse(callback).query)["state"]
