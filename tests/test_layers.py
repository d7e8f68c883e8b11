"""The package layers: aem_envs knows no policy; agents builds on aem_envs only; the CLI only composes."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Folder -> the import name it installs as (pyproject.toml [tool.setuptools.package-dir]).
NAMES = {"aem_envs": "aem_envs", "agents": "aem_gym.agents", "baselines": "aem_gym.baselines",
         "leaderboard": "aem_gym.leaderboard", "aem_cli": "aem_gym.cli"}
# Top-level names the folders must never be imported by: they belong to other well-known packages
# (the OpenAI Agents SDK is `agents`, OpenAI Baselines is `baselines`), and importing them here would load
# a second copy of our module, or someone else's.
SHADOWED = {"agents", "baselines", "leaderboard", "aem_cli", "tasks"}
FORBIDDEN = {
    "aem_envs": {"aem_gym"},
    "agents": {"aem_gym.baselines", "aem_gym.leaderboard", "aem_gym.cli"},
    # Siblings: evaluation must not depend on the trainer, nor the trainer on the leaderboard.
    "baselines": {"aem_gym.leaderboard", "aem_gym.cli"},
    "leaderboard": {"aem_gym.baselines", "aem_gym.cli"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _hits(imported: set[str], prefixes: set[str]) -> set[str]:
    return {m for m in imported for p in prefixes if m == p or m.startswith(p + ".")}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_higher_layers(package):
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        hits = _hits(_imports(path), FORBIDDEN[package])
        if hits:
            bad.append(f"{path.relative_to(ROOT)} imports {sorted(hits)}")
    assert not bad, "\n".join(bad)


def test_no_code_imports_a_shadowed_top_level_name():
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in {".venv", ".tools", "build", "dist", ".cache"} or "site-packages" in rel.parts:
            continue
        hits = {m for m in _imports(path) if m.split(".")[0] in SHADOWED}
        if hits:
            bad.append(f"{rel} imports {sorted(hits)}; use the aem_gym.* name")
    assert not bad, "\n".join(bad)


def test_importing_aem_envs_loads_no_policy_or_torch():
    code = ("import sys, aem_envs; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('aem_gym', 'torch', 'transformers')]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
