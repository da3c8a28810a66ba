"""The attack suites print one line per hostile input and a last line with the figures.

``pytest_terminal_summary`` shows them in ``bin/portal test`` output whatever the capture mode;
every suite's summary line is written again after pytest's own last line (tests/attack/report.py).
The long forms are marked ``slow`` and run only with ``PORTAL_SLOW=1`` (the default test command
runs the short forms). The suites that attack the platform through the gateway share one stack."""
import os

import pytest

from tests.attack.report import REPORTS
from tests.e2e import conftest as e2e

SLOW = os.environ.get("PORTAL_SLOW") == "1"


def pytest_collection_modifyitems(config, items):
    if SLOW:
        return
    skip = pytest.mark.skip(reason="slow: set PORTAL_SLOW=1 to run the long form")
    for item in items:
        if "slow" in item.keywords and "/attack/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for report in REPORTS:
        if report.ran:
            terminalreporter.section(report.title)
            for line in report.lines:
                terminalreporter.write_line(line)
            terminalreporter.write_line(report.summary())


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Once more after pytest's own last line ("N passed in ..."), so the suites' figures are the
    last lines of the run."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    for report in REPORTS:
        if report.ran and reporter is not None:
            reporter.write_line(report.summary())


# --- one running platform for the suites that attack it through the gateway ------------------
mailbox, oidc_provider, admin_token, receiver = e2e.mailbox, e2e.oidc_provider, e2e.admin_token, e2e.receiver


@pytest.fixture(scope="package")
def stack(amqp_uri, mailbox, oidc_provider):
    stack = e2e.Stack(amqp_uri, mailbox.port, oidc_provider, name="attack")
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
