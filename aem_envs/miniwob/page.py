"""MiniWoB pages as text, and text actions parsed into MiniWoB actions.

Rendering (one line per DOM element below ``<body>``, indented by depth)::

    Task: Click on the "no" button.
    [4] button "no"
    [5] input_text value=""  (focused)
    [6] div "erat enim ipsum"

Actions (a registry: one entry per verb, each a regex and a builder):

* ``click[REF]``          click the element with that ref;
* ``type[REF][TEXT]``     focus the input/textarea with that ref and type TEXT (at most 64 characters,
                          MiniWoB's own typing limit).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aem_envs.registry import Registry

TYPING_MAX_LENGTH = 64
TYPABLE_TAGS = ("input_text", "input_password", "textarea", "input_number", "input_email", "input_search")


@dataclass(frozen=True)
class Element:
    """One DOM element as the agent sees it."""

    ref: int
    tag: str
    text: str
    value: Any
    id: str
    classes: str
    depth: int
    focused: bool

    def line(self) -> str:
        name = self.tag + (f"#{self.id}" if self.id else "")
        parts = [f"[{self.ref}] {name}"]
        if self.text:
            parts.append(_quote(self.text))
        if self.value is not None and self.tag != "button":
            parts.append(f"value={_quote(str(self.value))}")
        if self.focused:
            parts.append("(focused)")
        return "  " * self.depth + " ".join(parts)


def _quote(s: str) -> str:
    s = " ".join(str(s).split())
    return '"' + (s[:200] + "…" if len(s) > 200 else s) + '"'


def elements(root: Any) -> list[Element]:
    """The elements below ``root`` (miniwob's DOMElement for <body>) in document order."""
    out: list[Element] = []

    def walk(node: Any, depth: int) -> Iterator[None]:
        for child in node.children:
            out.append(Element(ref=int(child.ref), tag=str(child.tag), text=(child.text or "").strip(),
                               value=child.value, id=child.id or "", classes=child.classes or "",
                               depth=depth, focused=bool(child.focused)))
            yield from walk(child, depth + 1)

    for _ in walk(root, 0):
        pass
    return out


def render(utterance: str, elems: list[Element]) -> str:
    return "\n".join([f"Task: {utterance}", *(e.line() for e in elems)])


@dataclass(frozen=True)
class ParsedAction:
    kind: str  # "click" | "type"
    ref: int
    text: str = ""


ACTION_PARSERS: Registry[tuple[re.Pattern[str], Callable[[re.Match[str]], ParsedAction]]] = Registry("verb")


def action_verb(name: str, pattern: str) -> Callable:
    def deco(fn: Callable[[re.Match[str]], ParsedAction]) -> Callable:
        ACTION_PARSERS.register(name, (re.compile(pattern, re.S), fn))
        return fn
    return deco


@action_verb("click", r"^\s*click\s*\[\s*(\d{1,7})\s*\]\s*$")
def _click(m: re.Match[str]) -> ParsedAction:
    return ParsedAction("click", int(m.group(1)))


@action_verb("type", r"^\s*type\s*\[\s*(\d{1,7})\s*\]\s*\[(.*)\]\s*$")
def _type(m: re.Match[str]) -> ParsedAction:
    return ParsedAction("type", int(m.group(1)), m.group(2))


def parse(action: str, elems: list[Element]) -> ParsedAction | str:
    """The parsed action, or a message saying why it cannot be taken on this page."""
    if len(action) > 4 * TYPING_MAX_LENGTH + 40:
        return "Invalid action: too long. Use click[ref] or type[ref][text] (text up to 64 characters)."
    for pattern, build in ACTION_PARSERS.values():
        m = pattern.match(action)
        if m:
            parsed = build(m)
            break
    else:
        return "Invalid action: use click[ref] or type[ref][text] with a ref from the page."
    by_ref = {e.ref: e for e in elems}
    target = by_ref.get(parsed.ref)
    if target is None:
        return f"Invalid action: there is no element [{parsed.ref}] on the page."
    if parsed.kind == "type":
        if target.tag not in TYPABLE_TAGS:
            return f"Invalid action: [{parsed.ref}] is a {target.tag}, not a text field."
        # chromedriver types only Basic Multilingual Plane characters (an emoji kills the session).
        text = "".join(ch for ch in parsed.text if ch.isprintable() and ord(ch) < 0x10000)
        if not text or len(text) > TYPING_MAX_LENGTH or text != parsed.text:
            return (f"Invalid action: type 1 to {TYPING_MAX_LENGTH} printable characters "
                    "(no emoji or control characters).")
        parsed = ParsedAction("type", parsed.ref, text)
    return parsed
