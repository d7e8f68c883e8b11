"""The agent's tools, parsed from its text. Exactly one tool call per action: a reply with two is refused
with an observation that says so, and nothing of it runs (a later call may depend on an earlier one).

    <bash>pytest -q tests/test_x.py</bash>                 run a shell command in /testbed
    <view path="pkg/mod.py" start="1" end="40"/>            show lines (1-based, inclusive) of a file
    <replace path="pkg/mod.py"><old>a = 1</old><new>a = 2</new></replace>
                                                            replace one unique occurrence of <old>
    <create path="pkg/new.py">file content</create>        create or overwrite a file
    <submit/>                                               finish; the repository is graded

A single newline right after an opening tag and right before a closing tag is ignored, so blocks may be
written on their own lines. Anything malformed gives an observation saying what is wrong (never an
exception). Command output is truncated to ``max_chars`` with a notice; every command has a timeout and
the observation shows its exit code and, when it ended abnormally, why (timeout, out of memory, a signal,
the output or disk limit: ``ExecResult.note``). Tools register with ``@tool(name)``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from aem_envs.core import clip_middle
from aem_envs.registry import Registry
from aem_envs.swe.sandbox import Sandbox

TOOL_HELP = __doc__.split("\n\n")[1]
_OPEN = re.compile(r"<(bash|view|replace|create|submit)\b([^>]*?)(/?)>", re.S)
_ATTR = re.compile(r'(\w+)\s*=\s*"([^"]*)"')


@dataclass
class ToolCall:
    name: str
    attrs: dict[str, str] = field(default_factory=dict)
    body: str = ""

    def render(self) -> str:
        attrs = "".join(f' {k}="{v}"' for k, v in self.attrs.items())
        return f"<{self.name}{attrs}/>" if not self.body and self.name in ("submit", "view") else \
            f"<{self.name}{attrs}>{self.body}</{self.name}>"


class ToolError(ValueError):
    """A malformed or failed tool call; its message is the observation."""


def _trim(s: str) -> str:
    s = s[1:] if s.startswith("\n") else s
    return s[:-1] if s.endswith("\n") else s


def parse(text: str) -> ToolCall:
    """The one tool call in ``text``; ``ToolError`` when there is none, it is malformed, or there are more."""
    call, end = _parse_one(text, 0)
    if call is None:
        raise ToolError("No tool call found. Use one of the tools:\n" + TOOL_HELP)
    names = [f"<{call.name}>"]
    while (more := _parse_one(text, end, strict=False))[0] is not None:
        names.append(f"<{more[0].name}>")
        end = more[1]
    if len(names) > 1:
        raise ToolError(f"the reply has {len(names)} tool calls ({', '.join(names)}); nothing was run. "
                        "Send exactly one tool call per reply.")
    return call


def _parse_one(text: str, start: int, strict: bool = True) -> tuple[ToolCall | None, int]:
    """The first tool call at or after ``start`` and where it ends. ``strict=False``: an unclosed block
    counts as a call that runs to the end of the text (only its presence matters)."""
    m = _OPEN.search(text, start)
    if not m:
        return None, len(text)
    name, attrs, selfclosing = m.group(1), dict(_ATTR.findall(m.group(2))), m.group(3) == "/"
    if selfclosing:
        return ToolCall(name, attrs), m.end()
    close = text.find(f"</{name}>", m.end())
    if close < 0:
        if name in ("submit", "view"):
            return ToolCall(name, attrs), m.end()
        if strict:
            raise ToolError(f"<{name}> is not closed with </{name}>.")
        return ToolCall(name, attrs), len(text)
    return ToolCall(name, attrs, _trim(text[m.end():close])), close + len(f"</{name}>")


_TOOLS: Registry[Callable[[ToolCall, Sandbox, float, int], str]] = Registry("tool")
tool = _TOOLS.register  # @tool("name") on fn(call, sandbox, timeout, max_chars) -> observation


def truncate(text: str, max_chars: int) -> str:
    return clip_middle(text, max_chars, "output truncated: ")


def _path(call: ToolCall) -> str:
    p = call.attrs.get("path", "").strip()
    if not p:
        raise ToolError(f'<{call.name}> needs a path="..." attribute (relative to /testbed).')
    return p


@tool("bash")
def _bash(call: ToolCall, sb: Sandbox, timeout: float, max_chars: int) -> str:
    if not call.body.strip():
        raise ToolError("<bash> needs a command between <bash> and </bash>.")
    r = sb.exec(call.body, timeout=timeout)
    notes = [r.note()] if r.note() else []
    text = truncate(r.output, max_chars).rstrip("\n")
    return "\n".join([text, *notes, f"[exit code: {r.exit_code}]"]).lstrip("\n")


# File tools run a fixed helper inside the sandbox (so links resolve there, never on the host); the
# arguments travel as JSON on stdin.
_FILE_HELPER = r"""
import base64, json, os, sys
a = json.load(sys.stdin)
root = os.path.realpath("/testbed")
p = os.path.realpath(os.path.join(root, a["path"]))
if p != root and not p.startswith(root + os.sep):
    sys.exit("path is outside /testbed: " + a["path"])
op = a["op"]
if op == "create":
    os.makedirs(os.path.dirname(p), exist_ok=True)
    open(p, "wb").write(base64.b64decode(a["content"]))
    print("created" if a.get("new") else "wrote", a["path"])
    sys.exit(0)
if not os.path.isfile(p):
    sys.exit("no such file: " + a["path"])
text = open(p, "rb").read().decode("utf-8", "replace")
if op == "view":
    lines = text.splitlines()
    s, e = a["start"], min(a["end"] or len(lines), len(lines))
    print("\n".join(f"{i:6d}\t{lines[i - 1]}" for i in range(max(s, 1), e + 1)) or "(no lines in that range)")
elif op == "replace":
    old, new = a["old"], a["new"]
    n = text.count(old)
    if n != 1:
        sys.exit(f"<old> occurs {n} times in {a['path']}; it must occur exactly once")
    open(p, "wb").write(text.replace(old, new).encode())
    print("replaced 1 occurrence in", a["path"])
"""


def _file_op(sb: Sandbox, timeout: float, **args) -> str:
    r = sb.exec("python3 -c " + "'" + _FILE_HELPER.replace("'", "'\"'\"'") + "'",
                stdin=json.dumps(args).encode(), timeout=timeout)
    if r.exit_code:
        raise ToolError(r.output.strip().splitlines()[-1] if r.output.strip()
                        else f"failed (exit {r.exit_code})")
    return r.output


def _int(call: ToolCall, key: str, default: int | None) -> int | None:
    v = call.attrs.get(key)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise ToolError(f'{key}="{v}" is not a line number.') from None


@tool("view")
def _view(call: ToolCall, sb: Sandbox, timeout: float, max_chars: int) -> str:
    start, end = _int(call, "start", 1), _int(call, "end", None)
    return truncate(_file_op(sb, timeout, op="view", path=_path(call), start=start, end=end), max_chars)


@tool("replace")
def _replace(call: ToolCall, sb: Sandbox, timeout: float, max_chars: int) -> str:
    old = re.search(r"<old>(.*?)</old>", call.body, re.S)
    new = re.search(r"<new>(.*?)</new>", call.body, re.S)
    if not old or not new:
        raise ToolError("<replace> needs <old>...</old> and <new>...</new> inside it.")
    if not old.group(1):
        raise ToolError("<old> must not be empty.")
    return _file_op(sb, timeout, op="replace", path=_path(call), old=_trim(old.group(1)),
                    new=_trim(new.group(1)))


@tool("create")
def _create(call: ToolCall, sb: Sandbox, timeout: float, max_chars: int) -> str:
    content = call.body if call.body.endswith("\n") or not call.body else call.body + "\n"
    return _file_op(sb, timeout, op="create", path=_path(call),
                    content=base64.b64encode(content.encode()).decode())


def run(call: ToolCall, sb: Sandbox, timeout: float, max_chars: int) -> str:
    """Execute a non-submit tool call; raises ToolError with the observation for bad calls."""
    if call.name not in _TOOLS:
        raise ToolError(f"Unknown tool <{call.name}>. Use one of the tools:\n" + TOOL_HELP)
    return _TOOLS.get(call.name)(call, sb, timeout, max_chars)
