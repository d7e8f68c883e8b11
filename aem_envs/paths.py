"""Where aem_envs keeps files it makes: one user cache directory, never a folder next to the package.

``cache_dir("swe")`` is ``$AEM_CACHE_DIR/swe`` when that variable is set, else the platform's user cache
directory (``$XDG_CACHE_HOME/aem-gym/swe`` or ``~/.cache/aem-gym/swe`` on Linux). The finer variables that
predate it (``AEM_SWE_CACHE``, ``AEM_SWE_ROOTFS``, ``AEM_TEXTWORLD_CACHE``) still override their own folder.
A wheel installed into a read-only site-packages therefore works, and two checkouts share one cache.
``scripts/system.d/swe.sh`` computes the same default for the sandbox rootfs it builds.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "aem-gym"


def cache_dir(*parts: str, create: bool = False) -> Path:
    """The user cache directory for aem-gym (or ``$AEM_CACHE_DIR``), joined with ``parts``."""
    base = os.environ.get("AEM_CACHE_DIR") or platformdirs.user_cache_dir(APP_NAME, appauthor=False)
    path = Path(base).joinpath(*parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path
