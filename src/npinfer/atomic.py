"""Atomic file writes: a temporary file in the target directory, renamed into place.

The temporary file is named `.<name>.npinfer-<pid>-<random>.tmp`. A process killed while writing
(SIGKILL) cannot remove it; the next write to the same place removes every such file of ours
whose process is no longer running."""

from __future__ import annotations

import contextlib
import os
import re
from typing import BinaryIO, Iterator


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a temporary file beside `path` for binary writing; on success rename it to `path`.

    On any error the temporary file is removed and an existing `path` is left untouched."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    import tempfile  # here, not at import: load + predict do not write files

    name = os.path.basename(path)
    _remove_stale(directory, name)
    fd, temporary = tempfile.mkstemp(prefix=f".{name}.npinfer-{os.getpid()}-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, _mode_for(path))  # mkstemp makes 0600; give what a plain open() would
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _mode_for(path: str) -> int:
    """The existing file's permissions, or 0666 less the umask for a new file."""
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _remove_stale(directory: str, name: str) -> None:
    """Remove the temporary files a killed npinfer process left for `name` in `directory`."""
    pattern = re.compile(re.escape(f".{name}.npinfer-") + r"(\d+)-[A-Za-z0-9_]+\.tmp")
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry)
        if match and not _running(int(match.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, entry))


def _running(pid: int) -> bool:
    """Whether a process with this id exists (ours or another user's)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True
