"""Settings of bench/api.py's gunicorn: the product's, plus the raw baseline's URLs."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.api_baseline"
