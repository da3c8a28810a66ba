"""Sign-in abuse (issue 9): a burst of wrong passwords for one account is throttled, counted from
what identity records (its audit of evaluated failures), not from the answers; the real user is
back once the throttle's window passes; the answer time does not tell whether an email has an
account; fifty people redeeming one invite or reset token at once make one success; the reset,
sign-up and claim routes answer the same for known and unknown emails under a burst.

PITFALLS 15: the counts live in identity's database, so one burst spread over the gateway's
workers and identity's 32 workers at once is still counted once (the burst is concurrent).

The attacker's requests leave from loopback addresses of their own (signin_clients): the
throttle also counts per address, and the other suites on the shared stack sign in from
127.0.0.1."""
from __future__ import annotations

import random
import re
import statistics
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from urllib.parse import urlparse

import pytest
import requests

from services.identity.throttle import LIMITS
from tests.attack.report import Report
from tests.attack.signin_clients import client_from
from tests.conftest import BROKER, RUN_ID, _rabbitmqctl, _vhost_uri, wait_for
from tests.e2e import conftest as e2e
from tests.e2e.conftest import ADMIN, PASSWORD, get, invite_and_accept, post, sign_in

pytestmark = pytest.mark.e2e

PER_HOUR = 100              # issue 9: at most this many wrong passwords evaluated per account and hour
THROTTLE_SECONDS = 900      # the platform's default window and longest block (LOGIN_THROTTLE_SECONDS)
TIME_RATIO_BOUND = 1.5      # medians of known and unknown emails' answer times within this factor (without
                            # the dummy hash an unknown email answers ~10x faster; 2 loaded cores are noisy)
REDEEMERS = 50

FIGURES: dict[str, object] = {}


def summary() -> str:
    burst = FIGURES.get("burst", 150)
    ratio = FIGURES.get("ratio")
    successes = FIGURES.get("successes", {})
    return (f"{burst} wrong passwords: {FIGURES.get('evaluated', '?')} evaluated, "
            f"{FIGURES.get('throttled', '?')} throttled; enumeration time ratio "
            f"{'?' if ratio is None else f'{ratio:.2f}'}; {REDEEMERS} redemptions x {len(successes)} tokens: "
            + (", ".join(f"{n} success{'es' if n != 1 else ''} ({kind})" for kind, n in successes.items()) or "?"))


REPORT = Report("Sign-in abuse", summary)


# --- helpers --------------------------------------------------------------------------------
def _login(client: requests.Session, base: str, email: str, password: str) -> requests.Response:
    return client.post(f"{base}/api/v1/auth/login", json={"email": email, "password": password}, timeout=60)


def _all_at_once(calls: list, workers: int = 50) -> list:
    """Run the zero-argument ``calls`` concurrently; their results in order."""
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda call: call(), calls))


def _evaluated(stack, admin_token, email: str, since: datetime) -> int:
    """Failed sign-ins of ``email`` that reached the password check: identity audits each one
    (throttle.failed) and nothing else; a throttled attempt is refused before the check."""
    count, page = 0, 1
    while True:
        found = get(stack, "/api/v1/admin/audit-log", admin_token, params={
            "action": "auth.login_failed", "since": since.isoformat(), "per_page": 200, "page": page})
        assert found.status_code == 200, found.text
        body = found.json()
        count += sum(1 for entry in body["items"] if entry["target_id"] == email)
        if page * body["per_page"] >= body["total"]:
            return count
        page += 1


def _link_token(mailbox, email: str, subject: str, marker: str) -> str:
    message = mailbox.wait_for_subject(email, subject)
    return re.search(marker + r"#token=(\S+)", message.get_body(preferencelist=("plain",)).get_content())[1]


def _check_retry_after(answer: requests.Response) -> int:
    assert answer.json()["error"]["code"] == "throttled", answer.text
    wait = int(answer.headers["Retry-After"])
    # A block always ends: at most the window after the latest counted failure (which may be a
    # second or two after this attempt was checked, in a burst).
    assert 0 < wait <= THROTTLE_SECONDS + 5, wait
    return wait


@pytest.fixture(scope="module")
def customer(stack, admin_token):
    made = post(stack, "/api/v1/admin/customers", {
        "name": f"Sign-in abuse {uuid.uuid4().hex[:6]}", "email": f"office.{uuid.uuid4().hex[:6]}@abuse.example",
        "phone": "+31 10 555 0101", "postal_code": "3011 AA"}, admin_token)
    assert made.status_code == 201, made.text
    return made.json()


def _user(stack, mailbox, admin_token, customer) -> str:
    email = f"user.{uuid.uuid4().hex[:8]}@abuse.example"
    invite_and_accept(stack, mailbox, admin_token, customer["id"], email)
    return email


# --- 150 wrong passwords in a burst ---------------------------------------------------------
@pytest.mark.parametrize("burst", [150, pytest.param(600, marks=pytest.mark.slow)])
def test_a_burst_of_wrong_passwords_is_throttled_and_counted_from_identitys_record(
        stack, mailbox, admin_token, customer, burst):
    """PITFALLS 15: concurrent guesses through every gateway worker and identity worker are
    counted in one place; those past the limit are refused (429, Retry-After) before the
    password check, which is what an attacker's guesses cost the platform."""
    victim = _user(stack, mailbox, admin_token, customer)
    attacker = client_from()
    since = datetime.now(timezone.utc) - timedelta(seconds=1)
    answers = _all_at_once([lambda i=i: _login(attacker, stack.base, victim, f"guess-{i}-wrong")
                            for i in range(burst)])
    codes = Counter(a.status_code for a in answers)
    assert set(codes) <= {401, 429}, (codes, {a.status_code: a.text for a in answers})
    for answer in answers:
        if answer.status_code == 429:
            _check_retry_after(answer)
    evaluated = _evaluated(stack, admin_token, victim, since)
    REPORT.line(f"burst of {burst} wrong passwords from {attacker.address}: {codes[401]} answered 401, "
                f"{codes[429]} answered 429; identity's audit: {evaluated} evaluated")
    assert evaluated == codes[401]           # every 401 was a real check, every 429 was not
    # The bound is 100 an hour; the platform promises 5 a window (throttle.LIMITS), and
    # keeps it under concurrency only because it counts an attempt before checking it.
    assert evaluated <= min(PER_HOUR, LIMITS["account"]) and codes[429] == burst - evaluated
    # The account is blocked, for everyone (its key is the email) but not for good.
    blocked = _login(client_from(), stack.base, victim, PASSWORD)
    assert blocked.status_code == 429, blocked.text
    REPORT.line(f"the real user, from another address, meanwhile: 429, Retry-After {_check_retry_after(blocked)} s")
    if burst == 150:
        FIGURES.update(burst=burst, evaluated=evaluated, throttled=codes[429])


@pytest.fixture(scope="module")
def short_window_stack(mailbox, oidc_provider):
    """A stack of its own whose throttle window (and longest block) is seconds, not minutes, on
    a vhost of its own: on the run's vhost its services would share the RPC queues of the
    shared stack's, and answer its calls from other databases."""
    from services.common.topology import declare_all

    vhost = f"portal-test-{RUN_ID}-signin"
    user = urlparse(BROKER).username or "guest"
    assert _rabbitmqctl("add_vhost", vhost) and _rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
    own = e2e.Stack(_vhost_uri(vhost), mailbox.port, oidc_provider, name="signin-window")
    own.env["LOGIN_THROTTLE_SECONDS"] = "5"
    try:
        declare_all(own.env["AMQP_URI"])
        own.start()
        yield own
    finally:
        own.stop()
        _rabbitmqctl("delete_vhost", vhost)


def test_the_real_user_signs_in_again_once_the_window_passes(short_window_stack, mailbox):
    """The block of an attacked account ends: the real user is not locked out for good."""
    stack = short_window_stack
    admin = requests.post(f"{stack.base}/api/v1/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]},
                          timeout=15).json()["access_token"]
    made = post(stack, "/api/v1/admin/customers", {"name": f"Window {uuid.uuid4().hex[:6]}"}, admin).json()
    victim = _user(stack, mailbox, admin, made)
    attacker = client_from()
    answers = _all_at_once([lambda i=i: _login(attacker, stack.base, victim, f"guess-{i}") for i in range(40)])
    assert Counter(a.status_code for a in answers)[429] > 0
    real_user = client_from()
    refused = _login(real_user, stack.base, victim, PASSWORD)
    assert refused.status_code == 429 and _check_retry_after(refused) <= 5 + 5
    started = time.monotonic()
    back = wait_for(lambda: _login(real_user, stack.base, victim, PASSWORD).status_code == 200 or None,
                    timeout=60, interval=0.5, what="the real user to sign in after the window")
    assert back
    REPORT.line(f"LOGIN_THROTTLE_SECONDS=5: the attacked user was refused (429), then signed in "
                f"{time.monotonic() - started:.1f} s later")


# --- answer time does not tell whether an email has an account ------------------------------
@pytest.mark.parametrize("samples", [48, pytest.param(240, marks=pytest.mark.slow)])
def test_the_answer_time_does_not_reveal_whether_the_email_exists(stack, admin_token, samples):
    """Wrong passwords for emails with and without an account, interleaved in random order,
    one at a time: the medians of their answer times are within TIME_RATIO_BOUND. Each email is
    tried at most 4 times (the 5th failure blocks it) and each address at most 16 times."""
    tries = 4
    known = []
    for n in range(samples // tries):
        if n % 15 == 0:             # a customer has at most 20 portal users
            owner = post(stack, "/api/v1/admin/customers", {"name": f"Timed {uuid.uuid4().hex[:6]}"}, admin_token).json()
        email = f"timed.{uuid.uuid4().hex[:8]}@abuse.example"
        made = post(stack, f"/api/v1/admin/customers/{owner['id']}/users",
                    {"email": email, "name": "Timed", "role": "customer_booker"}, admin_token)
        assert made.status_code == 201, made.text
        known.append(email)
    unknown = [f"timed.{uuid.uuid4().hex[:8]}@abuse.example" for _ in known]
    plan = [(kind, email) for _ in range(tries) for pair in zip(known, unknown)
            for kind, email in zip(("known", "unknown"), pair)]
    random.shuffle(plan)
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    bodies: dict[str, set] = {"known": set(), "unknown": set()}
    client = None
    for n, (kind, email) in enumerate(plan):
        if n % 16 == 0:
            client = client_from()
        started = time.perf_counter()
        answer = _login(client, stack.base, email, "not-the-password-1")
        times[kind].append(time.perf_counter() - started)
        assert answer.status_code == 401, answer.text
        error = answer.json()["error"]
        bodies[kind].add((error["code"], error["message"]))
    assert bodies["known"] == bodies["unknown"] and len(bodies["known"]) == 1
    ratio = statistics.median(times["known"]) / statistics.median(times["unknown"])
    REPORT.line(f"{samples} wrong passwords each for known and unknown emails: median "
                f"{statistics.median(times['known']) * 1000:.1f} ms vs {statistics.median(times['unknown']) * 1000:.1f} ms,"
                f" ratio {ratio:.2f}")
    assert 1 / TIME_RATIO_BOUND <= ratio <= TIME_RATIO_BOUND
    if samples == 48:
        FIGURES["ratio"] = ratio


# --- fifty redemptions of one token ---------------------------------------------------------
def _one_success(kind: str, answers: list[requests.Response], success: int, refusals: set[int]) -> int:
    codes = Counter(a.status_code for a in answers)
    REPORT.line(f"{REDEEMERS} concurrent redemptions of one {kind} token: {dict(sorted(codes.items()))}")
    assert codes[success] == 1 and set(codes) <= {success, *refusals}, codes
    FIGURES.setdefault("successes", {})[kind] = codes[success]
    return next(i for i, a in enumerate(answers) if a.status_code == success)


def test_fifty_redemptions_of_one_invite_token_make_one_user(stack, mailbox, admin_token, customer):
    email = f"invited.{uuid.uuid4().hex[:8]}@abuse.example"
    sent = post(stack, f"/api/v1/admin/customers/{customer['id']}/invites", {"emails": [email]}, admin_token)
    assert sent.status_code == 201, sent.text
    token = _link_token(mailbox, email, "", "accept-invite")
    client = client_from()
    answers = _all_at_once([lambda i=i: client.post(f"{stack.base}/api/v1/invites/accept", timeout=60, json={
        "token": token, "name": f"Robin {i}", "password": f"{PASSWORD}-{i}"}) for i in range(REDEEMERS)])
    winner = _one_success("invite", answers, 201, {404, 409})
    me = get(stack, "/api/v1/me", sign_in(stack, email, f"{PASSWORD}-{winner}")).json()
    assert me["name"] == f"Robin {winner}"                  # the one success is the one in effect
    users = get(stack, f"/api/v1/admin/customers/{customer['id']}/users", admin_token).json()
    assert [u["email"] for u in (users["items"] if isinstance(users, dict) else users)].count(email) == 1


def test_fifty_redemptions_of_one_reset_token_set_one_password(stack, mailbox, admin_token, customer):
    email = _user(stack, mailbox, admin_token, customer)
    assert post(stack, "/api/v1/auth/password-reset", {"email": email}).status_code == 202
    token = _link_token(mailbox, email, "Reset your", "reset-password")
    client = client_from()
    answers = _all_at_once([lambda i=i: client.post(f"{stack.base}/api/v1/auth/password-reset/confirm", timeout=60,
                                                    json={"token": token, "password": f"reset-{i}-{PASSWORD}"})
                            for i in range(REDEEMERS)])
    winner = _one_success("reset", answers, 204, {404, 409})
    sign_in(stack, email, f"reset-{winner}-{PASSWORD}")       # the winner's password is the one set
    loser = (winner + 1) % REDEEMERS
    assert _login(client_from(), stack.base, email, f"reset-{loser}-{PASSWORD}").status_code == 401


# --- reset, sign-up and claim answer the same for known and unknown emails --------------------
def _same_answers(name: str, known: list[requests.Response], unknown: list[requests.Response],
                  statuses: set[int] | None = None) -> None:
    """Each status answers the same body for both; the same statuses, or (where a throttle's
    race decides how many pass) statuses within ``statuses``."""
    def shapes(answers):
        found: dict[int, set] = {}
        for a in answers:
            found.setdefault(a.status_code, set()).add(
                a.text if a.status_code < 300 else a.json()["error"]["code"] + a.json()["error"]["message"])
        return found
    ours, theirs = shapes(known), shapes(unknown)
    if statuses is None:
        assert ours.keys() == theirs.keys(), (ours, theirs)
    else:
        assert set(ours) | set(theirs) <= statuses, (ours, theirs)
    for status in ours.keys() & theirs.keys():
        assert ours[status] == theirs[status] and len(ours[status]) == 1, (ours, theirs)
    REPORT.line(f"{name}: {len(known)} known + {len(unknown)} unknown emails at once, the same answers "
                f"{dict(Counter(a.status_code for a in known))} / {dict(Counter(a.status_code for a in unknown))}")


def test_reset_signup_and_claim_answer_the_same_for_known_and_unknown_emails(stack, mailbox, admin_token, customer):
    known = _user(stack, mailbox, admin_token, customer)
    unknown = f"nobody.{uuid.uuid4().hex[:8]}@abuse.example"
    client = client_from()

    def burst(path, body_for):
        answers = _all_at_once([lambda i=i: client.post(f"{stack.base}{path}", json=body_for(i), timeout=60)
                                for i in range(40)], workers=40)
        return answers[0::2], answers[1::2]                 # even: known, odd: unknown

    # Password reset: always 202 {"status": "accepted"}.
    _same_answers("password reset", *burst("/api/v1/auth/password-reset",
                                            lambda i: {"email": known if i % 2 == 0 else unknown}))
    # Sign-up: the operator's self_signup is off on the shared stack (an operator-wide setting the
    # other suites rely on), so both are refused alike, before any email is looked at.
    signup = burst("/api/v1/auth/signup", lambda i: {
        "company_name": "Copycat Ltd", "name": "Cat", "password": PASSWORD,
        "email": known if i % 2 == 0 else f"n{i}.{unknown}"})
    _same_answers("sign-up (self_signup off)", *signup)
    # Claim: the customer's email on record with a wrong phone, against an unknown email; each
    # from its own address (claims count towards the throttle): the same 404 (and the same 429
    # once the guesses of that email pass the limit).
    answers = {}
    for kind, email in (("known", customer["email"]), ("unknown", unknown)):
        claimant = client_from()
        answers[kind] = _all_at_once([lambda: claimant.post(f"{stack.base}/api/v1/auth/claim", timeout=60, json={
            "email": email, "phone": "+31 10 000 0000", "postal_code": "3011 AA", "password": PASSWORD})
            for _ in range(10)], workers=10)
    assert 404 in {a.status_code for a in answers["known"]} & {a.status_code for a in answers["unknown"]}
    _same_answers("claim", answers["known"], answers["unknown"], {404, 429})
