"""The tools protocol: the agent acts by calling functions (OpenAI ``tools``/``tool_calls``) instead of
writing ``<action>...</action>`` (the text protocol). A run picks one (``aem eval --protocol tools|text``).

Each env family has a tool set, in a registry keyed by env-id prefix (as the prompts are): the SWE env's
tools are one JSON-schema function each (``bash``, ``view``, ``replace``, ``create``, ``submit``); every
other env has one ``act`` function whose ``action`` string is the env's action (``go to desk 1``,
``search[red shoes]``). A call becomes exactly the action the text protocol would send, so both protocols
meet the same env and are graded alike:

* ``ToolCallParser`` (a wrapper just outside ``ActionParser``) reads the agent's reply, converts its one
  tool call to ``<action>...</action>`` and steps the env through the usual parser. A bad call (none, two,
  an unknown function, arguments that are not the schema's) gets an invalid-action observation saying
  what was wrong; the env does not move. ``info["tool_calls"]`` keeps the raw calls.
* The reply reaches the wrapper as text: ``encode_reply`` writes a backend's native calls as a JSON
  envelope ``{"tool_calls": [...], "content": ...}``; that string is the turn's ``action_text``, so a
  replay through the same stack reproduces the turn, and the leaderboard's ``action`` is the parsed env
  action, as under the text protocol.
* Backends without native tools (hf, tiny, vLLM offline): the text fallback. The prompt lists the
  functions and asks for ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` (the format of
  Hermes/Qwen chat templates); ``ToolCallParser`` reads those blocks. ``aem_gym.agents.serve`` uses the
  same fallback to answer ``tools`` requests for a served model.
* A reply without any tool call that holds an ``<action>`` tag is read as the text protocol (scripted and
  oracle agents, which need no prompt, act this way under either protocol).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from aem_gym.agents.types import Generation, Message

PROTOCOLS = ("text", "tools")
ENVELOPE_KEY = "tool_calls"
TOOL_CALL_RE = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_ACTION_TAG = re.compile(r"<action>.*?</action>", re.DOTALL | re.IGNORECASE)


class ToolCallError(ValueError):
    """A tool call that cannot become an action; the message is shown to the agent."""


def _fn(name: str, description: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": props, "required": required,
                       "additionalProperties": False}}}


_STR = {"type": "string"}


@dataclass(frozen=True)
class ToolSet:
    """Function schemas and the conversion of one call (name, arguments) to the env's action text."""

    schemas: tuple[dict[str, Any], ...]
    to_action: Callable[[str, dict[str, Any]], str]

    def names(self) -> list[str]:
        return [s["function"]["name"] for s in self.schemas]

    def convert(self, name: Any, args: dict[str, Any]) -> str:
        schema = next((s["function"] for s in self.schemas if s["function"]["name"] == name), None)
        if schema is None:
            raise ToolCallError(f"unknown function {name!r}; the functions are {', '.join(self.names())}")
        params = schema["parameters"]
        missing = [k for k in params["required"] if k not in args]
        extra = [k for k in args if k not in params["properties"]]
        if missing or extra:
            raise ToolCallError(f"{name} takes {sorted(params['properties']) or 'no arguments'}"
                                + (f"; missing {missing}" if missing else "")
                                + (f"; unknown {extra}" if extra else ""))
        for k, v in args.items():
            want = params["properties"][k]["type"]
            if (want == "string" and not isinstance(v, str)) or (want == "integer" and not (
                    isinstance(v, int) and not isinstance(v, bool))):
                raise ToolCallError(f"{name}: argument {k!r} must be of type {want}, "
                                    f"got {json.dumps(v)[:60]}")
        action = self.to_action(name, args)
        if _ACTION_TAG.search(action) or "</action>" in action.lower():
            raise ToolCallError("arguments may not contain <action> tags")
        return action


def _act(name: str, args: dict[str, Any]) -> str:
    return args["action"]


ACT = ToolSet((_fn("act", "Take one action in the environment (the same text an <action> tag would hold).",
                   {"action": {**_STR, "description": "the action, e.g. one of the admissible actions"}},
                   ["action"]),), _act)


def _attr(name: str, value: Any) -> str:
    value = str(value)
    if '"' in value or "\n" in value:
        raise ToolCallError(f"{name} may not contain a double quote or a newline")
    return f' {name}="{value}"'


def _swe(name: str, args: dict[str, Any]) -> str:
    if name == "bash":
        return f"<bash>{args['command']}</bash>"
    if name == "view":
        rng = "".join(_attr(k, args[k]) for k in ("start", "end") if k in args)
        return f"<view{_attr('path', args['path'])}{rng}/>"
    if name == "replace":
        path = _attr("path", args["path"])
        return f"<replace{path}><old>{args['old']}</old><new>{args['new']}</new></replace>"
    if name == "create":
        return f"<create{_attr('path', args['path'])}>\n{args['content']}\n</create>"
    return "<submit/>"


_PATH = {**_STR, "description": "a path relative to the repository root (/testbed)"}
SWE = ToolSet((
    _fn("bash", "Run one shell command in /testbed and see its output and exit code.",
        {"command": _STR}, ["command"]),
    _fn("view", "Show lines of a file (1-based, inclusive; the whole file without start/end).",
        {"path": _PATH, "start": {"type": "integer"}, "end": {"type": "integer"}}, ["path"]),
    _fn("replace", "Replace the one occurrence of `old` in a file by `new` (verbatim, whitespace included).",
        {"path": _PATH, "old": _STR, "new": _STR}, ["path", "old", "new"]),
    _fn("create", "Create or overwrite a file with `content`.", {"path": _PATH, "content": _STR},
        ["path", "content"]),
    _fn("submit", "Finish: the repository is graded by the hidden tests.", {}, []),
), _swe)

_TOOLSETS: dict[str, ToolSet] = {"": ACT, "aem/SWE": SWE}


def register_toolset(prefix: str, toolset: ToolSet) -> None:
    """Use ``toolset`` for env ids starting with ``prefix`` (longest prefix wins; default: ``act``)."""
    _TOOLSETS[prefix] = toolset


def toolset(env_id: str) -> ToolSet:
    return _TOOLSETS[max((p for p in _TOOLSETS if env_id.startswith(p)), key=len)]


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    return protocol


# -- replies ---------------------------------------------------------------------------------------------
def encode_reply(gen: Generation) -> str:
    """What a reply sends to the env stack: its text, or with native tool calls a JSON envelope."""
    if not gen.tool_calls:
        return gen.text
    return json.dumps({ENVELOPE_KEY: gen.tool_calls, "content": gen.text or None}, ensure_ascii=False)


def decode_calls(text: str) -> list[dict[str, Any]] | None:
    """The tool calls of a reply as ``[{"name", "arguments"}]`` (arguments still as given: a JSON string
    or an object), from a native envelope or from ``<tool_call>`` blocks; None when it has neither."""
    s = text.strip() if isinstance(text, str) else ""
    if s.startswith("{") and f'"{ENVELOPE_KEY}"' in s:
        try:
            env = json.loads(s)
        except json.JSONDecodeError:
            env = None
        if isinstance(env, dict) and isinstance(env.get(ENVELOPE_KEY), list):
            return [{"name": (c.get("function") or {}).get("name"), "arguments": (c.get("function") or {})
                     .get("arguments")} if isinstance(c, dict) else {"name": None, "arguments": None}
                    for c in env[ENVELOPE_KEY]]
    blocks = TOOL_CALL_RE.findall(s)
    if not blocks:
        return None
    out = []
    for b in blocks:
        try:
            obj = json.loads(b.strip())
        except json.JSONDecodeError as e:
            obj = {"name": None, "arguments": None, "error": f"<tool_call> is not valid JSON ({e.msg})"}
        out.append(obj if isinstance(obj, dict) else {"name": None, "arguments": None})
    return out


def call_to_action(calls: list[dict[str, Any]], tools: ToolSet) -> str:
    """The env action of exactly one call; ``ToolCallError`` otherwise."""
    if len(calls) != 1:
        raise ToolCallError(f"call exactly one function per turn (the reply has {len(calls)} calls)")
    call = calls[0]
    if call.get("error"):
        raise ToolCallError(call["error"])
    args = call.get("arguments")
    if args is None or args == "":
        args = {}
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError as e:
            raise ToolCallError(f"the arguments are not valid JSON ({e.msg})") from None
    if not isinstance(args, dict):
        raise ToolCallError("the arguments must be a JSON object")
    return tools.convert(call.get("name"), args)


TOOLS_INVALID = "Invalid tool call: {why}. Call exactly one of the functions ({names}). Nothing happened."


class ToolCallParser(gym.Wrapper[str, str, str, str]):
    """Converts a tool-calling reply to ``<action>...</action>`` for the ``ActionParser`` inside it (see
    the module docstring). The tool set is the env's (``toolset(env.spec.id)``)."""

    def __init__(self, env: gym.Env, env_id: str | None = None):
        super().__init__(env)
        spec_id = env_id or (env.spec.id if env.spec is not None else "")
        self.tools = toolset(spec_id)
        self._last_obs, self._last_info = "", {}

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._last_obs, self._last_info = obs, info
        return obs, info

    def step(self, action: str):
        calls = decode_calls(action)
        if calls is None and isinstance(action, str) and _ACTION_TAG.search(action):
            return self._forward(action, action, None)  # the text protocol (scripted agents)
        try:
            inner = call_to_action(calls or [], self.tools)
        except ToolCallError as e:
            why = "the reply has no tool call" if calls is None else str(e)
            obs = TOOLS_INVALID.format(why=why, names=", ".join(self.tools.names())) + "\n" + self._last_obs
            info = {**self._last_info, "is_action_valid": False, "parse_error": True, "raw_action": action,
                    "tool_calls": calls, "tool_error": why}
            return obs, 0.0, False, False, info
        return self._forward(f"<action>{inner}</action>", action, calls)

    def _forward(self, text: str, raw: str, calls: list[dict[str, Any]] | None):
        obs, reward, terminated, truncated, info = self.env.step(text)
        info = {**info, "raw_action": raw}
        if calls is not None:
            info["tool_calls"] = calls
        self._last_obs, self._last_info = obs, info
        return obs, reward, terminated, truncated, info


# -- prompts ---------------------------------------------------------------------------------------------
def fallback_instructions(schemas: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> str:
    """The text-fallback description of the functions (for backends without native tool calling)."""
    fns = [s["function"] for s in schemas]
    lines = [f"- {f['name']}({', '.join(f['parameters']['properties'])}): {f['description']}" for f in fns]
    return ("Act by calling exactly one function per turn, written as\n"
            '<tool_call>{"name": "<function>", "arguments": {...}}</tool_call>\n'
            "Functions:\n" + "\n".join(lines) + "\nJSON schemas: "
            + json.dumps([{"name": f["name"], "parameters": f["parameters"]} for f in fns]))


NATIVE_INSTRUCTIONS = "Act by calling exactly one of the provided functions per turn."


def adapt_messages(messages: list[Message], schemas: Any, native: bool) -> list[Message]:
    """Rewrite a text-protocol prompt for the tools protocol: the user message's paragraphs that ask for
    ``<action>`` tags (the answer format) become the tools instruction, and the system message says that
    functions replace the tags. Native backends also get ``tools`` in the request."""
    how = NATIVE_INSTRUCTIONS if native else fallback_instructions(schemas)
    out = [dict(m) for m in messages]
    for m in out:
        if m["role"] == "system":
            m["content"] += (f"\n\nIn this run, do not write <action> tags. {how} The functions replace "
                             "the tags this prompt describes; each does what its tag does.")
            break
    else:
        out.insert(0, {"role": "system", "content": how})
    for m in out:
        if m["role"] == "user" and "<action>" in m["content"]:
            paras = m["content"].split("\n\n")
            asks = [i for i, p in enumerate(paras) if "<action>" in p]
            paras[asks[0]] = NATIVE_INSTRUCTIONS
            m["content"] = "\n\n".join(p for i, p in enumerate(paras) if i not in asks[1:])
    return out


class ToolsPrompt:
    """A prompt builder for the tools protocol around the env's text-protocol builder."""

    def __init__(self, inner: Any, env_id: str, native: bool):
        self.inner, self.native = inner, native
        self.schemas = list(toolset(env_id).schemas)

    def build(self, state: Any) -> list[Message]:
        return adapt_messages(self.inner.build(state), self.schemas, self.native)
