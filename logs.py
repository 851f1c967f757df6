"""Logging for the worker and the API: what a line may say, so no secret or personal data lands in it.

- httpx and httpcore log every request URL at INFO, and Telegram's URL carries the bot token
  (`/bot<token>/sendMessage`): they log at WARNING at most.
- uvicorn's access log writes the request line with its query string, and SMS Aero's status
  callback carries its secret there (`?secret=`): access lines keep the path only.
"""

from __future__ import annotations

import logging
from typing import Any

# Libraries whose INFO lines name URLs with credentials in them.
QUIET_LOGGERS = ("httpx", "httpcore")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class PathOnly(logging.Filter):
    """Drops the query string from uvicorn's access lines: `GET /v1/inbound/smsaero` and no `?secret=`."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn's access record: (client address, method, full path, HTTP version, status code).
        args: Any = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].partition("?")[0], args[3], args[4])
        return True


def quiet_libraries() -> None:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def strip_access_queries() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, PathOnly) for f in access.filters):
        access.addFilter(PathOnly())


def configure(level: int = logging.INFO) -> None:
    """The worker's logging: our INFO lines, the chatty HTTP clients only from WARNING."""
    logging.basicConfig(level=level, format=LOG_FORMAT)
    quiet_libraries()
