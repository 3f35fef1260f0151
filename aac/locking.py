"""The one exclusive lock on an output (a feature cache, an experiment directory).

    lock = OutputLock("exp/finetune_beats", hint="use another --output-dir")
    ...                # a second OutputLock on the same output raises OutputLockedError
    lock.release()     # also when the process ends, however it ends

`fcntl.flock` on `<output>.lock` (or `lock_file`), which records the holder's pid for the
refusal message.
"""

from __future__ import annotations

import errno
import fcntl
import os

from aac.errors import AacError


class OutputLockedError(AacError):
    """Another run holds the output; the message names the holder's pid."""


class OutputLock:
    """An exclusive `fcntl.flock` on `<output>.lock` (or `lock_file`), held until `release()`.

    The lock file stays on disk (deleting it would let a third run lock a new inode
    while the second still holds the old one); the lock itself ends with the process.
    """

    def __init__(
        self,
        output: str | os.PathLike,
        hint: str = "write to another --output",
        lock_file: str | os.PathLike | None = None,
    ):
        output = str(output)
        self.path, self._fd = str(lock_file or output + ".lock"), None
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.pread(self._fd, 64, 0).decode(errors="replace").strip()
            os.close(self._fd)
            self._fd = None
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise OutputLockedError(
                f"{output}: another run holds the output ({self.path} is locked"
                f"{' by pid ' + holder if holder else ''}); wait for it to finish or stop "
                f"it, or {hint}"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, str(os.getpid()).encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    __del__ = release  # a dropped holder frees the lock, as a dead process does
