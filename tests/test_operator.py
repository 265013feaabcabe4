"""Operator steps (issue 12), as real subprocesses: `manage.py` finds the embedded services,
the embedded PostgreSQL is private to its user, no default admin password outside development.

The embedded services here live in a throwaway directory (PAYERBRIDGE_LOCAL_DIR), never
the checkout's `.local/` that `make run` / `make test` use.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import ROOT

SERVICE_VARS = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")


def run(args: list[str], env: dict[str, str], timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def dev_env(local_dir: Path) -> dict[str, str]:
    """A second shell in development: DEBUG=1 and no service URL exported."""
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    env.update(DEBUG="1", PAYERBRIDGE_LOCAL_DIR=str(local_dir))
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


@pytest.fixture(scope="module")
def embedded() -> Iterator[Path]:
    """Embedded PostgreSQL and Redis, started as `make run` starts them, in a temp dir."""
    local = Path(tempfile.mkdtemp(prefix="pbop-"))
    env = dev_env(local)
    started = run(["-m", "config.devservices", "up"], env)
    assert started.returncode == 0, started.stderr
    yield local
    run(["-m", "config.devservices", "down"], env)
    shutil.rmtree(local, ignore_errors=True)


def test_manage_py_without_running_services_says_in_one_line_how_to_start_them():
    empty = Path(tempfile.mkdtemp(prefix="pbop-none-"))
    result = run(["manage.py", "check"], dev_env(empty))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "make run" in result.stderr and "DATABASE_URL" in result.stderr
    shutil.rmtree(empty, ignore_errors=True)


def test_manage_py_finds_the_running_embedded_services(embedded):
    probe = (
        "from django.conf import settings; from django.db import connection; import redis; "
        "connection.ensure_connection(); redis.Redis.from_url(settings.REDIS_URL).ping(); "
        "print(connection.settings_dict['HOST']); print(settings.REDIS_URL)"
    )
    result = run(["manage.py", "shell", "-c", probe], dev_env(embedded))
    assert result.returncode == 0, result.stderr
    host, redis_url = result.stdout.strip().splitlines()[-2:]
    assert host.startswith(str(embedded)) and redis_url.startswith(f"unix://{embedded}")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_embedded_postgres_is_private_to_its_user(embedded):
    sockets = embedded / "run"
    socket = sockets / ".s.PGSQL.5432"
    assert socket.exists()
    assert _mode(sockets) & 0o077 == 0, oct(_mode(sockets))
    assert _mode(socket) & 0o077 == 0, oct(_mode(socket))
    hba = (embedded / "postgres" / "pg_hba.conf").read_text()
    rules = [line.split() for line in hba.splitlines() if line.strip() and line[0] != "#"]
    assert rules and all(rule[0] == "local" and "trust" not in rule for rule in rules), hba
    if os.geteuid() != 0 or not shutil.which("runuser"):
        return
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    psql = [str(POSTGRES_BIN_PATH / "psql"), "-h", str(sockets), "-U", "postgres"]
    query = ["-d", "payerbridge", "-tAc", "select 1"]
    mine = subprocess.run([*psql, *query], capture_output=True, text=True, timeout=30)
    assert mine.stdout.strip() == "1", mine.stderr
    other = subprocess.run(
        ["runuser", "-u", "nobody", "--", *psql, *query],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert other.returncode != 0 and other.stdout.strip() != "1"


@pytest.mark.django_db(transaction=True)
def test_seed_demo_refuses_a_default_admin_password_outside_development(process_env):
    from django.contrib.auth import get_user_model

    production = {k: v for k, v in process_env.items() if k != "DEMO_ADMIN_PASSWORD"}
    refused = run(["manage.py", "seed_demo"], production)
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "DEMO_ADMIN_PASSWORD" in refused.stderr
    assert not get_user_model().objects.filter(username="admin").exists()

    chosen = run(["manage.py", "seed_demo"], {**production, "DEMO_ADMIN_PASSWORD": "s3cret-ch0sen"})
    assert chosen.returncode == 0, chosen.stderr
    assert "s3cret-ch0sen" not in chosen.stdout and "payerbridge-admin" not in chosen.stdout
    assert get_user_model().objects.get(username="admin").check_password("s3cret-ch0sen")


@pytest.mark.django_db(transaction=True)
def test_seed_demo_prints_the_development_password_only_in_development(process_env):
    from django.contrib.auth import get_user_model

    development = {k: v for k, v in process_env.items() if k != "DEMO_ADMIN_PASSWORD"}
    development["DEBUG"] = "1"
    result = run(["manage.py", "seed_demo"], development)
    assert result.returncode == 0, result.stderr
    assert "'payerbridge-admin'" in result.stdout
    assert get_user_model().objects.get(username="admin").check_password("payerbridge-admin")
