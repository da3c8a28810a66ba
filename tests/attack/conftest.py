"""The attack suites print one line per hostile input and a last line with the figures.

``pytest_terminal_summary`` shows them in ``bin/portal test`` output whatever the capture mode;
the summary line is written again after pytest's own last line. The long forms are marked ``slow`` and
run only with ``PORTAL_SLOW=1`` (the default test command runs the short forms)."""
import os
import sys

import pytest

SLOW = os.environ.get("PORTAL_SLOW") == "1"


def pytest_collection_modifyitems(config, items):
    if SLOW:
        return
    skip = pytest.mark.skip(reason="slow: set PORTAL_SLOW=1 to run the long form")
    for item in items:
        if "slow" in item.keywords and "/attack/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    suite = sys.modules.get("tests.attack.test_hostile_uploads")
    if suite is None or not suite.RESULTS:
        return
    terminalreporter.section("hostile uploads")
    for line in suite.RESULTS:
        terminalreporter.write_line(line.text)
    terminalreporter.write_line(suite.summary_line())


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Once more after pytest's own last line ("N passed in ..."), so the suite's figure is the
    last line of the run."""
    suite = sys.modules.get("tests.attack.test_hostile_uploads")
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if suite is not None and suite.RESULTS and reporter is not None:
        reporter.write_line(suite.summary_line())
