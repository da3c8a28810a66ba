"""The payment provider adapters: the test processor on a real SQLite database (its idempotency,
concurrency, refusal of card numbers, timeouts, refunds and signed webhooks), the Stripe adapter
against a local HTTP server that answers as Stripe documents, and the registry."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

import pytest
from sqlalchemy import create_engine, func, inspect, select, text

import services.billing.providers as providers
from services.billing.providers import get_provider
from services.billing.providers.base import (IgnoredEvent, InvalidSignature, PaymentProvider,
                                             ProviderError, ProviderTimeout, ProviderUnavailable,
                                             minor_units)
from services.billing.providers.stripe_provider import StripeProvider
from services.billing.providers.test_provider import TestProvider, for_engine, intents, sign_event
from services.common.money import from_minor

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path}/testpay.db"


@pytest.fixture
def engine(db_url):
    engine = create_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pay(engine):
    return TestProvider(engine, timeout_seconds=0.05)


def charge(pay, token="tok_visa", key="k1", amount="10.50", currency="EUR", **extra):
    return pay.charge(amount=Decimal(amount), currency=currency, payment_method=token,
                      idempotency_key=key, description="Invoice INV-1", metadata=extra or {"payment_id": "7"})


def dump_rows(engine) -> list[tuple[str, dict]]:
    """Every row of every table of the provider, as (table, row)."""
    rows = []
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            rows += [(table, dict(r._mapping)) for r in conn.execute(text(f'SELECT * FROM "{table}"'))]
    return rows


# --- money on the wire ---------------------------------------------------------------------------
def test_minor_units_are_exact_and_refuse_floats_and_extra_decimals():
    assert minor_units(Decimal("10.50"), "EUR") == 1050
    assert minor_units(Decimal("500"), "JPY") == 500
    assert minor_units(Decimal("1.234"), "KWD") == 1234
    assert from_minor(1050, "EUR") == Decimal("10.50") and from_minor(500, "JPY") == Decimal(500)
    with pytest.raises(ValueError):
        minor_units(Decimal("10.505"), "EUR")      # billing rounds; a provider must not
    with pytest.raises(ValueError):
        minor_units(Decimal("0"), "EUR")
    with pytest.raises(TypeError):
        minor_units(10.5, "EUR")


# --- the test processor --------------------------------------------------------------------------
@pytest.mark.parametrize("token, brand, last4", [("tok_visa", "visa", "4242"),
                                                 ("tok_mastercard", "mastercard", "4444"),
                                                 ("tok_amex", "amex", "8431")])
def test_good_cards_are_charged(pay, engine, token, brand, last4):
    intent = charge(pay, token)
    assert intent.status == "succeeded" and intent.failure_code is None
    assert (intent.amount, intent.currency) == (Decimal("10.50"), "EUR")
    assert intent.card == {"brand": brand, "last4": last4}
    assert intent.metadata == {"payment_id": "7"}
    assert pay.charge_count() == 1 and pay.charge_count("k1") == 1
    assert pay.retrieve(intent.id) == intent
    with engine.connect() as conn:    # the processor's books hold integer minor units
        assert conn.scalar(select(intents.c.amount_minor)) == 1050
    assert set(t for t in inspect(engine).get_table_names()) == {
        "testpay_intents", "testpay_refunds", "testpay_idempotency_keys"}


def test_currencies_without_cents_are_charged_in_whole_units(pay, engine):
    intent = charge(pay, amount="500", currency="jpy")
    assert (intent.amount, intent.currency) == (Decimal(500), "JPY")
    with engine.connect() as conn:
        assert conn.scalar(select(intents.c.amount_minor)) == 500


@pytest.mark.parametrize("token, code", [("tok_chargeDeclined", "card_declined"),
                                         ("tok_insufficientFunds", "insufficient_funds"),
                                         ("tok_expiredCard", "expired_card"),
                                         ("tok_incorrectCvc", "incorrect_cvc")])
def test_declines_carry_their_code_and_charge_nothing(pay, token, code):
    intent = charge(pay, token)
    assert intent.status == "declined" and intent.failure_code == code and intent.failure_message
    assert pay.charge_count() == 0
    assert charge(pay, token) == intent        # the same key replays the decline


def test_three_d_secure_pass(pay):
    intent = charge(pay, "tok_threeDSecureRequired")
    assert intent.status == "requires_action"
    assert intent.next_action["type"] == "three_d_secure" and intent.next_action["challenge_id"]
    assert pay.charge_count() == 0
    done = pay.confirm(intent.id, {"challenge_response": "pass"})
    assert done.status == "succeeded" and done.next_action is None and pay.charge_count() == 1
    # answering again changes nothing: a settled intent is returned as it is
    assert pay.confirm(intent.id, {"challenge_response": "fail"}) == done
    assert pay.charge_count() == 1


def test_three_d_secure_fail_and_nonsense(pay):
    intent = charge(pay, "tok_threeDSecureRequired")
    with pytest.raises(ProviderError) as bad:
        pay.confirm(intent.id, {"challenge_response": "maybe"})
    assert bad.value.code == "invalid_request" and pay.retrieve(intent.id).status == "requires_action"
    failed = pay.confirm(intent.id, {"challenge_response": "fail"})
    assert failed.status == "declined" and failed.failure_code == "authentication_failed"
    assert pay.charge_count() == 0
    with pytest.raises(ProviderError) as missing:
        pay.confirm("pi_nope", {"challenge_response": "pass"})
    assert missing.value.code == "resource_missing"


def test_timeout_charges_and_a_replay_or_retrieve_shows_it(pay):
    with pytest.raises(ProviderTimeout):
        charge(pay, "tok_timeout", key="pay-42", payment_id="42")
    assert pay.charge_count("pay-42") == 1      # the money moved although no answer came
    replay = charge(pay, "tok_timeout", key="pay-42", payment_id="42")   # answers at once now
    assert replay.status == "succeeded" and replay.metadata == {"payment_id": "42"}
    assert pay.retrieve(replay.id).status == "succeeded"
    assert pay.charge_count() == 1
    # the webhook it would post finds billing's payment through the metadata
    event = pay.parse_event(*pay.webhook_for(replay.id))
    assert (event.id, event.status, event.metadata) == (replay.id, "succeeded", {"payment_id": "42"})


def test_unavailable_records_nothing_so_a_retry_is_a_new_attempt(pay, engine):
    with pytest.raises(ProviderUnavailable):
        charge(pay, "tok_unavailable", key="k9")
    assert [t for t, _ in dump_rows(engine)] == []
    assert charge(pay, "tok_visa", key="k9").status == "succeeded"


@pytest.mark.parametrize("number", ["4242424242424242", "4242 4242 4242 4242", "4000-0566-5566-5556",
                                    "378282246310005"])
def test_a_raw_card_number_is_refused_and_kept_nowhere(pay, engine, db_url, number):
    intent = charge(pay, number, key="raw")
    assert intent.status == "declined" and intent.failure_code == "invalid_payment_method"
    assert intent.card is None and number not in repr(intent)
    digits = number.replace(" ", "").replace("-", "")
    rows = dump_rows(engine)
    assert any(t == "testpay_intents" and r["payment_method"] == "rejected" for t, r in rows)
    for table, row in rows:
        for value in row.values():
            assert digits not in str(value) and number not in str(value), (table, row)
    raw = Path(db_url.removeprefix("sqlite:///")).read_bytes()     # not even in a free page
    assert digits.encode() not in raw and number.encode() not in raw
    assert pay.charge_count() == 0


def test_unknown_token_is_declined(pay):
    intent = charge(pay, "tok_madeUp")
    assert intent.status == "declined" and intent.failure_code == "invalid_payment_method"


def test_same_key_same_intent_and_mismatches_are_refused(pay):
    first = charge(pay, key="k")
    assert charge(pay, key="k") == first and pay.charge_count() == 1
    for changed in ({"amount": "10.51"}, {"currency": "USD"}, {"token": "tok_mastercard"}):
        with pytest.raises(ProviderError) as err:
            charge(pay, key="k", **{"amount": "10.50", "token": "tok_visa", **changed})
        assert err.value.code == "idempotency_mismatch"
    assert pay.charge_count() == 1


def test_twenty_concurrent_duplicates_charge_once(pay, engine):
    barrier, results, errors = threading.Barrier(20), [], []

    def attempt():
        barrier.wait()
        try:
            results.append(charge(pay, key="double-click"))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 20 and len({r.id for r in results}) == 1
    assert pay.charge_count() == 1
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(intents)) == 1


_WORKER = """
import sys, threading
from decimal import Decimal
from sqlalchemy import create_engine
from services.billing.providers.test_provider import TestProvider
url, mode, target, me = sys.argv[1:]
# SQLite: wait up to 30 s for the file lock instead of 5, twenty writers queue for it
pay = TestProvider(create_engine(url, **({"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {})))
out, errors, barrier = [], [], threading.Barrier(5)
def go(i):
    barrier.wait()
    try:
        if mode == "charge":
            out.append(pay.charge(amount=Decimal("3.00"), currency="EUR", payment_method="tok_visa",
                                  idempotency_key=target, description="", metadata={}).id)
        else:
            out.append(pay.refund(target, Decimal("6.00"), f"refund-{me}-{i}").status)
    except Exception as exc:
        errors.append(repr(exc))
ts = [threading.Thread(target=go, args=(i,)) for i in range(5)]
[t.start() for t in ts]; [t.join() for t in ts]
print(",".join(sorted(out)))
sys.exit("\\n".join(errors) if errors else 0)
"""


def race(db_url: str, mode: str, target: str) -> list[str]:
    """Four processes of five real threads each, started together on one database; what every
    thread got back."""
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, db_url, mode, target, str(n)], cwd=ROOT,
                              env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for n in range(4)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outputs]
    return ",".join(out.strip() for out, _ in outputs).split(",")


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_url(request, db_url):
    """The processor's database for the races: the SQLite file, and a fresh PostgreSQL database
    when the suite has a server (TEST_DATABASE_URL): row locks there are not SQLite's file lock."""
    if request.param == "sqlite":
        yield db_url
        return
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL)")
    from sqlalchemy.engine import make_url

    from services.common.migrations import drop_database, ensure_database

    url = make_url(server).set(database=f"testpay_{uuid.uuid4().hex[:8]}").render_as_string(hide_password=False)
    ensure_database(url)
    yield url
    drop_database(url)


def test_several_processes_with_real_threads_charge_once(shared_url):
    pay = TestProvider(shared_url)
    pay.charge_count()          # the tables exist before the processes race for the key
    ids = race(shared_url, "charge", "shared")
    assert len(ids) == 20 and len(set(ids)) == 1            # every thread got the one intent
    assert pay.charge_count("shared") == 1 and pay.charge_count() == 1
    pay.engine.dispose()


def test_several_processes_refunding_at_once_never_exceed_the_charge(shared_url):
    pay = TestProvider(shared_url)
    intent = charge(pay, amount="10.00")
    # twenty refunds of 6.00 of a 10.00 charge, several at the same moment: exactly one fits
    assert sorted(race(shared_url, "refund", intent.id)) == ["failed"] * 19 + ["succeeded"]
    assert pay.refunded(intent.id) == Decimal("6.00")
    pay.engine.dispose()


def test_its_writes_do_not_depend_on_the_callers_transaction(pay, engine):
    with engine.connect() as conn:        # billing's transaction, which it then rolls back
        conn.execute(text("SELECT 1"))
        intent = charge(pay)
        conn.rollback()
    assert pay.retrieve(intent.id).status == "succeeded" and pay.charge_count() == 1


def test_refunds_up_to_the_captured_amount(pay):
    intent = charge(pay, amount="10.00")
    first = pay.refund(intent.id, Decimal("4.00"), "r1")
    assert first.status == "succeeded" and first.failure_code is None
    assert pay.refund(intent.id, Decimal("4.00"), "r1") == first          # replay: no second refund
    too_much = pay.refund(intent.id, Decimal("6.01"), "r2")
    assert (too_much.status, too_much.failure_code) == ("failed", "amount_too_large")
    assert pay.refund(intent.id, Decimal("6.00"), "r3").status == "succeeded"
    assert pay.refund(intent.id, Decimal("0.01"), "r4").failure_code == "amount_too_large"
    assert pay.refunded(intent.id) == Decimal("10.00")
    with pytest.raises(ProviderError) as err:
        pay.refund(intent.id, Decimal("5.00"), "r1")
    assert err.value.code == "idempotency_mismatch"
    with pytest.raises(ProviderError) as err:
        pay.refund(intent.id, Decimal("1.00"), "k1")   # the charge's key: one namespace, as at Stripe
    assert err.value.code == "idempotency_mismatch"


def test_refund_of_an_unpaid_or_unknown_intent(pay):
    declined = charge(pay, "tok_chargeDeclined")
    assert pay.refund(declined.id, Decimal("1.00"), "r").failure_code == "charge_not_succeeded"
    with pytest.raises(ProviderError) as err:
        pay.refund("pi_missing", Decimal("1.00"), "r-missing")
    assert err.value.code == "resource_missing"


def test_webhook_signature(pay):
    intent = charge(pay)
    body, headers = pay.sign_event(intent)
    assert pay.parse_event(body, headers) == intent
    assert pay.parse_event(body, {k.title(): v for k, v in headers.items()}) == intent  # any case
    with pytest.raises(InvalidSignature):
        pay.parse_event(body.replace(b"succeeded", b"declined"), headers)       # tampered
    with pytest.raises(InvalidSignature):
        pay.parse_event(*sign_event(intent, timestamp=int(time.time()) - 301))   # stale
    with pytest.raises(InvalidSignature):
        pay.parse_event(*sign_event(intent, timestamp=int(time.time()) + 301))   # from the future
    with pytest.raises(InvalidSignature):
        pay.parse_event(body, {})
    forged = "t=%d,v1=%s" % (time.time(), hmac.new(b"guess", body, hashlib.sha256).hexdigest())
    with pytest.raises(InvalidSignature):
        pay.parse_event(body, {"testpay-signature": forged})


# --- Stripe, against a local server that answers as Stripe documents -------------------------------
API_KEY, WHSEC = "sk_test_fake", "whsec_test_secret"


class FakeStripe(BaseHTTPRequestHandler):
    """Enough of Stripe's API for the adapter: PaymentIntents, refunds, idempotent replays."""
    state: dict

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:          # the client gave up (the timeout test)
            pass

    def _form(self) -> list[tuple[str, str]]:
        return parse_qsl(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode(),
                         keep_blank_values=True)

    def do_GET(self):
        if self.headers.get("Authorization") != f"Bearer {API_KEY}":
            return self._send(401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}})
        pi = self.state["intents"].get(urlparse(self.path).path.rsplit("/", 1)[-1])
        if pi is None:
            return self._send(404, {"error": {"type": "invalid_request_error", "code": "resource_missing",
                                              "message": "No such payment_intent"}})
        self._send(200, pi)

    def do_POST(self):
        form = self._form()
        key = self.headers.get("Idempotency-Key")
        self.state["requests"].append((self.path, dict(self.headers), form))
        if key in self.state["replies"]:
            return self._send(*self.state["replies"][key])
        if self.path.endswith("/cancel"):
            return self._send(*self._cancel(self.path.split("/")[3], dict(form)))
        status, body = (self._payment_intent(dict(form), form) if self.path == "/v1/payment_intents"
                        else self._refund(dict(form)))
        if status not in (429, 500):           # Stripe keeps the result of what it executed
            self.state["replies"][key] = (status, body)
        if self.path == "/v1/payment_intents" and form and dict(form)["payment_method"] == "pm_card_slow":
            time.sleep(1.0)                     # carried out, but answered after the client's timeout
        self._send(status, body)

    def _payment_intent(self, f: dict, form: list) -> tuple[int, dict]:
        pm = f["payment_method"]
        if pm == "pm_card_500":
            return 500, {"error": {"type": "api_error", "message": "Something went wrong"}}
        if pm == "pm_card_429":
            return 429, {"error": {"type": "invalid_request_error", "code": "rate_limit"}}
        n = len(self.state["intents"]) + 1
        pi = {"id": f"pi_{n}", "object": "payment_intent", "amount": int(f["amount"]),
              "currency": f["currency"], "client_secret": f"pi_{n}_secret_abc", "status": "succeeded",
              "metadata": {k[9:-1]: v for k, v in form if k.startswith("metadata[")},
              "last_payment_error": None, "next_action": None,
              "payment_method": {"id": "pm_1", "object": "payment_method", "type": "card",
                                 "card": {"brand": "visa", "last4": "4242", "exp_month": 12,
                                          "exp_year": 2030, "fingerprint": "Xt5EWLLDS7FJjR1c"}}}
        self.state["intents"][pi["id"]] = pi
        if pm == "pm_card_authenticationRequired":
            pi.update(status="requires_action", next_action={"type": "use_stripe_sdk", "use_stripe_sdk": {}})
        elif pm in ("pm_card_chargeDeclinedInsufficientFunds", "pm_card_chargeDeclined"):
            error = {"type": "card_error", "code": "card_declined", "message": "Your card was declined.",
                     "decline_code": "insufficient_funds" if "Insufficient" in pm else "generic_decline"}
            pi.update(status="requires_payment_method", last_payment_error=error)
            if "Insufficient" in pm:   # Stripe sends the PaymentIntent with the error when there is one
                error = {**error, "payment_intent": pi}
            return 402, {"error": error}
        return 200, pi

    def _cancel(self, intent_id: str, f: dict) -> tuple[int, dict]:
        pi = self.state["intents"][intent_id]
        if pi["status"] in ("succeeded", "canceled"):       # Stripe refuses to cancel those
            return 400, {"error": {"type": "invalid_request_error", "code": "payment_intent_unexpected_state",
                                   "message": f"This PaymentIntent's status is {pi['status']}."}}
        pi.update(status="canceled", cancellation_reason=f.get("cancellation_reason"), next_action=None)
        return 200, pi

    def _refund(self, f: dict) -> tuple[int, dict]:
        pi = self.state["intents"][f["payment_intent"]]
        refunded = self.state["refunded"].get(pi["id"], 0)
        if int(f["amount"]) > pi["amount"] - refunded:
            return 400, {"error": {"type": "invalid_request_error", "param": "amount", "message":
                                   "Refund amount is greater than unrefunded amount on charge"}}
        self.state["refunded"][pi["id"]] = refunded + int(f["amount"])
        return 200, {"id": f"re_{len(self.state['requests'])}", "object": "refund", "status": "succeeded",
                     "amount": int(f["amount"]), "payment_intent": pi["id"]}


@pytest.fixture
def stripe_server():
    state = {"requests": [], "replies": {}, "intents": {}, "refunded": {}}
    handler = type("Handler", (FakeStripe,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()
    server.server_close()


@pytest.fixture
def stripe(stripe_server):
    return StripeProvider(API_KEY, WHSEC, base_url=stripe_server[0], timeout=0.3)


def stripe_charge(stripe, pm="pm_card_visa", key="sk-1", amount="10.50", currency="EUR"):
    return stripe.charge(amount=Decimal(amount), currency=currency, payment_method=pm, idempotency_key=key,
                         description="Invoice INV-1", metadata={"payment_id": "7"})


def test_stripe_success_sends_what_stripe_expects(stripe, stripe_server):
    intent = stripe_charge(stripe)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", Decimal("10.50"), "EUR")
    assert intent.card == {"brand": "visa", "last4": "4242"}      # nothing more of the card
    assert intent.metadata == {"payment_id": "7"}
    path, headers, form = stripe_server[1]["requests"][0]
    fields = dict(form)
    assert path == "/v1/payment_intents"
    assert headers["Idempotency-Key"] == "sk-1" and headers["Authorization"] == f"Bearer {API_KEY}"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert (fields["amount"], fields["currency"], fields["payment_method"], fields["confirm"]) == (
        "1050", "eur", "pm_card_visa", "true")
    assert fields["metadata[payment_id]"] == "7" and ("expand[]", "payment_method") in form
    assert stripe_charge(stripe, key="sk-2", amount="500", currency="JPY").amount == Decimal(500)
    assert dict(stripe_server[1]["requests"][1][2])["amount"] == "500"
    assert isinstance(stripe, PaymentProvider)


def test_stripe_402_declines_become_declined_intents(stripe):
    funds = stripe_charge(stripe, "pm_card_chargeDeclinedInsufficientFunds")
    assert (funds.status, funds.failure_code) == ("declined", "insufficient_funds")
    assert funds.id == "pi_1" and funds.failure_message == "Your card was declined."
    generic = stripe_charge(stripe, "pm_card_chargeDeclined", key="sk-2")
    assert (generic.status, generic.failure_code) == ("declined", "card_declined")


def test_stripe_requires_action_then_confirm_reads_the_outcome(stripe, stripe_server):
    intent = stripe_charge(stripe, "pm_card_authenticationRequired")
    assert intent.status == "requires_action"
    assert intent.next_action["type"] == "three_d_secure"
    assert intent.next_action["client_secret"] == "pi_1_secret_abc"
    stripe_server[1]["intents"][intent.id]["status"] = "succeeded"     # Stripe.js finished the challenge
    assert stripe.confirm(intent.id, {}).status == "succeeded"


def test_stripe_cancels_an_abandoned_challenge_but_not_a_settled_payment(stripe, stripe_server):
    waiting = stripe_charge(stripe, "pm_card_authenticationRequired")
    cancelled = stripe.cancel(waiting.id)
    assert cancelled.status == "declined" and cancelled.failure_code == "abandoned"
    paid = stripe_charge(stripe, "pm_card_visa", key="sk-2")
    assert stripe.cancel(paid.id).status == "succeeded"          # settled meanwhile: kept


def test_stripe_timeout_is_unknown_outcome_and_the_key_replays_it(stripe, stripe_server):
    with pytest.raises(ProviderTimeout):
        stripe_charge(stripe, "pm_card_slow", key="slow")
    deadline = time.monotonic() + 10
    while "slow" not in stripe_server[1]["replies"] and time.monotonic() < deadline:
        time.sleep(0.02)
    replay = stripe_charge(stripe, "pm_card_slow", key="slow")
    assert replay.status == "succeeded" and stripe.retrieve(replay.id).status == "succeeded"
    assert len(stripe_server[1]["intents"]) == 1        # charged once


def test_stripe_unreachable_busy_and_broken(stripe_server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    with pytest.raises(ProviderUnavailable):
        stripe_charge(StripeProvider(API_KEY, WHSEC, base_url=f"http://127.0.0.1:{closed_port}", timeout=1))
    stripe = StripeProvider(API_KEY, WHSEC, base_url=stripe_server[0], timeout=1)
    with pytest.raises(ProviderUnavailable):
        stripe_charge(stripe, "pm_card_429")
    with pytest.raises(ProviderTimeout):        # Stripe documents a 500 as indeterminate
        stripe_charge(stripe, "pm_card_500")
    with pytest.raises(ProviderError) as err:
        StripeProvider("sk_wrong", WHSEC, base_url=stripe_server[0]).retrieve("pi_1")
    assert err.value.code == "provider_misconfigured"
    with pytest.raises(ProviderError) as err:
        stripe.retrieve("pi_404")
    assert err.value.code == "resource_missing"


def test_stripe_refunds(stripe, stripe_server):
    intent = stripe_charge(stripe, amount="10.00")
    assert stripe.refund(intent.id, Decimal("4.00"), "rf-1").status == "succeeded"
    path, headers, form = stripe_server[1]["requests"][-1]
    assert path == "/v1/refunds" and headers["Idempotency-Key"] == "rf-1"
    assert dict(form) == {"payment_intent": intent.id, "amount": "400"}
    too_much = stripe.refund(intent.id, Decimal("6.01"), "rf-2")
    assert (too_much.status, too_much.failure_code) == ("failed", "amount_too_large")


def stripe_signed(payload: bytes, t: int | None = None, secret: str = WHSEC) -> dict:
    """The header exactly as Stripe documents it, computed here independently of the adapter."""
    t = int(time.time()) if t is None else t
    sig = hmac.new(secret.encode(), f"{t}.{payload.decode()}".encode(), hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={sig},v0=ignored"}


def stripe_event(kind: str, **pi) -> bytes:
    obj = {"id": "pi_9", "object": "payment_intent", "amount": 2000, "currency": "gbp",
           "status": "succeeded", "metadata": {"payment_id": "9"}, "payment_method": "pm_1", **pi}
    return json.dumps({"id": "evt_1", "object": "event", "type": kind, "data": {"object": obj}}).encode()


def test_stripe_webhook_signature(stripe):
    body = stripe_event("payment_intent.succeeded")
    intent = stripe.parse_event(body, stripe_signed(body))
    assert (intent.id, intent.status, intent.amount, intent.currency) == ("pi_9", "succeeded", Decimal("20.00"), "GBP")
    assert intent.metadata == {"payment_id": "9"}
    with pytest.raises(InvalidSignature):
        stripe.parse_event(body.replace(b"2000", b"1"), stripe_signed(body))          # tampered body
    with pytest.raises(InvalidSignature):
        stripe.parse_event(body, stripe_signed(body, t=int(time.time()) - 301))       # stale
    with pytest.raises(InvalidSignature):
        stripe.parse_event(body, stripe_signed(body, secret="whsec_other"))
    rotated = stripe_signed(body, secret="whsec_old")["Stripe-Signature"] + "," + \
        stripe_signed(body)["Stripe-Signature"].split(",")[1]
    assert stripe.parse_event(body, {"stripe-signature": rotated}).status == "succeeded"


def test_stripe_webhook_event_types(stripe):
    failed = stripe_event("payment_intent.payment_failed", status="requires_payment_method",
                          last_payment_error={"type": "card_error", "code": "expired_card",
                                              "message": "Your card has expired."})
    intent = stripe.parse_event(failed, stripe_signed(failed))
    assert (intent.status, intent.failure_code) == ("declined", "expired_card")
    processing = stripe_event("payment_intent.processing", status="processing")
    assert stripe.parse_event(processing, stripe_signed(processing)).status == "processing"
    other = stripe_event("charge.refunded")
    with pytest.raises(IgnoredEvent):
        stripe.parse_event(other, stripe_signed(other))


# --- the registry -------------------------------------------------------------------------------
@pytest.fixture
def registry(monkeypatch):
    providers.clear_cache()
    for name in ("BILLING_PAYMENT_PROVIDER", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_URL"):
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch
    providers.clear_cache()


def test_registry_defaults_to_the_test_provider_once_per_process(registry, engine, tmp_path):
    first = get_provider(engine=engine)
    assert isinstance(first, TestProvider) and first.engine is engine
    assert get_provider() is first and get_provider("test", engine=engine) is first
    with pytest.raises(ValueError):
        get_provider("test", engine=create_engine(f"sqlite:///{tmp_path}/other.db"))
    assert isinstance(for_engine(engine), TestProvider)


def test_registry_builds_stripe_from_the_environment(registry):
    with pytest.raises(RuntimeError, match="STRIPE_API_KEY"):
        get_provider("stripe")
    registry.setenv("BILLING_PAYMENT_PROVIDER", "stripe")
    registry.setenv("STRIPE_API_KEY", API_KEY)
    registry.setenv("STRIPE_WEBHOOK_SECRET", WHSEC)
    registry.setenv("STRIPE_API_URL", "http://127.0.0.1:9")
    stripe = get_provider()
    assert isinstance(stripe, StripeProvider) and stripe.base_url == "http://127.0.0.1:9"
    assert get_provider("stripe") is stripe
    with pytest.raises(ValueError, match="unknown payment provider"):
        get_provider("paypal")
