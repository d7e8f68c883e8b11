"""How a command enters a sandbox, the same on every runtime: a fixed wrapper in argv, the rest on stdin.

The process runs ``bash -c WRAPPER bash <per-file cap in KiB>`` and gets ``frame(command, stdin)`` on its
stdin: a decimal length line, the command text, then the command's own stdin. The wrapper reads exactly
that many bytes of script from stdin (never an argv, so a command of any length runs: argv strings over
128 KiB fail with E2BIG), evaluates it in a subshell with the remaining stdin (the wrapper's own
"Killed" notices are muted; the command's stderr is not), and when it ends SIGKILLs every process
of the sandbox user that is still there (setsid'd and nohup'd children included): nothing a command
starts outlives it, on either runtime. That last step runs only where ``AEM_SANDBOX=1`` (the sandbox
environment): ``kill -1`` outside a pid namespace would hit every process of the user.
"""

from __future__ import annotations

WRAPPER = r"""IFS= read -r n || exit 125
ulimit -f "$1" 2>/dev/null
LC_ALL=C
IFS= read -r -d '' -N "$n" script
unset LC_ALL
{ ( eval "$script" ) 2>&5 5>&-; } 5>&2 2>/dev/null
rc=$?
exec 2>/dev/null
[ "${AEM_SANDBOX:-}" = 1 ] && kill -KILL -1
exit $rc
"""


def argv(disk_mb: int, prefix: str = "") -> list[str]:
    """The wrapper's argv (``prefix``: shell run first); ``disk_mb`` doubles as the per-file size cap
    (``ulimit -f``, KiB units)."""
    return ["/bin/bash", "-c", prefix + WRAPPER, "bash", str(max(1, disk_mb) << 10)]


def frame(command: str, stdin: bytes | None = None) -> bytes:
    """The wrapper's stdin for ``command``; raises ValueError for text bash cannot take (NUL bytes)."""
    if "\x00" in command:
        raise ValueError("a command cannot contain NUL bytes")
    script = command.encode("utf-8")  # lone surrogates raise UnicodeEncodeError (a ValueError)
    return b"%d\n" % len(script) + script + (stdin or b"")
