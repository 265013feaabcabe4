"""Settings of the sandbox payers process: the gateway's, with its own URLs and cookies.

The sandbox plays foreign health plans on their own origin (SANDBOX_BASE_URL),
so nothing it sets may collide with the gateway's cookies.
"""

from config.settings import *  # noqa: F403
from config.settings import SANDBOX_BASE_URL

ROOT_URLCONF = "payers.sandbox.urls"
SESSION_COOKIE_NAME = "sbx_session"
CSRF_COOKIE_NAME = "sbx_csrftoken"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SANDBOX_BASE_URL.startswith("https://")
CSRF_TRUSTED_ORIGINS = [SANDBOX_BASE_URL]
