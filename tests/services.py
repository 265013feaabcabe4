"""Real processes for tests: Celery workers, a private Redis, a gateway server.

Everything here starts a real subprocess, so a test can SIGKILL it, stop it or
point it at a service of its own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from config.devservices import EmbeddedRedis

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def database_url_for(name: str) -> str:
    """The caller's DATABASE_URL pointed at database `name` (the test database)."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{name}"))


class PrivateRedis:
    """A Redis server of the test's own, so stopping it harms nobody else."""

    def __init__(self) -> None:
        # Short path: AF_UNIX socket paths are limited to ~107 bytes.
        self.dir = Path(tempfile.mkdtemp(prefix="pbr-"))
        self.server = EmbeddedRedis(directory=self.dir, socket=self.dir / "r.sock")

    def start(self) -> PrivateRedis:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def broker_url(self) -> str:
        return self.server.broker_url


class Process:
    """A subprocess whose output goes to a log file the test can read."""

    def __init__(self, argv: list[str], env: dict[str, str], name: str) -> None:
        self.log_path = Path(tempfile.mkstemp(prefix=f"pb-{name}-", suffix=".log")[1])
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: no cleanup, no ack."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


class Worker(Process):
    """`celery worker` (solo pool: one process, so SIGKILL takes the task with it)."""

    def __init__(self, env: dict[str, str], queue: str) -> None:
        self.name = f"pbtest-{uuid.uuid4().hex[:8]}@%h"
        super().__init__(
            [
                str(BIN / "celery"),
                "-A",
                "config",
                "worker",
                "--pool",
                "solo",
                "--loglevel",
                "INFO",
                "-Q",
                queue,
                "-n",
                self.name,
                "--without-gossip",
                "--without-mingle",
            ],
            env,
            "worker",
        )

    def wait_ready(self, timeout: float = 60) -> Worker:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.output()[-3000:]}")
            return " ready." in self.output()

        wait_until(ready, timeout, what="celery worker ready")
        return self


class WebServer(Process):
    """A gunicorn server of ours (threaded, as the Procfile runs it) on a free port."""

    name = "web"
    host = "127.0.0.1"
    probe_path = "/healthz"
    threads = 4
    wsgi_app = "config.wsgi"

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://{self.host}:{self.port}"
        super().__init__(
            [
                str(BIN / "gunicorn"),
                self.wsgi_app,
                "--bind",
                f"127.0.0.1:{self.port}",
                "--worker-class",
                "gthread",
                "--threads",
                str(self.threads),
                "--workers",
                "1",
                "--no-control-socket",
            ],
            self.environment(env),
            self.name,
        )

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        return env

    def wait_ready(self, timeout: float = 60):
        def answers() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.output()[-3000:]}")
            try:
                requests.get(f"{self.url}{self.probe_path}", timeout=5)
                return True
            except requests.ConnectionError:
                return False

        wait_until(answers, timeout, what=f"{self.name} server to answer")
        return self


class Gateway(WebServer):
    """The gateway, with PUBLIC_BASE_URL set to where it listens."""

    name = "gateway"

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        return {**env, "PUBLIC_BASE_URL": self.url}
