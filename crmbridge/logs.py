"""Logging for people and for log shippers, with secrets scrubbed from every line.

``setup_logging(level, fmt)`` installs one handler on stderr: ``text`` (one
readable line an event) or ``json`` (one JSON object a line). A filter on
that handler redacts tokens, secrets and signatures from every record,
including those of httpx, uvicorn and APScheduler: query-string secrets
(``refresh_token=``, ``client_secret=``, ``code=``), ``Authorization``
values (``Bearer``, ``Zoho-oauthtoken``), ``whsec_`` secrets and
``v1,<signature>`` webhook signatures. The same filter escapes line breaks
and other control characters in every message (``\\n``, ``\\x1b`` ...), so a
value a request carried (a path, a header) cannot forge log lines: one event
is one line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Final

__all__ = ["JsonFormatter", "RedactingFilter", "printable", "redact", "setup_logging"]

MASK: Final = "***"
_PATTERNS: Final = (
    re.compile(
        r"(?i)\b(refresh_token|client_secret|access_token|code|token|secret|password)=([^&\s\"']+)"
    ),
    re.compile(r"(?i)\b(Zoho-oauthtoken|Bearer)\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"whsec_[A-Za-z0-9+/=]+"),
    re.compile(r"\bv1,[A-Za-z0-9+/=]{16,}"),
    re.compile(
        r"(?i)(\"(?:refresh_token|client_secret|access_token|token|secret)\"\s*:\s*\")[^\"]*(\")"
    ),
)
_CONTROLS: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: Context fields a record may carry (``logger.info(..., extra={"job": ...})``).
CONTEXT: Final = ("run_id", "job", "connector", "entity")


def redact(text: str) -> str:
    """``text`` with every token, secret and signature it shows replaced by ``***``."""
    text = _PATTERNS[0].sub(lambda m: f"{m.group(1)}={MASK}", text)
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _PATTERNS[2].sub(MASK, text)
    text = _PATTERNS[3].sub(f"v1,{MASK}", text)
    return _PATTERNS[4].sub(lambda m: f"{m.group(1)}{MASK}{m.group(2)}", text)


def printable(text: str) -> str:
    """``text`` on one line: line breaks and other control characters escaped (``\\r\\n``)."""
    return _CONTROLS.sub(lambda m: _ESCAPES.get(m.group()) or _code(m.group()), text)


def _code(char: str) -> str:
    point = ord(char)
    return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}"


class RedactingFilter(logging.Filter):
    """Scrubs secrets from a record's message (and its arguments) before any handler sees it,
    and escapes its control characters (see :func:`printable`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        message = record.getMessage()
        clean = printable(redact(message))
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message and the run context fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT:
            value = getattr(record, key, None)
            if value is not None:
                data[key] = value
        if record.exc_info:
            data["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(
            f"{key}={getattr(record, key)}"
            for key in CONTEXT
            if getattr(record, key, None) is not None
        )
        return f"{line} [{context}]" if context else line


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Send every log record to stderr, formatted for people or as JSON, secrets scrubbed."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # APScheduler tells of every tick at INFO; the daemon logs the runs themselves
    logging.getLogger("apscheduler").setLevel(max(root.level, logging.WARNING))
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
