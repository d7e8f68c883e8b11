"""Repositories on the host: a pristine checkout per (bundle, commit), cached, and gold file contents.

Checkouts are made with the host's ``git`` from the git bundles in ``tasks/swe-mini``; the bundle holds
only the base commit, so no future commit is reachable from the work tree. The clone's remote and
reflog (which would name host paths) are removed. Each checkout is built in a temp dir and renamed into
place, so concurrent envs (threads or processes) share one copy safely. Sandboxes copy it; nobody writes
to it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from aem_envs import paths

_lock = threading.Lock()
GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "HOME": tempfile.gettempdir(),
           "PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def cache_dir() -> Path:
    env = os.environ.get("AEM_SWE_CACHE")
    d = Path(env) if env else paths.cache_dir("swe")
    d.mkdir(parents=True, exist_ok=True)
    return d


def git(*args: str, cwd: Path | None = None, input: bytes | None = None, env: dict | None = None) -> str:
    r = subprocess.run(["git", "-c", "core.autocrlf=false", "-c", "advice.detachedHead=false", *args],
                       cwd=cwd, input=input, capture_output=True, env={**GIT_ENV, **(env or {})}, timeout=120)
    if r.returncode:
        raise RuntimeError(f"git {' '.join(args[:3])} failed: {r.stderr.decode(errors='replace')[-500:]}")
    return r.stdout.decode("utf-8", errors="replace")


def sha_file(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()[:16]


def checkout(bundle: Path, commit: str) -> Path:
    """A read-only-by-convention checkout of ``commit`` from ``bundle``, with ``.git`` (cached)."""
    bundle = Path(bundle)
    dest = cache_dir() / "checkouts" / f"{bundle.stem}-{sha_file(bundle)}-{commit[:12]}"
    if (dest / ".git").is_dir():
        return dest
    with _lock:
        if (dest / ".git").is_dir():
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
        try:
            r = tmp / "r"
            unbundle(bundle, commit, r)
            try:
                os.rename(r, dest)
            except OSError:  # another process won the race
                pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def unbundle(bundle: Path, commit: str, dest: Path) -> None:
    """A work tree at ``commit`` in the new folder ``dest`` from ``bundle``: a full bundle, or a one-commit
    bundle of a commit whose parents it leaves out (``one_commit_bundle``; the repo is then shallow,
    as ``git clone --depth 1`` leaves it). No remote, no reflog: nothing names the host."""
    dest.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=dest)
    # parents past the commit may be absent
    (dest / ".git" / "shallow").write_text(commit + "\n", encoding="utf-8")
    git("fetch", "-q", "--no-tags", str(Path(bundle).resolve()), "+refs/*:refs/bundle/*", cwd=dest)
    git("checkout", "-q", "-B", "main", commit, cwd=dest)
    for ref in git("for-each-ref", "--format=%(refname)", "refs/bundle", cwd=dest).split():
        git("update-ref", "-d", ref, cwd=dest)
    git("reflog", "expire", "--expire=now", "--all", cwd=dest)


def one_commit_bundle(repo: Path, commit: str, out: Path) -> Path:
    """A git bundle holding only ``commit`` (its tree, no history) of the local repository ``repo``, as
    ``refs/heads/main``. Its commit keeps its hash, so a SWE-bench row's ``base_commit`` still names it;
    ``unbundle`` restores it (shallow)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "r"
        git("init", "-q", "-b", "main", str(work))
        git("fetch", "-q", "--no-tags", "--depth", "1", f"file://{Path(repo).resolve()}", commit, cwd=work)
        git("update-ref", "refs/heads/main", commit, cwd=work)
        git("-c", "pack.threads=1", "bundle", "create", "-q", str(out.resolve()), "refs/heads/main", cwd=work)
    return out


def apply_patch_files(root: Path | Callable[[str], bytes | None], patch: str) -> dict[str, bytes | None]:
    """The files ``patch`` changes, with their content after applying it to ``root`` (None: deleted).
    ``root`` is a host tree, or a function reading a file of the tree (None: absent), e.g. from a sandbox."""
    from aem_envs.swe.test_spec import patch_files

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "w"
        if callable(root):
            work.mkdir()
            for rel in patch_files(patch)[0]:
                data = root(rel)
                if data is not None:
                    (work / rel).parent.mkdir(parents=True, exist_ok=True)
                    (work / rel).write_bytes(data)
        else:
            shutil.copytree(root, work, symlinks=True)
        git("apply", "--whitespace=nowarn", "-", cwd=work, input=patch.encode())
        modified, created = patch_files(patch)
        out: dict[str, bytes | None] = {}
        for rel in dict.fromkeys(modified + created):
            p = work / rel
            out[rel] = p.read_bytes() if p.is_file() else None
        return out
