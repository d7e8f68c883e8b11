"""Scripted solvers for the registered MiniWoB tasks: the env's ``oracle_action()``.

MiniWoB ships no solver. Each oracle reads the task's fields (MiniWoB's own parse of the utterance) and
the current page, and returns the next text action, so it also works from a state an agent left halfway.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aem_envs.miniwob.page import TYPABLE_TAGS, Element
from aem_envs.registry import Registry

Oracle = Callable[[Mapping[str, str], list[Element]], "str | None"]
ORACLES: Registry[Oracle] = Registry("MiniWoB oracle", fix="add one with @oracle('TASK') in this module")


def oracle(*tasks: str) -> Callable[[Oracle], Oracle]:
    def deco(fn: Oracle) -> Oracle:
        for t in tasks:
            ORACLES.register(t, fn)
        return fn
    return deco


def _button(elems: list[Element], text: str) -> Element | None:
    wanted = text.strip().lower()
    for e in elems:
        if e.tag == "button" and e.text.strip().lower() == wanted:
            return e
    return None


def _fields(elems: list[Element]) -> list[Element]:
    return [e for e in elems if e.tag in TYPABLE_TAGS]


@oracle("click-test")
def _click_test(fields: Mapping[str, str], elems: list[Element]) -> str | None:
    b = _button(elems, "Click Me!")
    return f"click[{b.ref}]" if b else None


@oracle("click-test-2", "click-button")
def _click_named_button(fields: Mapping[str, str], elems: list[Element]) -> str | None:
    b = _button(elems, fields.get("target", ""))
    return f"click[{b.ref}]" if b else None


@oracle("focus-text")
def _focus_text(fields: Mapping[str, str], elems: list[Element]) -> str | None:
    inputs = _fields(elems)
    return f"click[{inputs[0].ref}]" if inputs else None


@oracle("enter-text")
def _enter_text(fields: Mapping[str, str], elems: list[Element]) -> str | None:
    inputs, target = _fields(elems), fields.get("target", "")
    if not inputs:
        return None
    if str(inputs[0].value or "") != target:
        return None if inputs[0].value else f"type[{inputs[0].ref}][{target}]"  # a wrong text: no recovery
    submit = _button(elems, "Submit")
    return f"click[{submit.ref}]" if submit else None


@oracle("login-user")
def _login_user(fields: Mapping[str, str], elems: list[Element]) -> str | None:
    by_id = {e.id: e for e in elems}
    for key in ("username", "password"):
        box = by_id.get(key)
        if box is None:
            return None
        if str(box.value or "") != fields.get(key, ""):
            return None if box.value else f"type[{box.ref}][{fields.get(key, '')}]"
    login = _button(elems, "Login")
    return f"click[{login.ref}]" if login else None
