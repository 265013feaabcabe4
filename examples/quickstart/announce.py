"""`make run` runs this in the background: once the gateway and the quickstart answer,
it prints the quickstart's URL, after the processes' start-up logs, as the page to open.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()  # noqa: S310 - our own http(s) origins
    except urllib.error.HTTPError:
        return True  # it answered (e.g. /healthz is 503 until a worker is up)
    except (OSError, ValueError):
        return False
    return True


def main(timeout: float = 180) -> int:
    quickstart = os.environ.get("QUICKSTART_BASE_URL", "http://localhost:8002").rstrip("/")
    gateway = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
    sandbox = os.environ.get("SANDBOX_BASE_URL", "http://localhost:8001").rstrip("/")
    deadline = time.monotonic() + timeout
    while not (answers(f"{quickstart}/") and answers(f"{gateway}/healthz")):
        if time.monotonic() > deadline:
            print(f"quickstart: nothing answered at {quickstart} after {timeout:.0f} s", flush=True)
            return 1
        time.sleep(1)
    rule = "=" * 72
    print(
        f"\n{rule}\n Payerbridge is running. Open the quickstart first:\n\n"
        f"     {quickstart}\n\n"
        " Connect a sandbox plan, e.g. Bluebird Medicare as bluebird-john\n"
        " (every sandbox test patient's password is payerbridge).\n"
        f" Gateway {gateway}  admin {gateway}/admin/  sandbox payers {sandbox}/sandbox/\n"
        f"{rule}\n",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
