"""aem_envs.registry.Registry: registering, lookups, duplicates, lazy entries and entry points."""

from __future__ import annotations

import sys
import types
import warnings

import pytest

from aem_envs.registry import DuplicateNameError, LoadError, Registry, RegistryError, UnknownNameError


def test_register_as_call_and_decorator_and_lookup():
    reg: Registry[object] = Registry("widget")
    one = reg.register("one", 1)

    @reg.register("two")
    def two() -> int:
        return 2

    assert one == 1 and reg.get("two") is two and reg["one"] == 1
    assert reg.names() == ["one", "two"] and list(reg) == ["one", "two"] and len(reg) == 2
    assert "one" in reg and "three" not in reg
    assert reg.find("three") is None and reg.find("three", 3) == 3
    assert reg.items() == [("one", 1), ("two", two)]


def test_unknown_name_lists_known_suggests_and_names_the_fix():
    reg = Registry("agent kind", fix="Register one with @register_policy('KIND').")
    reg.register("oracle", object())
    reg.register("random", object())
    with pytest.raises(UnknownNameError) as e:
        reg.get("oracel")
    msg = str(e.value)
    assert msg.startswith("unknown agent kind 'oracel' (did you mean 'oracle'?); known: oracle, random")
    assert msg.endswith("Register one with @register_policy('KIND').")
    # Callers that caught ValueError or KeyError from the hand-rolled tables still do.
    assert isinstance(e.value, ValueError) and isinstance(e.value, KeyError)


def test_duplicates_same_object_is_a_no_op_different_object_is_refused():
    reg = Registry("script")

    def fn():
        pass

    reg.register("first", fn)
    reg.register("first", fn)  # a module imported twice registers the same object again: fine
    reg.register("sep", (" [SEP] ", 1))
    reg.register("sep", (" [SEP] ", 1))  # an equal value: fine
    with pytest.raises(DuplicateNameError, match=r"script 'first' is already registered \(.*fn\); refusing"):
        reg.register("first", lambda: None)
    with pytest.raises(DuplicateNameError):
        reg.register("sep", ("\n", 1))
    assert reg.get("first") is fn and reg.get("sep") == (" [SEP] ", 1)


def test_lazy_module_attr_is_resolved_on_first_get_and_bad_targets_are_clear():
    reg = Registry("runtime")
    reg.lazy("ordered", "collections:OrderedDict")
    reg.lazy("ordered", "collections:OrderedDict")  # same target: no-op
    assert "ordered" in reg and reg.names() == ["ordered"]
    import collections

    assert reg.get("ordered") is collections.OrderedDict
    with pytest.raises(DuplicateNameError, match="collections:OrderedDict"):
        reg.lazy("ordered", "collections:Counter")
    reg.lazy("missing", "no_such_module_xyz:Thing")
    with pytest.raises(LoadError, match=r"cannot load runtime 'missing' \(no_such_module_xyz:Thing\)"):
        reg.get("missing")
    for bad in ("", ":", "a:b:c"):
        with pytest.raises(ValueError, match="module:attr"):
            reg.lazy("bad", bad)


def test_lazy_module_registers_itself_on_import(monkeypatch):
    reg = Registry("kind")
    mod = types.ModuleType("aem_test_selfregistering")
    exec("def factory(): return 'made'", mod.__dict__)

    class Finder:  # a module whose import registers its kind, as agents/backends/*.py do
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name != mod.__name__:
                return None
            import importlib.util

            loader = types.SimpleNamespace(create_module=lambda spec: mod,
                                           exec_module=lambda m: reg.register("k", m.factory))
            return importlib.util.spec_from_loader(name, loader)

    monkeypatch.setattr(sys, "meta_path", [Finder(), *sys.meta_path])
    reg.lazy("k", mod.__name__)
    reg.lazy("silent", "json")  # importing json registers nothing: say so
    assert reg.get("k")() == "made"
    with pytest.raises(LoadError, match="importing json did not register kind 'silent'"):
        reg.get("silent")


def test_entry_points_are_lazy_and_clashes_are_skipped_with_a_warning(monkeypatch):
    from importlib import metadata

    reg = Registry("agent kind")
    reg.register("oracle", object())
    eps = [metadata.EntryPoint("mine", "collections:Counter", "g"),
           metadata.EntryPoint("oracle", "collections:deque", "g")]
    monkeypatch.setattr(metadata, "entry_points", lambda group: eps if group == "g" else [])
    with pytest.warns(UserWarning, match="'oracle' of 'g' .* is skipped"):
        skipped = reg.load_entry_points("g")
    assert list(skipped) == ["oracle"]
    import collections

    assert reg.get("mine") is collections.Counter


def test_copy_is_independent_and_unregister_forgets():
    reg = Registry("x")
    reg.register("a", 1)
    twin = reg.copy()
    twin.register("b", 2)
    assert "b" not in reg and twin.names() == ["a", "b"]
    reg.unregister("a")
    reg.unregister("never")
    assert len(reg) == 0 and twin.get("a") == 1
    with pytest.raises(TypeError):
        reg.register(3, 1)  # type: ignore[arg-type]
    assert issubclass(UnknownNameError, RegistryError)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert repr(twin) == "Registry('x': a, b)"


def test_a_module_registering_while_another_thread_resolves_it_does_not_deadlock(monkeypatch):
    import importlib.util
    import threading
    import time

    reg = Registry("kind")
    name = "aem_test_slow_backend"
    started = threading.Event()

    def exec_module(module):  # a backend module: slow to import, registers its kind at the end
        started.set()
        time.sleep(0.5)  # meanwhile the main thread asks for the kind and waits on this import
        reg.register("slow", "made")

    class Finder:
        @staticmethod
        def find_spec(fullname, path=None, target=None):
            if fullname != name:
                return None
            loader = types.SimpleNamespace(create_module=lambda spec: None, exec_module=exec_module)
            return importlib.util.spec_from_loader(fullname, loader)

    monkeypatch.setattr(sys, "meta_path", [Finder(), *sys.meta_path])
    monkeypatch.delitem(sys.modules, name, raising=False)
    reg.lazy("slow", name)
    importer = threading.Thread(target=importlib.import_module, args=(name,), daemon=True)
    importer.start()
    assert started.wait(10)
    got: list[str] = []
    getter = threading.Thread(target=lambda: got.append(reg.get("slow")), daemon=True)
    getter.start()
    getter.join(20)
    importer.join(20)
    assert not getter.is_alive() and not importer.is_alive(), "registry lock held across an import: deadlock"
    assert got == ["made"]
    sys.modules.pop(name, None)
