"""Reading an untrusted results directory without trusting it (see docs/leaderboard.md, "Limits").

* Only regular files are read: each path is ``lstat``-ed first, so a symlink (``episodes.jsonl`` ->
  ``/dev/zero``), a directory named ``*.jsonl`` or a FIFO is refused before anything opens it (opening a
  FIFO would block). Files are opened with ``O_NOFOLLOW | O_NONBLOCK`` and re-checked with ``fstat``.
* Every file has a size cap (``MAX_BYTES``), and at most ``cap + 1`` bytes are ever read.
* JSON numbers must be finite (``NaN``, ``Infinity`` and overflowing literals such as ``1e999`` are refused);
  YAML may not use aliases (an alias bomb expands a few hundred bytes into gigabytes) and its floats must be
  finite too.
* A results directory holds only the files ``aem eval`` writes; anything else is refused by name.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

MiB = 1 << 20
MAX_BYTES = {
    "summary.json": 4 * MiB,
    "metadata.yaml": 1 * MiB,
    "episodes.jsonl": 64 * MiB,
    "trajectory": 256 * MiB,
}
MAX_TOTAL_BYTES = 1024 * MiB  # a whole results directory
MAX_DEPTH = 64  # nesting of JSON/YAML containers


class UnsafeInput(ValueError):
    """A file is not a regular file, too large, or uses a construct we refuse; the message says which."""


def read_regular(path: Path, cap: int, shown: str | None = None) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``cap`` bytes (never follows a link)."""
    name = shown or path.name
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise UnsafeInput(f"{name} is missing") from None
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeInput(
            f"{name} is not a regular file ({_kind(st.st_mode)}); a results directory holds only plain files"
        )
    if st.st_size > cap:
        raise UnsafeInput(f"{name} is {st.st_size:,} bytes, over the {cap:,}-byte limit")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise UnsafeInput(f"{name} cannot be opened ({e.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped between lstat and open
            raise UnsafeInput(f"{name} is not a regular file")
        chunks, left = [], cap + 1
        while left > 0:
            b = os.read(fd, min(left, 8 * MiB))
            if not b:
                break
            chunks.append(b)
            left -= len(b)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > cap:
        raise UnsafeInput(f"{name} grew over the {cap:,}-byte limit while being read")
    return data


def _kind(mode: int) -> str:
    for test, what in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return what
    return "not a plain file"


def list_dir(path: Path, allowed: dict[str, str], shown: str) -> dict[str, str]:
    """``{name: kind}`` of a directory's entries (``kind``: "file" or "dir", from ``lstat``); an entry whose
    name is not in ``allowed`` (name -> expected kind, ``"*.jsonl"`` as a suffix pattern) or whose kind
    differs is refused."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise UnsafeInput(f"{shown} is missing") from None
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeInput(f"{shown} is not a directory ({_kind(st.st_mode)})")
    out: dict[str, str] = {}
    for name in sorted(os.listdir(path)):
        mode = os.lstat(path / name).st_mode
        kind = "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else _kind(mode)
        want = allowed.get(name) or (allowed.get("*.jsonl") if name.endswith(".jsonl") else None)
        if want is None:
            raise UnsafeInput(
                f"unknown file {shown}{name!r}: a results directory holds only {', '.join(sorted(allowed))}"
            )
        if kind != want:
            raise UnsafeInput(
                f"{shown}{name} is {'a directory' if kind == 'dir' else kind}, expected a "
                f"{'directory' if want == 'dir' else 'regular file'}"
            )
        out[name] = kind
    return out


def _finite_float(s: str) -> float:
    x = float(s)
    if not math.isfinite(x):
        raise ValueError(f"number {s[:40]} is not finite")
    return x


def _no_constant(s: str) -> Any:
    raise ValueError(f"{s} is not a number a results file may hold (numbers must be finite)")


def parse_json(text: str) -> Any:
    """``json.loads`` refusing NaN/Infinity/overflow; raises ``ValueError`` with a short reason."""
    try:
        return json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def load_yaml_text(text: str) -> Any:
    """Safe YAML without aliases (refused, naming the line); non-finite floats refused."""
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise UnsafeInput(
                    f"line {mark.line + 1}: YAML aliases (*name) are not allowed in results files"
                )
            return super().compose_node(parent, index)

    loader = NoAliasLoader(text)
    try:
        obj = loader.get_single_data()
    finally:
        loader.dispose()
    check_finite(obj)
    return obj


def check_finite(obj: Any, depth: int = 0) -> None:
    """Raise ``ValueError`` for a non-finite float anywhere in ``obj`` (or nesting beyond ``MAX_DEPTH``)."""
    if depth > MAX_DEPTH:
        raise ValueError("nested too deeply")
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"{obj} is not a finite number")
    if isinstance(obj, dict):
        for v in obj.values():
            check_finite(v, depth + 1)
    elif isinstance(obj, list):
        for v in obj:
            check_finite(v, depth + 1)
