"""The one base class of errors a user can cause, and how an entry point reports them.

Every expected failure (bad YAML key, missing file, unreadable audio, untrusted checkpoint,
full disk, an incomplete feature cache ...) raises a subclass of `AacError` whose message
names the file and, where there is one, the key. `aac.cli.run_main` prints such an error as
one line `aac-<verb>: error: <message>` and exits with `EXIT_USER_ERROR`; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

EXIT_USER_ERROR = 2  # the one exit code of an expected, user-caused failure (as argparse)


class AacError(Exception):
    """An expected, user-caused failure; the message is complete on one line."""
