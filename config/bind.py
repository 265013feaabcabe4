"""Print `host:port` for a URL setting, for the Procfile's `--bind`.

`python -m config.bind PUBLIC_BASE_URL` keeps the listener and the advertised
origin from drifting apart.
"""

import os
import sys
from urllib.parse import urlsplit

DEFAULTS = {
    "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
    "SANDBOX_BASE_URL": "http://localhost:8001",
    "QUICKSTART_BASE_URL": "http://localhost:8002",
}


def bind_for(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


if __name__ == "__main__":
    name = sys.argv[1]
    print(bind_for(os.environ.get(name) or DEFAULTS[name]))
