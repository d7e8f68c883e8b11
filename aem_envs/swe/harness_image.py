"""Build a SWE-bench harness-layout image locally, from a one-commit bundle and wheels from PyPI.

The image is what swebench's harness (and ``aem/SWERepair-v0`` on runtime docker) expects of
``sweb.eval.x86_64.<id>``: the repository at ``/testbed``, a git repo at ``base_commit`` with a clean tree,
and the test environment behind ``source /opt/miniconda3/bin/activate; conda activate testbed``. Offline
it is made from parts this machine has:

* ``FROM aem-swe-base:bookworm`` (``make system`` imports it from the sandbox rootfs; Python 3.11);
* ``/opt/miniconda3``: a faithful stand-in for conda's activation (``SHIM_ACTIVATE``): ``activate`` and
  ``conda activate|deactivate NAME`` set ``PATH``/``CONDA_PREFIX``/``CONDA_DEFAULT_ENV`` for the Python
  venv at ``/opt/miniconda3/envs/NAME``; anything else says it is not conda;
* the test dependencies: wheels downloaded on the host (``wheels.fetch``, PyPI only, cached) and installed
  with ``--no-index``; they stay in ``/opt/miniconda3/pkgs`` and the env's ``pip.conf`` points there, so
  the eval script's own ``pip install -e .`` works without a network;
* ``/testbed`` set up the way swebench 4.1.0's ``install_repo_script`` does: the repo at ``base_commit``
  (one commit, no future history), ``chmod -R 777``, the spec's ``pre_install`` and ``install``, then
  an empty commit so ``git diff`` shows only later changes. A repo versioned by ``setuptools_scm`` gets
  ``SETUPTOOLS_SCM_PRETEND_VERSION`` (a one-commit repo has no tags to count from).

Images are labelled with a digest of everything that went in; ``build`` skips an image whose label
matches. ``python -m aem_envs.swe.images build`` is the command line.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aem_envs.swe import derive, repos, wheels
from aem_envs.swe.sandbox.base import SUITE_LABEL

CONDA = "/opt/miniconda3"
ENV_PREFIX = f"{CONDA}/envs/testbed"
BUILD_BASICS = ("pip==24.2", "setuptools==70.0.0", "wheel==0.43.0")
SHIM_ACTIVATE = r"""# aem-gym's stand-in for conda's activation (aem_envs/swe/harness_image.py).
# SWE-bench eval scripts run
#   source /opt/miniconda3/bin/activate; conda activate testbed
# Environments are Python venvs in /opt/miniconda3/envs/NAME; "base" is /opt/miniconda3.
conda() {
  case "${1:-}" in
    activate)
      local name="${2:-base}" prefix
      if [ "$name" = base ]; then prefix=/opt/miniconda3; else prefix="/opt/miniconda3/envs/$name"; fi
      if [ ! -d "$prefix" ]; then
        echo "EnvironmentNameNotFound: Could not find conda environment: $name" >&2
        return 1
      fi
      conda deactivate
      export CONDA_PREFIX="$prefix" CONDA_DEFAULT_ENV="$name" CONDA_SHLVL=1 PATH="$prefix/bin:$PATH"
      if [ "$name" != base ]; then export VIRTUAL_ENV="$prefix"; fi
      hash -r ;;
    deactivate)
      if [ -n "${CONDA_PREFIX:-}" ]; then
        local p=":$PATH:"
        p="${p//:$CONDA_PREFIX\/bin:/:}"; p="${p#:}"; PATH="${p%:}"; export PATH
      fi
      unset CONDA_PREFIX CONDA_DEFAULT_ENV VIRTUAL_ENV
      export CONDA_SHLVL=0
      hash -r ;;
    *) /opt/miniconda3/bin/conda "$@" ;;
  esac
}
conda activate "${1:-base}"
"""
SHIM_CONDA = """#!/bin/sh
# aem-gym's stand-in for the conda executable: only activation exists (source /opt/miniconda3/bin/activate).
case "${1:-}" in
  --version|-V) echo "conda 23.11.0 (aem-gym activation shim)" ;;
  env|info) ls -1 /opt/miniconda3/envs ;;
  *) echo "this image has conda's activation only (aem-gym shim): 'source /opt/miniconda3/bin/activate'" \\
       "then 'conda activate NAME'; environments are Python venvs with pip" >&2; exit 1 ;;
esac
"""


class BuildError(RuntimeError):
    """The image could not be built; the message has the failing step's output."""


@dataclass(frozen=True)
class Recipe:
    """Everything a harness image is made of (its digest labels the image)."""

    instance_id: str
    repo: str
    base_commit: str
    version: str = ""
    requirements: tuple[str, ...] = ()        # installed into the env (pip requirement strings)
    build_requirements: tuple[str, ...] = ()  # downloaded only: for the eval script's `pip install -e .`
    pre_install: tuple[str, ...] = ()
    install: str = ""
    env: Mapping[str, str] = field(default_factory=dict)

    def digest(self, bundle_sha: str, base_image_id: str) -> str:
        """Everything the image is made of: the recipe, the repo, the base image, and how they are put
        together (the Dockerfile and the env's requirements as this code writes them)."""
        data = json.dumps({**asdict(self), "bundle": bundle_sha, "base": base_image_id,
                           "shim": SHIM_ACTIVATE + SHIM_CONDA, "env": env_requirements(self),
                           "dockerfile": dockerfile(self, "BASE", "")}, sort_keys=True)
        return hashlib.sha256(data.encode()).hexdigest()[:24]


def _scm_version(tree_files: Mapping[str, str], version: str) -> dict[str, str]:
    uses_scm = any("setuptools_scm" in t or "setuptools-scm" in t for t in tree_files.values())
    return {"SETUPTOOLS_SCM_PRETEND_VERSION": f"{version or '0.0'}.0"} if uses_scm else {}


def _build_system(pyproject: str) -> list[str]:
    try:
        import tomllib

        return list(tomllib.loads(pyproject).get("build-system", {}).get("requires", []))
    except (ValueError, ImportError):
        return []


def recipe_for(row: Mapping[str, Any], bundle: Path, requirements: Sequence[str] = (),
               build_requirements: Sequence[str] = (), specs: Mapping[str, Any] | None = None,
               env: Mapping[str, str] | None = None) -> Recipe:
    """The recipe of ``row``'s image: ``pre_install``/``install``/``pip_packages`` from the row's spec
    (swebench 4.1.0's tables, or ``specs``) when it has one, plus ``requirements``; the repo's
    ``[build-system] requires`` are downloaded so the eval script's reinstall works offline."""
    try:
        _, spec = derive.repo_spec(row["repo"], row.get("version", ""), derive.load_extra(specs))
    except derive.DeriveError:
        spec = {"install": "python -m pip install -e ."}
    files = {}
    with tempfile.TemporaryDirectory() as tmp:
        repos.unbundle(bundle, row["base_commit"], Path(tmp) / "r")
        for name in ("pyproject.toml", "setup.cfg", "setup.py"):
            p = Path(tmp) / "r" / name
            files[name] = p.read_text(errors="replace") if p.is_file() else ""
    reqs = [*spec.get("pip_packages", []), *requirements]
    return Recipe(instance_id=row["instance_id"], repo=row["repo"], base_commit=row["base_commit"],
                  version=str(row.get("version") or ""), requirements=tuple(reqs),
                  build_requirements=tuple([*_build_system(files["pyproject.toml"]), *build_requirements]),
                  pre_install=tuple(spec.get("pre_install", [])), install=spec.get("install", ""),
                  env={**_scm_version(files, str(row.get("version") or "")), **(env or {})})


def _name(req: str) -> str:
    return re.split(r"[\s\[<>=!~;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def env_requirements(recipe: Recipe) -> list[str]:
    """What the env gets: setuptools and wheel as a conda Python env has them (unless the recipe pins its
    own), then the recipe's requirements."""
    named = {_name(r) for r in recipe.requirements}
    return [b for b in BUILD_BASICS[1:] if _name(b) not in named] + list(recipe.requirements)


def dockerfile(recipe: Recipe, base_image: str, digest: str) -> str:
    env = "".join(f"ENV {k}={shlex.quote(v)}\n" for k, v in sorted(recipe.env.items()))
    setup = [
        # the env: a venv where conda would keep it, pip from the wheel, the requirements with --no-index
        f"python3 -m venv --without-pip {ENV_PREFIX}",
        f"ln -s /usr/bin/python3 {CONDA}/bin/python",
        f"printf '[global]\\nno-index = true\\nfind-links = {CONDA}/pkgs\\n' > {ENV_PREFIX}/pip.conf",
        f"{ENV_PREFIX}/bin/python {CONDA}/pkgs/pip-24.2-py3-none-any.whl/pip install -q pip",
        f". {CONDA}/bin/activate testbed",
        "python -m pip install -q -r /tmp/aem/requirements.txt",
        # /testbed as swebench 4.1.0's install_repo_script leaves it (the clone comes from the bundle)
        "git init -q -b main /testbed", "cd /testbed", f"echo {recipe.base_commit} > .git/shallow",
        "git fetch -q --no-tags /tmp/aem/repo.bundle +refs/heads/*:refs/aem/*",
        f"git checkout -q -B main {recipe.base_commit}",
        "for r in $(git for-each-ref --format='%(refname)' refs/aem); do git update-ref -d $r; done",
        "chmod -R 777 /testbed", f"git reset -q --hard {recipe.base_commit}",
        "git reflog expire --expire=now --all",
        *recipe.pre_install, *([recipe.install] if recipe.install else []),
        "git config --global user.email setup@swebench.config", "git config --global user.name SWE-bench",
        "git commit -q --allow-empty -am SWE-bench", "rm -rf /tmp/aem /root/.cache",
    ]
    run = " && \\\n    ".join(setup)
    return (f"FROM {base_image}\n"
            'SHELL ["/bin/bash", "-o", "pipefail", "-c"]\n'
            f"COPY miniconda3 {CONDA}\n"
            "COPY aem /tmp/aem\n"
            f"{env}"
            f"RUN {run}\n"
            f"ENV PATH={CONDA}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
            "WORKDIR /testbed\n"
            "STOPSIGNAL SIGKILL\n"
            f'LABEL aem.suite="{SUITE_LABEL}" aem.harness-image="{digest}" '
            f'aem.instance="{recipe.instance_id}"\n')


def _context(recipe: Recipe, bundle: Path, base_image: str, digest: str, ctx: Path, progress: bool) -> None:
    conda = ctx / "miniconda3"
    (conda / "bin").mkdir(parents=True)
    (conda / "envs").mkdir()
    (conda / "bin" / "activate").write_text(SHIM_ACTIVATE, encoding="utf-8")
    (conda / "bin" / "conda").write_text(SHIM_CONDA, encoding="utf-8")
    (conda / "bin" / "conda").chmod(0o755)
    house = wheels.fetch([*BUILD_BASICS, *recipe.requirements, *recipe.build_requirements], progress=progress)
    shutil.copytree(house, conda / "pkgs")
    (ctx / "aem").mkdir()
    (ctx / "aem" / "requirements.txt").write_text("\n".join(env_requirements(recipe)) + "\n",
                                                  encoding="utf-8")
    shutil.copy(bundle, ctx / "aem" / "repo.bundle")
    (ctx / "Dockerfile").write_text(dockerfile(recipe, base_image, digest), encoding="utf-8")


def image_digest(client, tag: str) -> str | None:
    try:
        return (client.images.get(tag).labels or {}).get("aem.harness-image")
    except Exception:
        return None


def build(recipe: Recipe, bundle: Path, tag: str, *, base_image: str | None = None, progress: bool = True,
          force: bool = False) -> str:
    """Build (or reuse: same digest label) the harness image ``tag``; returns ``tag``."""
    from aem_envs.swe.sandbox.docker import BASE_IMAGE, docker_client

    client = docker_client()
    if client is None:
        raise BuildError("no Docker daemon answers; run `make system` as root (it starts dockerd)")
    base_image = base_image or BASE_IMAGE
    try:
        base_id = client.images.get(base_image).id
    except Exception:
        raise BuildError(f"base image {base_image} is missing; `make system` imports it") from None
    digest = recipe.digest(repos.sha_file(bundle), base_id)
    if not force and image_digest(client, tag) == digest:
        return tag
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Path(tmp)
        _context(recipe, bundle, base_image, digest, ctx, progress)
        log: list[str] = []
        try:
            for chunk in client.api.build(path=str(ctx), tag=tag, network_mode="none", rm=True, forcerm=True,
                                          decode=True):
                text = chunk.get("stream") or ""
                log.append(text)
                if progress and text.strip().startswith("Step "):
                    print(f"[{tag}] {text.strip()[:100]}", file=sys.stderr, flush=True)
                if "error" in chunk:
                    raise BuildError(f"building {tag} failed: {chunk['error']}\n{''.join(log)[-3000:]}")
        except BuildError:
            raise
        except Exception as e:
            raise BuildError(f"building {tag} failed: {type(e).__name__}: {e}\n{''.join(log)[-3000:]}") from e
    if image_digest(client, tag) != digest:
        raise BuildError(f"building {tag} did not produce the image:\n{''.join(log)[-3000:]}")
    return tag
