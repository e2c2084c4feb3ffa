"""A worker stopped before it serves: it leaves at once, whatever the app has started."""

from __future__ import annotations

import signal
import subprocess
import sys

from common.config import PROJECT_ROOT

# A worker as it is while building the app: the handler installed at fork, a thread the app
# started (not a daemon: Python's shutdown would wait for it), the main thread still busy.
WORKER_BUILDING_ITS_APP = """
import threading, time
from common.server import _leave_on_sigterm_until_serving
_leave_on_sigterm_until_serving()
threading.Thread(target=time.sleep, args=(600,)).start()
print("building", flush=True)
time.sleep(600)
"""


def test_a_sigterm_while_the_app_is_being_built_ends_the_worker_at_once() -> None:
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER_BUILDING_ITS_APP],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "building"
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
