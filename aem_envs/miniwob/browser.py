"""Headless Chromium for MiniWoB++: Debian's chromium + chromedriver, with the flags docs/install.md lists
as necessary for a machine with no outside network.

miniwob reads ``MINIWOB_CHROME_BINARY``/``MINIWOB_CHROMEDRIVER`` (both or neither; without them Selenium
tries to download a driver) and itself adds only ``headless``, ``no-sandbox`` and ``disable-gpu``. The
other flags stop Chromium's background networking, component updates, sync and QUIC, which otherwise
stall or spam on an offline machine; miniwob has no hook for them, so its module's ``webdriver`` name is
pointed at a shim whose ``ChromeOptions`` adds them (only miniwob's Chrome is affected, nobody else's).
"""

from __future__ import annotations

import os
import shutil
import threading
import types

EXTRA_CHROMIUM_FLAGS = (
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-quic", "--disable-dev-shm-usage",
)
_CANDIDATES = {"MINIWOB_CHROME_BINARY": ("chromium", "chromium-browser", "google-chrome"),
               "MINIWOB_CHROMEDRIVER": ("chromedriver",)}
_lock = threading.Lock()


def _find(var: str) -> str | None:
    if os.environ.get(var):
        return os.environ[var]
    for name in _CANDIDATES[var]:
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium_problem() -> str | None:
    """Why MiniWoB cannot start a browser here, or ``None``."""
    missing = [var for var in _CANDIDATES if not _find(var)]
    if missing:
        return (f"no Chromium/chromedriver found ({', '.join(missing)} unset and not on PATH): run "
                f"`make system` "
                "(installs Debian chromium and chromium-driver)")
    return None


def configure() -> None:
    """Point miniwob at the local Chromium and make it start with our flags (idempotent, thread-safe)."""
    problem = chromium_problem()
    if problem:
        raise RuntimeError(f"MiniWoB needs a browser: {problem}")
    with _lock:
        for var in _CANDIDATES:
            os.environ.setdefault(var, _find(var) or "")
        import miniwob.selenium_instance as instance
        from selenium import webdriver

        if getattr(instance.webdriver, "_aem_shim", False):
            return

        class ChromeOptions(webdriver.ChromeOptions):
            def __init__(self) -> None:
                super().__init__()
                for flag in EXTRA_CHROMIUM_FLAGS:
                    self.add_argument(flag)

        instance.webdriver = types.SimpleNamespace(ChromeOptions=ChromeOptions, Chrome=webdriver.Chrome,
                                                   _aem_shim=True)
