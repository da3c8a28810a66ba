"""Schemathesis against the running stack's ``/api/v1/openapi.json``, with real credentials.

Every operation of the document gets Hypothesis-generated requests, valid ones (positive) and
invalid ones (negative), sent to the real gateway (gunicorn, RabbitMQ, PostgreSQL) and checked:
  - no 5xx (``not_a_server_error``): bad input is a 4xx, never a crash;
  - every answer matches the document (``response_schema_conformance``, ``status_code_conformance``,
    ``content_type_conformance``, ``response_headers_conformance``);
  - declared auth is enforced (``ignored_auth``): an operation documented with ``bearerAuth`` that
    answered 2xx is sent again without a token and with a wrong one, and must refuse both.

Callers: our own customer admin, and our own operator admin for ``/admin`` routes
(tests/attack/schemathesis_callers.py), signed in again when a generated request signed them out.
Exclusions, by rule (listed in the report):
  - operations whose answer is an endless Server-Sent Events stream (``text/event-stream``): no
    finite response to validate (the SSE routes are covered by tests/e2e/test_tracking_flows.py);
  - operations that change operator-wide settings (``PATCH /admin/settings``): other suites on the
    shared stack rely on them.
A body's ``customer_id`` sent to an ``/admin`` route is pinned to our own customer, so generated
rate cards, webhooks and invoices never apply to other suites' customers.

    bin/portal test tests/attack/test_schemathesis.py              the short form (few examples)
    PORTAL_SLOW=1 bin/portal test tests/attack/test_schemathesis.py  also the long form
        (50 requests per operation and mode; PORTAL_SCHEMATHESIS_EXAMPLES=N for another number)
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (content_type_conformance, ignored_auth,
                                               response_headers_conformance, response_schema_conformance,
                                               status_code_conformance)

from tests.attack.report import Report
from tests.attack.schemathesis_callers import Callers, fuzz_session
from tests.e2e.conftest import auth

pytestmark = pytest.mark.e2e

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance,
          content_type_conformance, response_headers_conformance, ignored_auth]
OPERATOR_WIDE = {"PATCH /api/v1/admin/settings"}
REQUEST_TIMEOUT = 60                     # generous: up to five stacks share two cores


@dataclass
class Tally:
    cases: int = 0
    operations: set = field(default_factory=set)            # labels fuzzed (by either form)
    statuses: Counter = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)     # operation label -> first failure
    excluded: dict[str, str] = field(default_factory=dict)     # operation label -> rule
    renewals: int = 0
    http_server_refusals: int = 0


TALLY = Tally()


def summary_line() -> str:
    return (f"Schemathesis: {TALLY.cases} cases over {len(TALLY.operations)} operations, "
            f"{len(TALLY.failures)} failures")


REPORT = Report("schemathesis", summary_line)


@pytest.fixture(scope="module")
def callers(stack, mailbox, admin_token):
    return Callers(stack, mailbox, admin_token)


@pytest.fixture(scope="module")
def api_schema(stack):
    return schemathesis.openapi.from_url(f"{stack.base}/api/v1/openapi.json", wait_for_schema=60)


def exclusion(operation) -> str | None:
    """Why an operation is left out (None: it is fuzzed)."""
    answers = operation.definition.raw.get("responses", {})
    if any("text/event-stream" in (answer.get("content") or {}) for answer in answers.values()):
        return "an endless text/event-stream answer"
    if operation.label in OPERATOR_WIDE:
        return "changes operator-wide settings other suites rely on"
    return None


def pin_customer(case, callers: Callers) -> None:
    """Generated operator writes apply to our own customer only."""
    if case.operation.path.startswith("/api/v1/admin") and isinstance(case.body, dict) \
            and "customer_id" in case.body:
        case.body["customer_id"] = callers.customer_id


def failure_text(error: BaseException) -> str:
    failures = error.exceptions if isinstance(error, FailureGroup) else [error]
    return "; ".join(f"{getattr(f, 'title', type(f).__name__)}: {str(getattr(f, 'message', f))[:300]}"
                     for f in failures)


HTTP_SERVER_REFUSALS = {400, 414, 431}   # gunicorn: malformed request, request line or headers too long


def http_server_refusal(operation, mode, case, response) -> None:
    """An answer without the gateway's X-Request-ID came from gunicorn before the app ran: its
    refusal of a request line or headers over its limits (a generated query string of 4 KB), in
    text/html. That is HTTP, not the API, so the document's checks do not apply; it must still be
    a refusal, never a 5xx."""
    TALLY.http_server_refusals += 1
    if response.status_code not in HTTP_SERVER_REFUSALS:
        TALLY.failures.setdefault(operation.label, f"[{mode.value}] the HTTP server answered "
                                  f"{response.status_code} before the app\n    reproduce: {case.as_curl_command()}")


def fuzz_operation(operation, stack, callers: Callers, session, examples: int, fixed: bool) -> None:
    """Send ``examples`` positive and ``examples`` negative generated requests; keep the first
    failure of the operation (no shrinking: the failing request itself is in the message, as a
    curl command). ``fixed``: the same requests on every run (the short form, in CI)."""
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        @settings(max_examples=examples, deadline=None, database=None, derandomize=fixed,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
                  report_multiple_bugs=False)
        @given(case=operation.as_strategy(generation_mode=mode))
        def send(case):
            pin_customer(case, callers)
            TALLY.cases += 1
            sent = {"base_url": stack.base, "session": session, "timeout": REQUEST_TIMEOUT,
                    "headers": auth(callers.token_for(operation.path))}
            try:
                response = case.call(**sent)
                TALLY.statuses[response.status_code // 100] += 1
                if not any(name.lower() == "x-request-id" for name in response.headers):
                    http_server_refusal(operation, mode, case, response)
                else:
                    case.validate_response(response, checks=CHECKS, headers=sent["headers"],
                                           transport_kwargs=sent)
            except (Failure, FailureGroup) as error:
                TALLY.failures.setdefault(operation.label, f"[{mode.value}] {failure_text(error)}\n"
                                          f"    reproduce: {case.as_curl_command()}")
            finally:
                session.cookies.clear()          # a generated cookie sign-in must not authenticate the next case
                if TALLY.cases % 25 == 0 or operation.path.startswith(("/api/v1/auth", "/api/v1/api-keys")):
                    TALLY.renewals += callers.renew_if_ended()

        try:
            send()
        except Unsatisfiable:
            # No request of this operation can break its schema (no parameters, no body): nothing
            # negative to send.
            assert mode is GenerationMode.NEGATIVE, operation.label


def run(api_schema, stack, callers: Callers, examples: int, fixed: bool) -> None:
    session = fuzz_session()
    for result in api_schema.get_all_operations():
        operation = result.ok()
        why = exclusion(operation)
        if why:
            if operation.label not in TALLY.excluded:
                REPORT.line(f"excluded  {operation.label}: {why}")
            TALLY.excluded[operation.label] = why
            continue
        TALLY.operations.add(operation.label)
        fuzz_operation(operation, stack, callers, session, examples, fixed)
        if operation.label in TALLY.failures:
            REPORT.line(f"FAILED    {operation.label}: {TALLY.failures[operation.label]}")
    REPORT.line("answers by class: " + ", ".join(f"{k}xx {v}" for k, v in sorted(TALLY.statuses.items()))
                + f"; refused by the HTTP server before the app (request line or headers over its "
                f"limits) {TALLY.http_server_refusals}; credentials renewed {TALLY.renewals} times")
    assert not TALLY.failures, "\n".join(f"{label}: {text}" for label, text in TALLY.failures.items())


def test_generated_requests_get_documented_answers(api_schema, stack, callers):
    """The short form: a few generated requests per operation and mode, the same on every run."""
    run(api_schema, stack, callers, examples=2, fixed=True)


@pytest.mark.slow
def test_many_generated_requests_get_documented_answers(api_schema, stack, callers):
    """The long form: many more generated requests per operation and mode, new ones each run."""
    run(api_schema, stack, callers, examples=int(os.environ.get("PORTAL_SCHEMATHESIS_EXAMPLES", "50")),
        fixed=False)
