"""Who the Schemathesis suite calls the API as, and from where.

Generated requests are destructive (sign-out, DELETE, revoke, cancel), so the suite never uses the
shared ``admin_token``: it makes a customer of its own with a customer admin, and an operator admin
of its own (``POST /admin/staff``, activated with the emailed temporary password), and signs them in
again whenever a generated request ended their session.

Every generated request leaves from 127.0.0.2 (still loopback): the sign-in throttle counts failures
per client address (services/identity/throttle.py), and hundreds of generated wrong logins from
127.0.0.1 would block every later suite's sign-ins on the shared stack for up to 15 minutes."""
from __future__ import annotations

import re
import uuid

import requests
from requests.adapters import HTTPAdapter

from tests.e2e.conftest import PASSWORD, auth, get, invite_and_accept, post, sign_in

FUZZ_SOURCE_ADDRESS = "127.0.0.2"
STAFF_PASSWORD = "harbour-violet-84-stone-fuzz"


class _FromAddress(HTTPAdapter):
    """An adapter whose connections leave from one local address."""

    def __init__(self, address: str):
        self._address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self._address, 0)
        super().init_poolmanager(*args, **kwargs)


def fuzz_session() -> requests.Session:
    session = requests.Session()
    session.mount("http://", _FromAddress(FUZZ_SOURCE_ADDRESS))
    return session


class Callers:
    """The suite's own customer admin and operator admin, with tokens renewed on demand."""

    def __init__(self, stack, mailbox, admin_token):
        self.stack = stack
        tag = uuid.uuid4().hex[:8]
        customer = post(stack, "/api/v1/admin/customers",
                        {"name": f"Fuzz {tag}", "email": f"desk.{tag}@fuzz.example"}, admin_token)
        assert customer.status_code == 201, customer.text
        self.customer_id = customer.json()["id"]
        self.customer_email = f"admin.{tag}@fuzz.example"
        self.customer_token = invite_and_accept(stack, mailbox, admin_token, self.customer_id,
                                                self.customer_email, "customer_admin")
        self.staff_email = f"staff.{tag}@operator.example"
        self.staff_token = self._activate_staff(mailbox, admin_token)

    def _activate_staff(self, mailbox, admin_token) -> str:
        created = post(self.stack, "/api/v1/admin/staff",
                       {"email": self.staff_email, "name": "Fuzz admin", "role": "operator_admin"}, admin_token)
        assert created.status_code == 201, created.text
        body = mailbox.wait_for_subject(self.staff_email, "Your").get_body(preferencelist=("plain",)).get_content()
        temporary = re.search(r"password: (\S+)", body)[1]
        limited = sign_in(self.stack, self.staff_email, temporary)
        changed = requests.patch(f"{self.stack.base}/api/v1/me", headers=auth(limited), timeout=15,
                                 json={"current_password": temporary, "new_password": STAFF_PASSWORD})
        assert changed.status_code == 200, changed.text
        return sign_in(self.stack, self.staff_email, STAFF_PASSWORD)

    def token_for(self, path: str) -> str:
        """Operator routes as our operator admin, every other route as our customer admin."""
        return self.staff_token if path.startswith("/api/v1/admin") else self.customer_token

    def renew_if_ended(self) -> bool:
        """Sign in again whichever caller a generated request signed out (or whose token it revoked);
        True when one was renewed."""
        renewed = False
        if get(self.stack, "/api/v1/me", self.customer_token).status_code == 401:
            self.customer_token, renewed = sign_in(self.stack, self.customer_email, PASSWORD), True
        if get(self.stack, "/api/v1/me", self.staff_token).status_code == 401:
            self.staff_token, renewed = sign_in(self.stack, self.staff_email, STAFF_PASSWORD), True
        return renewed
