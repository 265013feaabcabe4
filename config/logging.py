"""JSON-lines log formatter for production."""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime

import orjson

_EXTRA_KEYS = ("request_id", "http_method", "http_path", "http_status", "task_id", "consent_id")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _EXTRA_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                payload[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # Type and code locations, never the message or local values: those
            # can carry PHI (a resource, a token) that must not reach log storage.
            payload["exc_type"] = record.exc_info[0].__name__
            payload["exc_frames"] = [
                f"{frame.filename}:{frame.lineno} in {frame.name}"
                for frame in traceback.extract_tb(record.exc_info[2])
            ]
        return orjson.dumps(payload, default=str).decode()
