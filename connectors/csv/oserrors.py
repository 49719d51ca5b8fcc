"""What the CSV connector says when the file system refuses: one line naming the path.

A folder that is missing, a file where a folder should be, a folder nobody
may write in, a full disk: an :class:`OSError` from reading or writing a
file becomes a :class:`~crmbridge.errors.PermanentError` naming the file,
what was being done and why (the run fails and says so; nothing it read or
was about to write is lost), and a ``directory`` setting that names no usable
folder is a :class:`~crmbridge.errors.ConfigError` naming its key.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from crmbridge.errors import ConfigError, PermanentError

__all__ = ["cannot", "check_folder", "reason"]


def reason(exc: OSError, besides: Path | None = None) -> str:
    """Why the system refused, for a person (``Permission denied``), and the path it named if not ``besides``."""
    why = exc.strerror or str(exc) or type(exc).__name__
    for name in (exc.filename, exc.filename2):
        if name is not None and os.fsdecode(name) != str(besides):
            return f"{why} ({os.fsdecode(name)})"
    return why


def cannot(doing: str, path: Path, exc: OSError, **context: Any) -> PermanentError:
    """``<path>: cannot <doing>: <reason>`` as the error a run fails with."""
    return PermanentError(f"{path}: cannot {doing}: {reason(exc, path)}", **context)


def check_folder(folder: Path, *, key: str, create: bool, **context: Any) -> None:
    """:class:`ConfigError` (naming ``key``) unless ``folder`` is a folder; made first if ``create``.

    Reading wants the folder to exist: a missing one is most likely a typo,
    and reading it as empty would move nothing without a word.
    """
    if create:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            pass  # a file of that name: said below
        except NotADirectoryError:
            raise ConfigError(
                f"cannot create the folder {folder}: a part of that path is a file; "
                "set the folder the CSV files are to go in",
                key=key,
                **context,
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"cannot create the folder {folder}: {reason(exc, folder)}; "
                "set a folder this process may write in",
                key=key,
                **context,
            ) from None
    try:
        found = os.stat(folder)
    except FileNotFoundError:
        raise ConfigError(
            f"the folder {folder} does not exist; correct the path, or create the folder",
            key=key,
            **context,
        ) from None
    except NotADirectoryError:
        raise ConfigError(
            f"{folder} is not a folder: a part of that path is a file; "
            "set the folder the CSV files are in",
            key=key,
            **context,
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot open the folder {folder}: {reason(exc, folder)}", key=key, **context
        ) from None
    if not stat.S_ISDIR(found.st_mode):
        raise ConfigError(
            f"{folder} is a file, not a folder; set the folder the CSV files are in",
            key=key,
            **context,
        )
