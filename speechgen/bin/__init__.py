"""speechgen.bin: the ``speechgen-*`` commands (one module each, entry points in setup.py).

Each command's ``main`` is wrapped by :func:`command`: an error the user can cause (a SpeechgenError,
or an OSError such as a full disk or a read-only dir) ends as one line on stderr and exit status 1,
never a traceback. ``SPEECHGEN_TRACEBACK=1`` in the environment shows the traceback instead. It also
makes the process keep the memory it frees (:func:`speechgen.memory.keep_freed_memory`).
"""
from __future__ import annotations

import errno
import functools
import os
import sys
from typing import Callable, Optional, Sequence

from speechgen.errors import SpeechgenError
from speechgen.memory import keep_freed_memory

OS_ERROR_FIXES = {
    errno.ENOSPC: "free disk space and run the command again",
    errno.EDQUOT: "free disk space (quota) and run the command again",
    errno.EACCES: "make it writable (or readable) for you, or choose another dir",
    errno.EPERM: "make it writable (or readable) for you, or choose another dir",
    errno.EROFS: "the file system is read-only; choose another dir",
    errno.ENOENT: "check the path",
}


def os_error_line(err: OSError) -> str:
    """One line for an OSError: the file, the system's reason and the fix."""
    where = err.filename if err.filename is not None else "a file"
    fix = OS_ERROR_FIXES.get(err.errno, "check the file and its dir")
    return f"{where}: {err.strerror or err}; {fix}"


def command(prog: str) -> Callable:
    """Decorate a command's ``main(argv)`` so that user-caused errors are one line naming the file and the fix."""

    def wrap(main: Callable[[Optional[Sequence[str]]], int]) -> Callable:
        @functools.wraps(main)
        def run(argv: Optional[Sequence[str]] = None) -> int:
            try:
                keep_freed_memory()
                return main(argv)
            except (SpeechgenError, OSError) as err:
                if os.environ.get("SPEECHGEN_TRACEBACK"):
                    raise
                line = os_error_line(err) if isinstance(err, OSError) else str(err)
                print(f"{prog}: error: {line}", file=sys.stderr)
                return 1
            except KeyboardInterrupt:
                print(f"{prog}: interrupted", file=sys.stderr)
                return 130

        return run

    return wrap
