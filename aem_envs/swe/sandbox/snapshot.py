"""Reading a work tree back, with caps: what changed since a baseline, never more than the caps allow.

``scan`` walks a tree and yields records; it uses only the standard library because the Docker runtime
runs this very file inside the container (``python3 -I -S``, as the sandbox user, when no command of the
agent runs) and reads the records from its stdout, while bwrap calls it on the host. Rules:

* ``.git``, ``__pycache__``, ``.pytest_cache`` and bytecode are never read; links are recorded, never
  followed; anything that is not a regular file or a link is skipped with the reason.
* A file larger than ``max_file`` by its **apparent** size (``st_size``: a sparse 20 GiB file counts as
  20 GiB) is skipped unread. Files whose content digest equals the baseline's are not sent.
* The bytes sent stop at ``max_total`` and the changed paths at ``MAX_CHANGED``: the snapshot is then
  marked incomplete, and the grader fails closed on an incomplete snapshot.

Records on the wire: one JSON line ``{"k": kind, "p": path, ...}`` followed by ``n`` raw bytes for files.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys

EXCLUDE_DIRS = frozenset({".git", "__pycache__", ".pytest_cache"})
EXCLUDE_SUFFIXES = (".pyc", ".pyo")
MAX_CHANGED = 20_000


def digest(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def _read(path: str, size: int) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks, left = [], size + 1
        while left > 0:
            b = os.read(fd, min(left, 1 << 20))
            if not b:
                break
            chunks.append(b)
            left -= len(b)
        data = b"".join(chunks)
        return data if len(data) <= size else None
    finally:
        os.close(fd)


def _entries(root: str):
    """(relative path, lstat) of every entry worth looking at, in a stable order."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        keep = []
        for name in sorted(dirnames):
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                filenames.append(name)
            elif name not in EXCLUDE_DIRS:
                keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            if name.endswith(EXCLUDE_SUFFIXES):
                continue
            try:
                yield rel_dir + name, os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue


def scan(root: str, baseline: dict | None, max_file: int, max_total: int):
    """Yield records for what differs from ``baseline`` (path -> digest); with ``baseline=None`` yield
    the baseline itself ("base" records). At most ``MAX_CHANGED`` changed paths are reported."""
    n = 0
    for rec in _scan(root, baseline, max_file, max_total):
        if rec["k"] != "base":
            n += 1
            if n > MAX_CHANGED:
                yield {"k": "incomplete", "p": rec["p"], "r": f"more than {MAX_CHANGED} changed paths"}
                return
        yield rec


def _scan(root: str, baseline: dict | None, max_file: int, max_total: int):
    seen, sent = set(), 0
    for rel, st in _entries(root):
        full = os.path.join(root, rel)
        seen.add(rel)
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(full)
            d = "link:" + target
            if baseline is None:
                yield {"k": "base", "p": rel, "d": d}
            elif baseline.get(rel) != d:
                yield {"k": "link", "p": rel, "t": target}
            continue
        if not stat.S_ISREG(st.st_mode):
            yield {"k": "skip", "p": rel, "r": "not a regular file"}
            continue
        if st.st_size > max_file:
            why = f"larger than {max_file >> 20} MiB (apparent size {st.st_size})"
            yield {"k": "skip", "p": rel, "r": why}
            continue
        data = _read(full, max_file)
        if data is None:
            yield {"k": "skip", "p": rel, "r": "unreadable or changed while read"}
            continue
        d = digest(data)
        if baseline is None:
            yield {"k": "base", "p": rel, "d": d}
        elif baseline.get(rel) != d:
            sent += len(data)
            if sent > max_total:
                why = f"changed files exceed {max_total >> 20} MiB in total"
                yield {"k": "incomplete", "p": rel, "r": why}
                return
            yield {"k": "file", "p": rel, "n": len(data), "c": rel not in baseline, "data": data}
    for rel in sorted(set(baseline or ()) - seen):
        yield {"k": "deleted", "p": rel}


def write_records(records, out) -> None:
    for rec in records:
        data = rec.pop("data", b"")
        out.write(json.dumps(rec).encode() + b"\n")
        out.write(data)
    out.flush()


def read_records(buf: bytes):
    """Parse ``write_records`` output; a truncated tail yields an "incomplete" record."""
    pos = 0
    while pos < len(buf):
        nl = buf.find(b"\n", pos)
        if nl < 0:
            yield {"k": "incomplete", "p": "", "r": "the snapshot stream was cut"}
            return
        rec = json.loads(buf[pos:nl])
        pos = nl + 1
        if rec.get("k") == "file":
            n = int(rec["n"])
            if pos + n > len(buf):
                yield {"k": "incomplete", "p": rec["p"], "r": "the snapshot stream was cut"}
                return
            rec["data"] = buf[pos:pos + n]
            pos += n
        yield rec


def collect(records, max_total: int):
    """A ``base.Snapshot`` from records (host side; the caps are checked again here)."""
    from aem_envs.swe.sandbox.base import Snapshot

    snap, total = Snapshot(), 0
    for rec in records:
        kind, rel = rec["k"], rec["p"]
        if kind == "file":
            total += len(rec["data"])
            if total > max_total:
                snap.complete = False
                snap.skipped.append(f"{rel} (changed files exceed {max_total >> 20} MiB in total)")
                break
            snap.files[rel] = rec["data"]
            if rec.get("c"):
                snap.created.add(rel)
        elif kind == "link":
            snap.symlinks[rel] = rec["t"]
        elif kind == "deleted":
            snap.deleted.append(rel)
        elif kind == "skip":
            snap.skipped.append(f"{rel} ({rec['r']})")
        elif kind == "incomplete":
            snap.complete = False
            snap.skipped.append(f"{rel} ({rec['r']})")
            break
    return snap


def baseline(root: str) -> dict[str, str]:
    """path -> digest of a pristine tree (no caps: it is ours, not the agent's)."""
    return {r["p"]: r["d"] for r in scan(root, None, 1 << 62, 1 << 62) if r["k"] == "base"}


def main() -> None:  # run inside a container: arguments as JSON on stdin, records on stdout
    args = json.load(sys.stdin)
    records = scan(args["root"], args["baseline"], args["max_file"], args["max_total"])
    write_records(records, sys.stdout.buffer)


if __name__ == "__main__":
    main()
