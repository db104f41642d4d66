"""Log output: ``text`` (one readable line per record) or ``json`` (one object per line).

``VOXPOP_LOG_FORMAT`` chooses. Both the commands (``cli``) and uvicorn's own loggers are
configured from one ``logging.config.dictConfig`` document, :func:`log_config`, so a
server's lines all look alike. A JSON line holds ``ts`` (RFC 3339, UTC), ``level``,
``logger``, ``msg``, ``exc`` for an exception, and the record's ``extra`` fields.

voxpop stores no raw addresses, and its JSON logs print none either: uvicorn's access
records are rewritten without the client's address (and with the values of ``token``
query parameters, which are capabilities in links from e-mails, blanked). The text access
log is uvicorn's own line and shows the client's address.
"""

from __future__ import annotations

import logging
import logging.config
import re
from datetime import UTC, datetime
from typing import Any

import orjson

from voxpop.errors import ConfigurationError

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's coloured copy of the message
}
_TOKEN = re.compile(r"((?:^|[?&])[\w-]*token=)[^&#]*", re.IGNORECASE)


def read_log_format(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in LOG_FORMATS:
        raise ConfigurationError(f"{name} must be text or json, not {raw!r}")
    return value


def _timestamp(created: float) -> str:
    moment = datetime.fromtimestamp(created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def redact(path: str) -> str:
    """``path`` with the values of its ``…token=`` query parameters blanked."""
    return _TOKEN.sub(r"\1[redacted]", path) if "token=" in path.lower() else path


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if record.name == "uvicorn.access" and _is_access(record.args):
            # '%s - "%s %s HTTP/%s" %d' % (client, method, path, version, status): the
            # client's address is left out.
            assert isinstance(record.args, tuple)
            _client, method, path, version, status = record.args
            path = redact(str(path))
            out["msg"] = f"{method} {path} HTTP/{version} {status}"
            out.update(method=method, path=path, status=status)
        else:
            out["msg"] = record.getMessage()
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(out, default=str).decode()


def _is_access(args: Any) -> bool:
    return isinstance(args, tuple) and len(args) == 5


def log_config(log_format: str, level: str = "INFO", server_level: str = "INFO") -> dict[str, Any]:
    """A ``dictConfig`` document for ``log_format``: the root logger (voxpop's own) at
    ``level``, uvicorn's error logger at ``server_level``, its access log at INFO (it only
    writes when ``--access-log`` is given). Also what uvicorn gets as ``log_config``, in
    every worker process."""
    if log_format == "json":
        formatter: dict[str, Any] = {"()": "voxpop.settings.logs.JsonFormatter"}
    else:
        formatter = {"format": TEXT_FORMAT}
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "default",
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        # uvicorn sets ``use_colors`` on both when asked to: keep the two names.
        "formatters": {"default": formatter, "access": dict(formatter)},
        "handlers": {"default": handler, "access": {**handler, "formatter": "access"}},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": server_level, "propagate": False},
            "uvicorn.error": {"level": server_level},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
            # Migrating says so in its own words; Alembic's step-by-step lines are noise.
            "alembic": {"level": "WARNING"},
        },
        "root": {"handlers": ["default"], "level": level},
    }


def configure(log_format: str, level: str = "INFO") -> None:
    """Send this process's log records to stderr in ``log_format``."""
    logging.config.dictConfig(log_config(log_format, level))
