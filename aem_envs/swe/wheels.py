"""Wheels from PyPI for images built offline (``harness_image``): downloaded on the host, cached.

Docker builds here have no network, and the project's venv has no pip. So pip itself comes as one pinned
wheel (its sha256 checked), run straight from the wheel with this interpreter (CPython 3.11 like the
images'), and ``pip download --prefer-binary`` fetches the requirements into a folder named by a digest
of the requirements, under the user cache (``aem_envs.paths.cache_dir("swe", "wheels")``). The
user's pip configuration (index, proxy, certificates) applies.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from aem_envs import paths

PIP_WHEEL = "pip-24.2-py3-none-any.whl"
PIP_URL = ("https://files.pythonhosted.org/packages/d4/55/"
           "90db48d85f7689ec6f81c0db0622d704306c5284850383c090e6c7195a5c/pip-24.2-py3-none-any.whl")
PIP_SHA256 = "2cd581cf58ab7fcfca4ce8efa6dcacd0de5bf8d0a3eb9ec927e07405f4d9e2a2"
# This interpreter must match the image's (CPython 3.11, x86_64 Linux): sdists (packages without a cp311
# wheel, e.g. MarkupSafe 2.1.1) are kept as sdists and built in the image (pure Python: it has no compiler).
TARGET = ("--prefer-binary",)


class WheelError(RuntimeError):
    """Wheels could not be fetched; the message says which and why."""


def cache() -> Path:
    return paths.cache_dir("swe", "wheels", create=True)


def pip_wheel() -> Path:
    """The pinned pip wheel (downloaded once, sha256 checked)."""
    dest = cache() / PIP_WHEEL
    if dest.is_file() and hashlib.sha256(dest.read_bytes()).hexdigest() == PIP_SHA256:
        return dest
    try:
        with urllib.request.urlopen(PIP_URL, timeout=120) as r:
            data = r.read()
    except OSError as e:
        raise WheelError(f"cannot download {PIP_WHEEL} from PyPI ({e}); put that file in {cache()}") from None
    if hashlib.sha256(data).hexdigest() != PIP_SHA256:
        raise WheelError(f"{PIP_URL} does not have the pinned sha256")
    tmp = dest.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, dest)
    return dest


def fetch(requirements: Sequence[str], progress: bool = False) -> Path:
    """A folder holding wheels (or sdists) for ``requirements`` and their dependencies (cached by their
    digest); WheelError if this interpreter is not the images' CPython 3.11 on x86_64 Linux."""
    if sys.version_info[:2] != (3, 11) or sys.platform != "linux" or platform.machine() != "x86_64":
        raise WheelError("wheels for the images (CPython 3.11, x86_64 Linux) must be fetched by CPython "
                         f"3.11 on x86_64 Linux, not {sys.version.split()[0]} on {sys.platform} "
                         f"{platform.machine()}")
    reqs = sorted(dict.fromkeys(r.strip() for r in requirements if r.strip()))
    key = hashlib.sha256("\n".join([*TARGET, PIP_WHEEL, *reqs]).encode()).hexdigest()[:20]
    dest = cache() / f"house-{key}"
    if (dest / ".complete").is_file():
        return dest
    pip = pip_wheel()
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=cache()))
    try:
        cmd = [sys.executable, str(pip / "pip"), "download", "--disable-pip-version-check", "-q", *TARGET,
               "-d", str(tmp), *reqs]
        if progress:
            print(f"downloading wheels: {' '.join(reqs)}", file=sys.stderr, flush=True)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if r.returncode:
            raise WheelError(f"pip download failed for {reqs}:\n{(r.stdout + r.stderr)[-3000:]}")
        shutil.copy(pip, tmp / PIP_WHEEL)
        (tmp / ".complete").write_text("\n".join(reqs) + "\n", encoding="utf-8")
        try:
            os.rename(tmp, dest)
        except OSError:  # another process finished first
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
