"""The admin login is throttled (django-axes, counters in Redis) (issue 12)."""

from __future__ import annotations

import re
import uuid

import pytest
import requests
from django.contrib.auth import get_user_model


def admin_login(base: str, username: str, password: str) -> requests.Response:
    browser = requests.Session()
    page = browser.get(f"{base}/admin/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return browser.post(
        f"{base}/admin/login/?next=/admin/",
        data={"csrfmiddlewaretoken": token, "username": username, "password": password},
        headers={"Referer": f"{base}/admin/login/"},
        allow_redirects=False,
        timeout=10,
    )


@pytest.fixture
def staff(transactional_db):
    from axes.utils import reset

    name = f"staff-{uuid.uuid4().hex[:6]}"
    get_user_model().objects.create_superuser(name, f"{name}@example.org", "right-pw-123456")
    yield name
    reset(username=name)
    reset(ip="127.0.0.1")  # this test's failures must not lock later tests out


def test_admin_login_locks_out_after_failures_then_lets_the_user_back(live_server, staff, settings):
    from axes.utils import reset

    assert settings.AXES_FAILURE_LIMIT == 10  # the default; a smaller one keeps this test short
    settings.AXES_FAILURE_LIMIT = 3

    assert admin_login(live_server.url, staff, "right-pw-123456").status_code == 302
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert admin_login(live_server.url, staff, "wrong").status_code == 200  # form again
    assert admin_login(live_server.url, staff, "wrong").status_code == 429  # the limit-th
    locked = admin_login(live_server.url, staff, "right-pw-123456")
    assert locked.status_code == 429
    # Locked per user name and per address: another user from here waits too.
    assert admin_login(live_server.url, "someone-else", "whatever").status_code == 429
    assert settings.AXES_COOLOFF_TIME.total_seconds() <= 15 * 60  # minutes, not hours
    # Redis-backed: the counters live in the shared cache, not one process's memory.
    assert settings.CACHES[settings.AXES_CACHE]["BACKEND"].endswith("RedisCache")
    reset(username=staff)
    reset(ip="127.0.0.1")
    assert admin_login(live_server.url, staff, "right-pw-123456").status_code == 302
