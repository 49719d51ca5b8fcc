"""The CSV connector's side files: small SQLite databases kept in ``.crmbridge/`` by each file.

The change snapshot and the id index each keep one; :class:`SideFile`
opens it on first use (creating its folder and schema) and closes it. A
folder or file the system refuses is a :class:`~crmbridge.errors.PermanentError`
naming the file and why.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from connectors.csv.oserrors import reason
from crmbridge.errors import PermanentError

__all__ = ["SideFile"]


class SideFile:
    """A SQLite side file at ``path`` with ``schema``, opened on first use.

    ``purpose`` names it in errors ("the id index"); ``synchronous`` is its
    ``PRAGMA synchronous``; ``autocommit`` opens it without the module's
    implicit transactions (the caller says BEGIN and COMMIT itself).
    Callers serialise their own use: the connection may move between threads.
    """

    def __init__(
        self,
        path: Path,
        schema: str,
        *,
        purpose: str,
        synchronous: str = "NORMAL",
        autocommit: bool = False,
    ) -> None:
        self.path = path
        self._schema = schema
        self._purpose = purpose
        self._synchronous = synchronous
        self._autocommit = autocommit
        self._db: sqlite3.Connection | None = None

    @property
    def opened(self) -> bool:
        """Whether the file is open."""
        return self._db is not None

    def connect(self) -> sqlite3.Connection:
        """The open connection (opening the file, and making it, the first time)."""
        if self._db is None:
            folder = self.path.parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                raise PermanentError(
                    f"{self.path}: cannot keep {self._purpose}: {folder} is a file; crmbridge "
                    "keeps its side files in a folder of that name, so move the file away"
                ) from None
            except OSError as exc:
                raise PermanentError(
                    f"{self.path}: cannot keep {self._purpose}: cannot create the folder "
                    f"{folder} ({reason(exc, folder)})"
                ) from None
            db: sqlite3.Connection | None = None
            try:
                if self._autocommit:
                    db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
                else:
                    db = sqlite3.connect(self.path, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(f"PRAGMA synchronous={self._synchronous}")
                db.executescript(self._schema)
            except (OSError, sqlite3.Error) as exc:
                if db is not None:
                    db.close()
                why = reason(exc, self.path) if isinstance(exc, OSError) else str(exc)
                raise PermanentError(f"{self.path}: cannot keep {self._purpose}: {why}") from None
            self._db = db
        return self._db

    def close(self) -> None:
        """Close the file."""
        if self._db is not None:
            self._db.close()
            self._db = None
