"""``Registry[T]``: the one name → object table behind every plugin point of the suite.

Sandbox runtimes, SWE tools, observation modes, MiniWoB verbs and oracles, TextWorld game kinds, prompt
builders, agent kinds, scripts, advantage estimators, suites, CLI subcommands, web routes ... each is a
``Registry``, so all of them behave alike (docs/writing-envs.md, "Registries")::

    SCRIPTS: Registry[Script] = Registry("script", fix="register one with @script('NAME')")

    @SCRIPTS.register("first")          # as a decorator
    def _first(req, rng): ...
    SCRIPTS.register("cycle", _cycle)   # or as a call
    SCRIPTS.get("frist")                # UnknownNameError: unknown script 'frist' (did you mean 'first'?);
                                        # known: cycle, first. register one with @script('NAME')

Duplicates are handled one way everywhere: registering the *same* object (or an equal value, e.g. the same
``"module:attr"`` string) under a name again is a no-op, so re-importing a module is harmless; a
*different* object under a taken name raises ``DuplicateNameError`` naming both. ``lazy(name,
"module:attr")`` registers a reference resolved on first ``get`` (heavy backends stay unimported until
asked for); ``lazy(name, "module")`` means "importing this module registers ``name``".
``load_entry_points(group)`` adds the names installed packages declare, lazily, skipping broken or
clashing ones with a warning (a third party's bug must not break the suite).

Lives in ``aem_envs`` (the bottom layer) so every package of the suite can use it; it imports nothing of
ours.
"""

from __future__ import annotations

import difflib
import importlib
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")
_UNSET: Any = object()


class RegistryError(ValueError):
    """Base of the registry's errors (a ``ValueError``, as the hand-rolled tables raised before)."""


class UnknownNameError(RegistryError, KeyError):
    """``get`` of a name nobody registered; the message lists the known names and names the fix."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class DuplicateNameError(RegistryError):
    """A different object registered under a name that is already taken."""


class LoadError(RegistryError):
    """A lazy entry (``"module:attr"``) whose module or attribute cannot be loaded."""


@dataclass(frozen=True)
class _Lazy:
    target: str  # "module:attr", or "module" whose import registers the name itself


class Registry(Generic[T]):
    """A thread-safe, ordered ``name -> T`` table. ``what`` names an entry in messages ("agent kind");
    ``fix`` is appended to the unknown-name error (how to add one)."""

    def __init__(self, what: str, *, fix: str = "") -> None:
        self.what, self.fix = what, fix
        self._entries: dict[str, T | _Lazy] = {}
        self._targets: dict[str, str] = {}  # name -> lazy target, kept after resolution (for duplicates)
        self._lock = threading.RLock()

    # -- registering ---------------------------------------------------------------------------------
    @overload
    def register(self, name: str) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, obj: T) -> T: ...

    def register(self, name: str, obj: Any = _UNSET) -> Any:
        """``register(name, obj)`` returns ``obj``; ``@register(name)`` decorates and returns the object."""
        if not isinstance(name, str):
            raise TypeError(f"{self.what} names are strings, got {name!r}")
        if obj is _UNSET:
            return lambda o: self.register(name, o)
        with self._lock:
            pending = self._entries.get(name)
        if isinstance(pending, _Lazy) and ":" in pending.target:
            self.get(name)  # resolve it (outside the lock: imports must never wait on it) to compare
        with self._lock:
            old = self._entries.get(name, _UNSET)
            if isinstance(old, _Lazy):
                old = _UNSET  # a module promised to register this name and is doing so now
            if old is not _UNSET and not _same(old, obj):
                raise DuplicateNameError(f"{self.what} {name!r} is already registered ({_describe(old)}); "
                                         f"refusing {_describe(obj)}: choose another name")
            self._entries[name] = obj
        return obj

    def lazy(self, name: str, target: str) -> None:
        """Register ``"module:attr"`` (resolved on first ``get``) or ``"module"`` (whose import registers
        ``name``). The same target again is a no-op; another target under the name is refused."""
        if not isinstance(target, str) or not target.strip(":").strip() or target.count(":") > 1:
            raise ValueError(f"a lazy {self.what} target is 'module:attr' or 'module', got {target!r}")
        with self._lock:
            known = self._targets.get(name)
            if known == target:
                return
            if known is not None or name in self._entries:
                old = known or _describe(self._entries[name])
                raise DuplicateNameError(f"{self.what} {name!r} is already registered ({old}); "
                                         f"refusing {target}: choose another name")
            self._targets[name] = target
            self._entries[name] = _Lazy(target)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests, plugins that replace themselves); unknown names are ignored."""
        with self._lock:
            self._entries.pop(name, None)
            self._targets.pop(name, None)

    def load_entry_points(self, group: str) -> dict[str, str]:
        """Add every entry point of ``group`` as a lazy entry (name -> its ``module:attr``). Returns
        ``{name: reason}`` for the ones skipped (a name already taken by a different target)."""
        skipped: dict[str, str] = {}
        for ep in metadata.entry_points(group=group):
            try:
                self.lazy(ep.name, ep.value)
            except RegistryError as e:
                skipped[ep.name] = str(e)
                warnings.warn(f"entry point {ep.name!r} of {group!r} ({ep.value}) is skipped: {e}",
                              stacklevel=2)
        return skipped

    # -- looking up ----------------------------------------------------------------------------------
    def get(self, name: str) -> T:
        """The object registered as ``name``; ``UnknownNameError`` (listing the known names) if none."""
        with self._lock:
            entry = self._entries.get(name, _UNSET)
        if isinstance(entry, _Lazy):
            entry = self._resolve(name, entry)
        if entry is _UNSET:
            raise UnknownNameError(self._unknown(name))
        return entry

    def find(self, name: str, default: Any = None) -> T | Any:
        """Like ``dict.get``: the object, or ``default`` when ``name`` is not registered."""
        return self.get(name) if name in self else default

    def _resolve(self, name: str, lazy: _Lazy) -> Any:
        """Import the lazy entry's module without holding the lock: a module that registers names while
        another thread resolves one must not deadlock against it."""
        module, _, attr = lazy.target.partition(":")
        try:
            mod = importlib.import_module(module)
            obj = getattr(mod, attr) if attr else _UNSET
        except (ImportError, AttributeError) as e:
            raise LoadError(f"cannot load {self.what} {name!r} ({lazy.target}): {e}") from e
        with self._lock:
            entry = self._entries.get(name, _UNSET)
            if attr and isinstance(entry, _Lazy) and entry.target == lazy.target:
                self._entries[name] = entry = obj
        if isinstance(entry, _Lazy):
            raise LoadError(f"importing {module} did not register {self.what} {name!r}")
        return entry

    def _unknown(self, name: str) -> str:
        names = self.names()
        close = difflib.get_close_matches(str(name), names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        known = ", ".join(repr(n) if n == "" else n for n in names) or "none"
        return f"unknown {self.what} {name!r}{hint}; known: {known}" + (f". {self.fix}" if self.fix else "")

    def copy(self) -> Registry[T]:
        """A new registry with the same entries (tests swap one in with monkeypatch)."""
        new: Registry[T] = Registry(self.what, fix=self.fix)
        with self._lock:
            new._entries, new._targets = dict(self._entries), dict(self._targets)
        return new

    def keys(self) -> list[str]:
        return list(self._entries)

    def names(self) -> list[str]:
        """Registered names, sorted (lazy ones included, without loading them)."""
        with self._lock:
            return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """``(name, object)`` in registration order; resolves lazy entries."""
        return [(n, self.get(n)) for n in list(self._entries)]

    def values(self) -> list[T]:
        return [obj for _, obj in self.items()]

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {', '.join(self.names())})"


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # noqa: BLE001 - objects whose == raises are simply not the same
        return False


def _describe(obj: Any) -> str:
    if isinstance(obj, _Lazy):
        return obj.target
    name = getattr(obj, "__qualname__", None)
    module = getattr(obj, "__module__", None)
    return f"{module}.{name}" if name and module else repr(obj)[:80]
