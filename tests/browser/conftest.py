"""The browser suite runs in a process of its own (tests/browser/test_chromium.py starts it).

Why: this test process is patched by eventlet (nameko needs it) and the e2e fixtures run
aiosmtpd's asyncio loop in a greenthread; Playwright's sync API runs an asyncio loop of its own,
and the two do not share one patched process. So tests/browser/chromium/ is collected only
in an unpatched pytest (PORTAL_TEST_GREEN=0), which that one test starts and watches."""
from tests.conftest import GREEN

collect_ignore = ["chromium"] if GREEN else []
