"""The upstream families register their ids only when the upstream package is importable, cheaply."""

from __future__ import annotations

import subprocess
import sys

BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {BLOCKED}:
            raise ModuleNotFoundError(name)
        return None
sys.meta_path.insert(0, Block())
import importlib.util
_orig = importlib.util.find_spec
def find_spec(name, package=None):
    if name.split('.')[0] in {BLOCKED}:
        return None
    return _orig(name, package)
importlib.util.find_spec = find_spec
import aem_envs
ids = [e.id for e in aem_envs.list_envs()]
prefixes = ('aem/ScienceWorld-', 'aem/TWX-', 'aem/TextWorld-', 'aem/MiniWoB-')
print(sorted({p for p in prefixes for i in ids if i.startswith(p)}))
print(sorted(m for m in ('scienceworld', 'textworld', 'textworld_express', 'miniwob', 'selenium', 'py4j')
             if m in sys.modules))
"""


def _run(blocked: set[str]) -> list[str]:
    code = BLOCKER.replace("{BLOCKED}", repr(blocked))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()


def test_no_ids_without_the_upstream_packages():
    families, loaded = _run({"scienceworld", "textworld", "textworld_express", "miniwob"})
    assert families == "[]" and loaded == "[]"


def test_registration_imports_no_upstream_package():
    # With whatever is installed: registering must not import the simulators (no JVM, no browser).
    _, loaded = _run(set())
    assert loaded == "[]"


def test_each_family_gated_on_its_own_package():
    import importlib.util

    families, _ = _run({"textworld"})
    assert "aem/TextWorld-" not in families
    if importlib.util.find_spec("textworld_express") is not None:
        assert "aem/TWX-" in families  # a sibling family in the same folder still registers
