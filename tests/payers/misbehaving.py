"""A tiny local HTTP server that misbehaves on purpose, scripted per test.

`server.script("/path", Reply(429, headers={"Retry-After": "1"}), Reply(200, body=...))`
answers the listed replies in order (the last one repeats); every request is
recorded with its headers (and body) so a test can check what the client sent,
and `max_in_flight` is the most requests it was ever answering at once.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson


@dataclass
class Reply:
    status: int = 200
    body: bytes | dict | list | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def payload(self) -> tuple[bytes, str]:
        if isinstance(self.body, dict | list):
            return orjson.dumps(self.body), "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), "text/html; charset=utf-8"
        return self.body, "application/octet-stream"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


class MisbehavingServer:
    def __init__(self) -> None:
        self.replies: dict[str, list[Reply]] = defaultdict(list)
        self.requests: list[Seen] = []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                # In flight from request to the reply's first byte: once the client
                # has its answer it may start another, which must not overlap this.
                with owner._lock:
                    owner.in_flight += 1
                    owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
                try:
                    reply = self._choose()
                finally:
                    with owner._lock:
                        owner.in_flight -= 1
                self._send(reply)

            def _choose(self) -> Reply:
                path = self.path.split("?", 1)[0]
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.requests.append(Seen(self.command, self.path, dict(self.headers), body))
                queue = owner.replies.get(path) or [Reply(404, {"error": "not scripted"})]
                reply = queue.pop(0) if len(queue) > 1 else queue[0]
                if reply.delay:
                    time.sleep(reply.delay)
                return reply

            def _send(self, reply: Reply) -> None:
                body, content_type = reply.payload()
                headers = {"Content-Type": content_type, **reply.headers}
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Length", str(len(body)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def script(self, path: str, *replies: Reply) -> None:
        self.replies[path] = list(replies)

    def hits(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path.split("?", 1)[0] == path]

    def start(self) -> MisbehavingServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
