"""Which of the agent's changes reach the grading sandbox (docs/swe-grader.md, "What is graded").

The agent's sandbox is read back as file contents (``Sandbox.snapshot``), never as a diff or through its
``.git``. Of what changed, only edits to the repository's **source** are kept; everything else is
dropped with the reason, and graded as it is at the base commit:

* tests, test helpers, every ``conftest.py`` and the pytest/tox/project configuration
  (``test_spec.is_protected``);
* package metadata anywhere (``*.dist-info``, ``*.egg-info``, ``*.egg-link``, ``*.pth``): an entry point
  in ``[pytest11]`` or a ``.pth`` line runs code in the test process before any test;
* **new** files outside the packages that exist at the base commit (a directory holding an
  ``__init__.py``): a new top-level module or package could shadow ``pytest``, a plugin or the
  standard library, because the test command's working directory is on ``sys.path``;
* symlinks (a source file replaced by a link is deleted), and whatever the snapshot skipped.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from aem_envs.swe.sandbox import Snapshot
from aem_envs.swe.test_spec import is_protected

METADATA_SUFFIXES = (".dist-info", ".egg-info", ".egg-link", ".pth", ".egg")
PROTECTED = "test file or test configuration: graded as at the base commit"
METADATA = "package metadata: could load plugins or run code at interpreter start"
OUTSIDE = "new file outside the repository's existing packages: could shadow a module"


@dataclass
class ChangeSet:
    """``overlay``: path -> new bytes (None: delete), written over the base commit; ``dropped``:
    "path (reason)" for everything refused."""

    overlay: dict[str, bytes | None] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)


def packages_of(base_paths: Collection[str]) -> set[str]:
    """Directories that are Python packages at the base commit."""
    return {p.rsplit("/", 1)[0] for p in base_paths if p.endswith("/__init__.py")}


def _inside_package(rel: str, packages: set[str]) -> bool:
    parts = rel.split("/")[:-1]
    return any("/".join(parts[:i]) in packages for i in range(1, len(parts) + 1))


def refusal(rel: str, created: bool, packages: set[str], test_files: Collection[str]) -> str | None:
    """Why a changed path may not be graded (None: it may)."""
    if is_protected(rel, frozenset(test_files)):
        return PROTECTED
    if any(part.endswith(METADATA_SUFFIXES) for part in rel.split("/")):
        return METADATA
    if created and not _inside_package(rel, packages):
        return OUTSIDE
    return None


def select(snap: Snapshot, base_paths: Collection[str], test_files: Collection[str]) -> ChangeSet:
    """The overlay for the grading sandbox and the dropped paths, from the agent's snapshot. Deletions
    come first in the overlay: a file deleted to make room for a directory of its name (a module turned
    into a package) must be gone before the directory's files are written."""
    packages, out = packages_of(base_paths), ChangeSet()
    writes: dict[str, bytes | None] = {}
    for rel in sorted(snap.files):
        why = refusal(rel, rel in snap.created, packages, test_files)
        if why:
            out.dropped.append(f"{rel} ({why})")
        else:
            writes[rel] = snap.files[rel]
    for rel in sorted(snap.deleted):
        why = refusal(rel, False, packages, test_files)
        if why:
            out.dropped.append(f"{rel} (deleted; {why})")
        else:
            out.overlay[rel] = None
    for rel in sorted(snap.symlinks):
        out.dropped.append(f"{rel} (symlink)")
        if rel in base_paths and refusal(rel, False, packages, test_files) is None:
            out.overlay[rel] = None
    out.overlay.update(writes)
    out.dropped += snap.skipped  # already "path (reason)"
    return out
