"""The projects behind ``swe-real`` and their set-up: pinned sdists → one-commit git repos + test envs.

``tasks/swe-real/v0/sources.json`` pins every project release: the sdist's URL and sha256, the licence,
where its import root is, the hashed requirement list of its test environment (``envs/<key>.txt``) and
the commit the set-up must produce. ``setup()`` (run by ``make system`` through
``scripts/system.d/swe-real.sh``; idempotent, cached in the user cache dir) does, per project:

1. download the sdist (once) and check its sha256;
2. unpack it (tar "data" filter) into a git repository with one commit of fixed author, date and message,
   so the commit id is a function of the sdist's bytes: the row's ``base_commit``, checked here;
3. install the pinned test requirements (wheels only, hashes required) into a ``site`` folder built for
   the sandbox's Python, plus ``aem-testbed.pth`` (puts ``/testbed`` or ``/testbed/src`` on ``sys.path``,
   like an editable install) and the project's own ``.dist-info`` (its sdist's PKG-INFO), so
   ``importlib.metadata`` sees the release under test rather than the rootfs's Debian copy.

The sandbox mounts that folder read-only over ``SITE_MOUNT``, the first site directory of the rootfs's
``python3`` (Debian's ``/usr/local/lib/python3.X/dist-packages``, before its own ``dist-packages``): the
agent and the grader run the project's tests with exactly these packages and no network.
Nothing is downloaded at ``reset()``: a missing set-up is a ``RuntimeUnavailable`` naming ``make system``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from aem_envs.swe import repos
from aem_envs.swe.sandbox import RuntimeUnavailable

PYTHON = "3.11"  # the sandbox rootfs's python3 (Debian bookworm); sites are built for it
SITE_MOUNT = f"/usr/local/lib/python{PYTHON}/dist-packages"
WORKDIR = "/testbed"
COMMIT_DATE = "2026-01-01T00:00:00+00:00"
SETUP_HINT = "run `make system` (downloads the pinned sdists and builds their test environments, once)"
_lock = threading.Lock()
_ready_cache: dict[tuple[str, str, str], tuple[Path, Path]] = {}


@dataclass(frozen=True)
class Project:
    """One pinned release (a ``sources.json`` entry)."""

    key: str            # "<pypi name>-<version>", the rows' ``sdist`` field
    name: str           # PyPI name
    version: str
    sdist: str          # file name on PyPI
    url: str
    sha256: str
    repo: str           # upstream GitHub owner/name (attribution, instance ids)
    license: str        # SPDX id
    license_file: str   # the licence's path inside the sdist
    import_root: str    # "." or "src": what goes on sys.path
    requirements: str   # envs/<key>.txt: the test environment, pinned with hashes
    base_commit: str = ""

    @property
    def testbed_path(self) -> str:
        return WORKDIR if self.import_root in ("", ".") else f"{WORKDIR}/{self.import_root.strip('/')}"


def load_projects(folder: Path) -> dict[str, Project]:
    raw = json.loads((Path(folder) / "sources.json").read_text(encoding="utf-8"))
    return {k: Project(key=k, **v) for k, v in raw["projects"].items()}


def dump_projects(projects: dict[str, Project]) -> str:
    body = {k: {f: v for f, v in asdict(p).items() if f != "key"} for k, p in sorted(projects.items())}
    return json.dumps({"python": PYTHON, "site_mount": SITE_MOUNT, "projects": body}, indent=1,
                      sort_keys=True) + "\n"


def cache_root() -> Path:
    """``$AEM_SWE_REAL_CACHE``, else ``real/`` in the SWE cache (``repos.cache_dir``)."""
    env = os.environ.get("AEM_SWE_REAL_CACHE")
    return Path(env) if env else repos.cache_dir() / "real"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _ready(d: Path) -> Path:
    """The marker written once ``d`` is complete (a sibling file, so ``d`` itself stays untouched)."""
    return d.with_name(d.name + ".ready")


def repo_dir(p: Project) -> Path:
    return cache_root() / "repos" / f"{p.key}-{p.sha256[:12]}"


def site_dir(p: Project, folder: Path) -> Path:
    req = (Path(folder) / p.requirements).read_bytes()
    tag = hashlib.sha256(req + f"{PYTHON}|{p.import_root}|{p.sha256}".encode()).hexdigest()[:12]
    return cache_root() / "sites" / f"{p.key}-{tag}"


# -- 1. the sdist ------------------------------------------------------------------------------------
def ensure_sdist(p: Project) -> Path:
    dest = cache_root() / "sdists" / p.sdist
    if dest.is_file() and _sha256(dest) == p.sha256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=p.sdist + ".", dir=dest.parent)
    os.close(fd)
    try:
        with urllib.request.urlopen(p.url, timeout=120) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
        got = _sha256(Path(tmp))
        if got != p.sha256:
            raise RuntimeError(f"{p.sdist}: sha256 {got} does not match the pinned {p.sha256}; refusing it")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


# -- 2. the one-commit repository -------------------------------------------------------------------
def _commit_env() -> dict[str, str]:
    who = {"NAME": "aem-gym", "EMAIL": "tasks@aem-gym.invalid", "DATE": COMMIT_DATE}
    return {f"GIT_{role}_{k}": v for role in ("AUTHOR", "COMMITTER") for k, v in who.items()}


def unpack(sdist: Path, dest: Path) -> None:
    """The sdist's single top-level folder, unpacked as ``dest`` (links and odd members refused)."""
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp, tarfile.open(sdist) as tar:
        tops = {m.name.split("/", 1)[0] for m in tar.getmembers()}
        if len(tops) != 1:
            raise RuntimeError(f"{sdist.name}: expected one top-level folder, found {sorted(tops)[:5]}")
        tar.extractall(tmp, filter="data")
        os.rename(Path(tmp) / tops.pop(), dest)


def make_repo(sdist: Path, dest: Path, message: str) -> str:
    """Unpack ``sdist`` at ``dest`` as a git repo with one deterministic commit; returns its id."""
    unpack(sdist, dest)
    repos.git("init", "-q", "-b", "main", cwd=dest)
    repos.git("add", "-A", "-f", ".", cwd=dest)  # -f: the sdist is the release, .gitignore or not
    repos.git("commit", "-q", "--no-verify", "-m", message, cwd=dest, env=_commit_env())
    repos.git("reflog", "expire", "--expire=now", "--all", cwd=dest)
    for hook in (dest / ".git" / "hooks").glob("*"):
        hook.unlink()
    return repos.git("rev-parse", "HEAD", cwd=dest).strip()


def commit_message(p: Project) -> str:
    return f"{p.name} {p.version} from {p.sdist} (sha256 {p.sha256})\n"


def ensure_repo(p: Project) -> tuple[Path, str]:
    dest = repo_dir(p)
    if _ready(dest).is_file():
        return dest, _ready(dest).read_text(encoding="utf-8").strip()
    sdist = ensure_sdist(p)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=dest.name + ".", dir=dest.parent) as tmp:
        work = Path(tmp) / "r"
        commit = make_repo(sdist, work, commit_message(p))
        if p.base_commit and commit != p.base_commit:
            raise RuntimeError(f"{p.key}: the sdist's repository is commit {commit}, the pins say "
                               f"{p.base_commit}; the task data and this set-up disagree")
        shutil.rmtree(dest, ignore_errors=True)
        os.rename(work, dest)
    # beside the tree: the sandboxes copy exactly the sdist
    _ready(dest).write_text(commit + "\n", encoding="utf-8")
    return dest, commit


# -- 3. the test environment ------------------------------------------------------------------------
def _platform_tag() -> tuple[str, str]:
    """(uv's --python-platform, pip's --platform) for this machine's architecture."""
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())
    return f"{arch}-manylinux_2_28", f"manylinux_2_28_{arch}"


def install_cmd(req: Path, target: Path) -> list[str]:
    """The installer command: uv if available (``$AEM_UV``, PATH), else pip; wheels only, hashes required."""
    uv_plat, pip_plat = _platform_tag()
    uv = os.environ.get("AEM_UV") or shutil.which("uv")
    if uv:
        return [uv, "pip", "install", "--no-config", "--quiet", "--target", str(target), "--no-deps",
                "--require-hashes", "--only-binary", ":all:", "--python-version", PYTHON,
                "--python-platform", uv_plat, "--compile-bytecode", "--python", sys.executable, "-r",
                str(req)]
    return [sys.executable, "-m", "pip", "install", "--isolated", "--quiet", "--target", str(target),
            "--no-deps", "--require-hashes", "--only-binary", ":all:", "--python-version", PYTHON,
            "--implementation", "cp", "--platform", pip_plat, "--platform", "any", "-r", str(req)]


def _dist_info(p: Project, repo: Path, site: Path) -> None:
    norm = re.sub(r"[-_.]+", "_", p.name).lower()
    d = site / f"{norm}-{p.version}.dist-info"
    d.mkdir()
    shutil.copyfile(repo / "PKG-INFO", d / "METADATA")
    (d / "INSTALLER").write_text("aem-gym\n", encoding="utf-8")
    (d / "RECORD").write_text("", encoding="utf-8")


def ensure_site(p: Project, folder: Path, repo: Path) -> Path:
    dest = site_dir(p, folder)
    if _ready(dest).is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=dest.name + ".", dir=dest.parent) as tmp:
        site = Path(tmp) / "site"
        r = subprocess.run(install_cmd(Path(folder) / p.requirements, site), capture_output=True, text=True,
                           timeout=900)
        if r.returncode:
            raise RuntimeError(f"{p.key}: installing the test environment failed:\n{r.stderr[-2000:]}")
        own = {d.name for d in (repo / p.import_root).iterdir() if (d / "__init__.py").is_file()}
        clash = sorted(own & {d.name for d in site.iterdir()})
        if clash:
            raise RuntimeError(f"{p.key}: the test environment holds {clash}, which the release itself "
                               "provides; drop it from the requirements")
        (site / "aem-testbed.pth").write_text(p.testbed_path + "\n", encoding="utf-8")
        _dist_info(p, repo, site)
        for d in [site, *site.rglob("*")]:  # readable by the sandbox's unprivileged user
            d.chmod(0o755 if d.is_dir() else (d.stat().st_mode | 0o444) & 0o755)
        shutil.rmtree(dest, ignore_errors=True)
        os.rename(site, dest)
    _ready(dest).write_text(p.key + "\n", encoding="utf-8")
    return dest


# -- set-up and lookup -------------------------------------------------------------------------------
def setup(folder: Path, progress: bool = True) -> dict[str, tuple[Path, Path]]:
    """Every project of ``folder`` (a task-set version folder) ready: {key: (repo, site)}."""
    out = {}
    projects = load_projects(folder)
    for i, p in enumerate(projects.values()):
        if progress:
            print(f"swe-real [{i + 1}/{len(projects)}] {p.key}", file=sys.stderr, flush=True)
        repo, _ = ensure_repo(p)
        out[p.key] = (repo, ensure_site(p, folder, repo))
    return out


def prepared(folder: Path, key: str) -> tuple[Path, Path]:
    """(pristine repo, site folder) of project ``key``, as ``setup()`` left them; never downloads."""
    folder = Path(folder)
    cache_key = (str(folder.resolve()), key, str(cache_root()))  # the cache dir may change (tests, users)
    with _lock:
        if cache_key in _ready_cache:
            return _ready_cache[cache_key]
    projects = load_projects(folder)
    if key not in projects:
        raise KeyError(f"no project {key!r} in {folder / 'sources.json'}")
    p = projects[key]
    repo, site = repo_dir(p), site_dir(p, folder)
    if not _ready(repo).is_file() or not _ready(site).is_file():
        raise RuntimeUnavailable(f"swe-real project {key} is not set up in {cache_root()}; {SETUP_HINT}")
    commit = _ready(repo).read_text(encoding="utf-8").strip()
    if p.base_commit and commit != p.base_commit:
        raise RuntimeUnavailable(f"{repo} holds commit {commit}, the task data expects {p.base_commit}; "
                                 f"delete it and {SETUP_HINT}")
    with _lock:
        _ready_cache[cache_key] = (repo, site)
    return repo, site


def require(folder: Path) -> None:
    """Raise ``RuntimeUnavailable`` (naming ``make system``) unless every project of ``folder`` is set up."""
    for key in load_projects(folder):
        prepared(folder, key)


def _ready_count(folder: Path) -> int:
    n = 0
    for p in load_projects(folder).values():
        n += _ready(repo_dir(p)).is_file() and _ready(site_dir(p, folder)).is_file()
    return n


def main(argv: list[str] | None = None) -> int:
    import argparse

    from aem_envs.tasks import tasks_root

    ap = argparse.ArgumentParser(description="Download and prepare the swe-real projects (idempotent).")
    ap.add_argument("command", choices=["setup", "status"])
    ap.add_argument("--tasks", type=Path, default=None, help="task folder (default: tasks/swe-real/v0)")
    ap.add_argument("--quiet", action="store_true", help="print only what had to be done")
    a = ap.parse_args(argv)
    folder = a.tasks or tasks_root() / "swe-real" / "v0"
    if a.command == "setup":
        before = _ready_count(folder)
        done = setup(folder, progress=not a.quiet or before < len(load_projects(folder)))
        if not a.quiet or before < len(done):
            print(f"swe-real: {len(done)} projects ready in {cache_root()}")
        return 0
    missing = []
    for key in load_projects(folder):
        try:
            prepared(folder, key)
        except RuntimeUnavailable as e:
            missing.append(str(e))
    print("\n".join(missing) or "swe-real: every project is set up")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
