"""Asset paths: resolved as `Path.resolve()` would, kept inside the base folder, and checked.

This module owns path resolution and the file checks (missing, unreadable, a directory,
not a regular file), and their cost: a manifest of a million assets resolves each folder
once and stats each file once.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final


class Paths:
    """Resolves asset paths like `Path.resolve()` and checks them, fast enough for a million.

    The folder part of each path is resolved once and remembered (a bounded cache, per
    manifest); only the last component is looked at per asset, with one `lstat` that also
    serves the file checks. A symlink there is resolved in full.
    """

    _CACHE_SIZE: Final = 4096

    def __init__(self, root: Path, base: Path, *, allow_outside: bool, check_files: bool) -> None:
        self.root = str(root)  # relative paths start here
        self.base = str(base)  # resolved paths must stay under here
        self._inside = self.base.rstrip(os.sep) + os.sep
        self.allow_outside = allow_outside
        self.check_files = check_files
        self._folders: dict[str, str] = {}

    def check(self, text: str) -> Path | str:
        """The absolute, symlink-free path, or why it cannot be used."""
        try:
            resolved, mode = self._realpath(os.path.join(self.root, text))
        except (OSError, ValueError) as error:  # NUL bytes, unencodable characters
            return f"is not a usable path ({error})"
        if not (self.allow_outside or resolved == self.base or resolved.startswith(self._inside)):
            return f"path escapes the base directory {self.base} (use --allow-outside to permit it)"
        problem = file_problem(resolved, mode) if self.check_files else None
        return problem or Path(resolved)

    def _realpath(self, joined: str) -> tuple[str, int | None]:
        """`os.path.realpath(joined)`, and the file's mode when already known."""
        head, tail = os.path.split(joined)
        if tail in ("", ".", ".."):
            return os.path.realpath(joined), None
        folder = self._folders.get(head)
        if folder is None:
            if len(self._folders) >= self._CACHE_SIZE:
                self._folders.clear()
            folder = self._folders[head] = os.path.realpath(head)
        candidate = os.path.join(folder, tail)
        try:
            mode = os.lstat(candidate).st_mode
        except OSError:
            return candidate, None  # realpath keeps a missing tail as it is; stat says why
        if stat.S_ISLNK(mode):
            return os.path.realpath(candidate), None
        return candidate, mode


def file_problem(path: str, mode: int | None) -> str | None:
    """Why the file at `path` cannot be published, or None; `mode` is its `lstat` if known."""
    try:
        mode = os.stat(path).st_mode if mode is None else mode
    except (FileNotFoundError, NotADirectoryError):
        return "file not found"
    except PermissionError:
        return "permission denied"
    except OSError as error:  # a symlink loop, a name too long, ...
        return f"cannot be read ({error.strerror or error})"
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file"
    return None if os.access(path, os.R_OK) else "permission denied"
