"""One exception tree for crmbridge, grouped by what the caller should do next.

::

    CrmBridgeError                 anything crmbridge raises on purpose
    +-- ConfigError                fix the config (or mapping) and start again
    +-- AuthError                  fix the credentials named in the message
    +-- TransientError             retry later; carries ``retry_after`` seconds
    +-- PermanentError             this run fails; the daemon goes on
    +-- RecordRejected             this record only; the rest of the batch goes on
    +-- InvalidTransition          a requirement change cannot move that way
    +-- RunStopped                 a stop was asked for; the run ended at a batch boundary

Every error carries structured context (connector, entity, external id, field)
so the CLI, the logs and the HTTP API all say the same thing.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthError",
    "ConfigError",
    "CrmBridgeError",
    "InvalidTransition",
    "PermanentError",
    "RecordRejected",
    "RunStopped",
    "StoreError",
    "TransientError",
]


class CrmBridgeError(Exception):
    """Root of every error crmbridge raises on purpose.

    ``message`` is written for a person; the keyword fields say where the
    problem is, and :meth:`as_dict` gives all of it to logs and HTTP bodies.
    """

    def __init__(
        self,
        message: str,
        *,
        connector: str | None = None,
        entity: str | None = None,
        external_id: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.connector = connector
        self.entity = entity
        self.external_id = external_id
        self.field = field

    def as_dict(self) -> dict[str, Any]:
        """The error as a JSON-ready mapping, without empty context fields."""
        data: dict[str, Any] = {"error": type(self).__name__, "message": self.message}
        for key in ("connector", "entity", "external_id", "field"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data

    def __str__(self) -> str:
        where = [
            f"{key}={getattr(self, key)}"
            for key in ("connector", "entity", "external_id", "field")
            if getattr(self, key) is not None
        ]
        return f"{self.message} ({', '.join(where)})" if where else self.message


class ConfigError(CrmBridgeError):
    """The configuration or a mapping file is wrong: fix it and start again.

    ``path`` is the file, ``key`` the dotted key path and ``line`` the line in
    the file, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        key: str | None = None,
        line: int | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, **context)
        self.path = path
        self.key = key
        self.line = line

    def as_dict(self) -> dict[str, Any]:
        """The error as a JSON-ready mapping: ``message`` says where, as :meth:`__str__` does.

        A run's report keeps only this mapping, and what shows it (``sync``,
        ``migrate``, ``runs show``, ``--json``, the HTTP API) prints its
        ``message``: so the message names the file, key path and line, which
        are also given apart as ``path``, ``key`` and ``line``.
        """
        data = super().as_dict()
        data["message"] = str(self)
        for key in ("path", "key", "line"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data

    def __str__(self) -> str:
        text = f"{self.key}: {self.message}" if self.key else self.message
        if self.line is not None:
            text += f" (line {self.line})"
        if self.path:
            text = f"{self.path}: {text}"
        return text


class AuthError(CrmBridgeError):
    """Credentials were refused; the message names the setting to fix."""


class TransientError(CrmBridgeError):
    """A passing failure (rate limit, outage, timeout): retry after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class PermanentError(CrmBridgeError):
    """This run cannot go on; a daemon keeps serving its other jobs."""


class StoreError(PermanentError):
    """The hub store is unreachable, or its schema is not the one this version needs."""


class RecordRejected(CrmBridgeError):
    """One record cannot be mapped or written; the rest of the batch goes on.

    ``code`` is a short machine-readable reason (``INVALID_DATA``, ``MAPPING`` ...).
    """

    def __init__(self, message: str, *, code: str = "INVALID", **context: Any) -> None:
        super().__init__(message, **context)
        self.code = code


class InvalidTransition(CrmBridgeError):
    """A requirement change was asked to move to a status it cannot reach from its current one."""


class RunStopped(CrmBridgeError):
    """A run was asked to stop (a daemon shutting down); it ended after its last committed batch."""
