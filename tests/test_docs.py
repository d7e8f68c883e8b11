"""The docs site builds with warnings as errors, the README's links resolve, and code cites in-repo docs."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Code, configuration and scripts must cite pages under docs/, never design notes outside the repository.
CITED_FILES = ("*.py", "*.yaml", "*.yml", "*.toml", "*.sh", "Makefile")
OUTSIDE = re.compile(r"\.\./shared|shared/docs"
                     r"|\b(?:aem|rl-algorithms|alfworld|webshop|swebench|machines)\.md §")
SELF = Path(__file__).resolve()
SKIP_DIRS = {".venv", ".venv-vllm", ".tools", ".git", "node_modules", "site", "runs", ".wheels"}


def test_docs_site_builds_strict(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        pytest.skip("mkdocs-material is not installed (it is in the dev extra: pip install -e '.[dev]')")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
         "-d", str(tmp_path)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "index.html").is_file() and (tmp_path / "install" / "index.html").is_file()


def test_readme_links_point_to_files_in_the_repository():
    text = (ROOT / "README.md").read_text()
    links = [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if "://" not in t and not t.startswith("#")]
    assert links, "the README should link to the docs pages"
    missing = [t for t in links if not (ROOT / t.split("#")[0]).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"


def _sources() -> list[Path]:
    files = []
    for pattern in CITED_FILES:
        for path in ROOT.rglob(pattern):
            if not SKIP_DIRS.intersection(path.relative_to(ROOT).parts) and path.is_file() and path != SELF:
                files.append(path)
    return files


def test_code_cites_docs_in_the_repository_not_outside_notes():
    bad = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in _sources()
           for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if OUTSIDE.search(line)]
    assert not bad, "cite a page under docs/ instead of notes outside the repository:\n" + "\n".join(bad)


def test_docs_cited_by_code_exist():
    cited = {m for p in _sources()
             for m in re.findall(r"\bdocs/([a-z0-9-]+\.md)", p.read_text(errors="replace"))}
    missing = sorted(c for c in cited if not (ROOT / "docs" / c).is_file())
    assert not missing, f"code cites docs pages that do not exist: {missing}"


def test_readme_quick_start_runs(tmp_path):
    text = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S)
    assert code, "the README should have a Python quick start"
    lines = [ln for ln in code.group(1).splitlines() if ln.strip()]
    assert len(lines) <= 10, f"the quick start has {len(lines)} lines; keep it to 10"
    proc = subprocess.run([sys.executable, "-c", code.group(1)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("of 4 won")
