"""The wheel works outside the checkout (issue: a wheel that works).

Builds the wheel from this tree, installs it into a fresh venv outside the repository that reuses this
venv's third-party packages (a path line in a ``.pth`` file, so this venv's editable finder is *not*
loaded), and runs the CLI from an empty folder with an empty user cache: the task data, recipes, tokenizer
corpus and web page must come from the wheel, and nothing may be written into site-packages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert (r.returncode
            == 0), f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of the tracked files only (as a clean clone would build it), built outside the checkout."""
    src = tmp_path_factory.mktemp("src")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, tracked.decode().split("\0")):
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    out = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "PIP_NO_INDEX": "1"}
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(src)],
         cwd=src, env=env)
    (whl,) = out.glob("aem_gym-*.whl")
    return whl


@pytest.fixture(scope="module")
def fresh(wheel, tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("fresh")
    venv = base / "venv"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip",
                    str(venv)],
                   check=True)
    py = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    # Third-party packages from this venv; a plain path line does not run that folder's .pth files, so
    # the editable install of this checkout stays out.
    (purelib / "_aem_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    home = base / "home"
    work = base / "work"
    home.mkdir()
    work.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
           "HF_HUB_OFFLINE": "1", "PYTHONNOUSERSITE": "1", "LANG": "C.UTF-8"}
    from aem_envs.swe.sandbox.bwrap import rootfs_path  # the sandbox rootfs `make system` built, reused
    if rootfs_path().exists():
        env["AEM_SWE_ROOTFS"] = str(rootfs_path())
        from aem_envs.swe.real.sources import cache_root  # and the swe-real set-up (the default task set)

        env["AEM_SWE_REAL_CACHE"] = str(cache_root())
    _run([str(py), "-m", "installer", str(wheel)], cwd=work, env=env)
    return {"py": py, "aem": venv / "bin" / "aem", "purelib": purelib, "env": env, "work": work}


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if "__pycache__" not in p.parts}


def test_wheel_installs_only_our_own_top_level_names(wheel):
    names = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist()}
    assert {n for n in names if not n.endswith(".dist-info")} == {"aem_envs", "aem_gym"}
    listing = zipfile.ZipFile(wheel).namelist()
    for needed in ("aem_envs/taskdata/household/v0/manifest.json",
                   "aem_envs/taskdata/webshop/v0/manifest.json",
                   "aem_envs/taskdata/swe-mini/v0/manifest.json", "aem_gym/agents/tiny/corpus.txt",
                   "aem_gym/baselines/recipes/cpu-tiny-household.yaml",
                   "aem_gym/leaderboard/static/index.html"):
        assert needed in listing, f"{needed} missing from the wheel"


def test_installed_wheel_runs_outside_the_checkout(fresh):
    py, aem, env, work = fresh["py"], str(fresh["aem"]), fresh["env"], fresh["work"]
    before = _files(fresh["purelib"] / "aem_envs") | _files(fresh["purelib"] / "aem_gym")
    where = _run([str(py), "-c", "import aem_envs, aem_gym.agents; from aem_envs.tasks import tasks_root; "
                  "print(aem_envs.__file__); print(aem_gym.agents.__file__); print(tasks_root())"], work, env)
    for line in where.stdout.split():
        assert line.startswith(str(fresh["purelib"])), f"{line} is not from the installed wheel"
    envs = _run([aem, "envs"], work, env).stdout
    assert "aem/Household-v0" in envs and "aem/WebShop-v0" in envs and "aem/SWERepair-v0" in envs
    for env_id in ("aem/Household-v0", "aem/WebShop-v0"):
        _run([aem, "check", env_id], work, env)
    if "AEM_SWE_ROOTFS" in env:
        _run([aem, "check", "aem/SWERepair-v0", "--steps", "2", "--fuzz", "4"], work, env)
    out = _run([aem, "eval", "--agent", "oracle", "--suite", "aem/Household-v0", "--episodes", "4",
                "--out", "res", "--no-progress"], work, env).stdout
    assert "overall success 1.000" in out
    after = _files(fresh["purelib"] / "aem_envs") | _files(fresh["purelib"] / "aem_gym")
    assert after == before, f"written into site-packages: {sorted(after - before)[:5]}"
    assert not (work / ".cache").exists()
