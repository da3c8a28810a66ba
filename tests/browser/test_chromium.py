"""Starts the browser suite (tests/browser/chromium/) in an unpatched pytest process and fails
when it fails; its output (each test, the screenshots' folder) is shown here."""
import os
import subprocess
import sys

import pytest

from services.common.config import ROOT
from tests.conftest import GREEN

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.mark.skipif(not GREEN, reason="this is the launcher; the suite itself runs in its own process")
def test_the_browser_suite_passes_in_chromium():
    env = {**os.environ, "PORTAL_TEST_GREEN": "0"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA",
                          "--suppress-nameko-eventlet-notification",
                          "tests/browser/chromium"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=1200)
    print(run.stdout[-20000:], run.stderr[-5000:])
    if run.returncode == 5 or "skipped" in run.stdout.splitlines()[-1] and " passed" not in run.stdout.splitlines()[-1]:
        pytest.skip(run.stdout.splitlines()[-1] if run.stdout else "no browser tests ran")
    assert run.returncode == 0, run.stdout[-8000:]
