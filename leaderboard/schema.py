"""The results directory written by ``aem eval`` and read by ``aem leaderboard submit``.

Layout (mirrors SWE-bench's ``experiments/`` folders and BALROG's ``summary.json``)::

    DIR/summary.json                 per env: success, score, per-task-type success, pass@k, std-err over
                                     seeds, tokens, wall time; ``content_sha256`` of the files below
    DIR/episodes.jsonl               one ``EpisodeRow`` per (env, instance, seed)
    DIR/trajectories/<slug>.jsonl    one ``TrajectoryRow`` per episode: every turn (observation, action,
                                     reward, info, and per-turn entropy / AEM alpha where the agent has them)
    DIR/metadata.yaml                agent spec and config, env ids and versions, manifest hashes, seeds,
                                     package versions, machine

Every file is checked against the JSON schemas below; ``validate_*`` raise ``SchemaError`` with the file,
the line and the JSON path of the first problem, e.g. ``episodes.jsonl line 7: at 'won': 'yes' is not of
type 'boolean'``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
SUMMARY_FILE = "summary.json"
EPISODES_FILE = "episodes.jsonl"
TRAJ_DIR = "trajectories"
METADATA_FILE = "metadata.yaml"


class SchemaError(ValueError):
    """A results file does not follow the schema (the message says which file, where and what)."""


def env_slug(env_id: str) -> str:
    """File-name-safe form of an env id: ``aem/Household-v0`` -> ``aem__Household-v0``."""
    return env_id.replace("/", "__").replace(":", "_")


def episode_id(env_id: str, instance_id: str, seed: int) -> str:
    return f"{env_id}|{instance_id}|s{seed}"


@dataclass
class TurnRow:
    """One agent turn: the observation the agent acted on, its action, and what the env answered.

    ``action`` is what the env received (the parsed action), or, where the reply had no parsable action
    (``info["parse_error"]``), the start of the reply itself; the env never saw it.
    """

    turn_idx: int
    observation: str
    action: str
    reward: float
    terminated: bool
    truncated: bool
    is_action_valid: bool
    info: dict[str, Any] = field(default_factory=dict)
    raw_text: str | None = None  # the model's full text when it differs from the parsed env action
    entropy: float | None = None  # mean token entropy of the response (nats), trained/LLM agents only
    aem_alpha: float | None = None  # AEM coefficient of this turn within its task group (docs/training.md)
    logprob: float | None = None  # log p(reply): sum of its token log-probs (nats), where the agent has them
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class TrajectoryRow:
    """One line of ``trajectories/<slug>.jsonl``: an episode's reset observation and every turn (the
    results-file form of ``aem_gym.agents.records.Trajectory``)."""

    episode_id: str
    env_id: str
    instance_id: str
    seed: int
    reset_observation: str
    final_observation: str
    turns: list[TurnRow] = field(default_factory=list)
    # Why the evaluation loop stopped the episode before the env ended it: "timeout" (its time ran out)
    # or "error" (the env raised); None: the env ended it. A step that never came back is not recorded.
    stopped: str | None = None
    error: str | None = None  # what went wrong when stopped == "error" (an env's exception, a backend's)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EpisodeRow:
    episode_id: str
    env_id: str
    instance_id: str
    task_type: str
    split: str
    seed: int
    won: bool
    score: float  # the episode return
    turns: int
    invalid_actions: int
    terminated: bool
    truncated: bool
    prompt_tokens: int
    completion_tokens: int
    wall_s: float
    trajectory_file: str  # relative to the results dir
    # "error": the agent's backend failed (agents.errors.BackendError); not an attempt, excluded from the
    # rates (leaderboard.metrics). Optional in the schema: files written before it have none ("ok").
    status: str = "ok"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


INT64_MAX = 2**63 - 1
MAX_NAME = 256  # ids, names, labels, task types, split names
MAX_SPEC = 1024  # agent specs (may hold a path or a URL)
MAX_TEXT = 1 << 20  # one observation or action (characters)
_num = {"type": "number", "minimum": -1e12, "maximum": 1e12}
_int0 = {"type": "integer", "minimum": 0, "maximum": INT64_MAX}
_seed = {"type": "integer", "minimum": 0, "maximum": INT64_MAX}
_str = {"type": "string", "maxLength": MAX_NAME}
_text = {"type": "string", "maxLength": MAX_TEXT}
_bool = {"type": "boolean"}
_opt_num = {"type": ["number", "null"], "minimum": -1e12, "maximum": 1e12}

TURN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["turn_idx", "observation", "action", "reward", "terminated", "truncated", "is_action_valid",
                 "info"],
    "properties": {"turn_idx": _int0, "observation": _text, "action": _text, "reward": _num,
                   "terminated": _bool, "truncated": _bool, "is_action_valid": _bool,
                   "info": {"type": "object", "maxProperties": 256},
                   "raw_text": {"type": ["string", "null"], "maxLength": MAX_TEXT}, "entropy": _opt_num,
                   "aem_alpha": _opt_num, "logprob": _opt_num, "prompt_tokens": _int0,
                   "completion_tokens": _int0},
}

TRAJECTORY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["episode_id", "env_id", "instance_id", "seed", "reset_observation", "final_observation",
                 "turns"],
    "properties": {"episode_id": {"type": "string", "maxLength": 3 * MAX_NAME + 32}, "env_id": _str,
                   "instance_id": _str, "seed": _seed, "reset_observation": _text, "final_observation": _text,
                   "turns": {"type": "array", "items": TURN_SCHEMA, "maxItems": 10_000},
                   "stopped": {"enum": ["timeout", "error", None]},
                   "error": {"type": ["string", "null"], "maxLength": 4096}},
}

EPISODE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [f for f in EpisodeRow.__dataclass_fields__ if f != "status"],
    "additionalProperties": False,
    "properties": {"episode_id": {"type": "string", "maxLength": 3 * MAX_NAME + 32}, "env_id": _str,
                   "instance_id": _str, "task_type": _str, "split": _str,
                   "seed": _seed, "won": _bool, "score": _num, "turns": _int0,
                   "invalid_actions": _int0, "terminated": _bool, "truncated": _bool, "prompt_tokens": _int0,
                   "completion_tokens": _int0, "wall_s": {"type": "number", "minimum": 0, "maximum": 1e9},
                   "trajectory_file": {"type": "string", "maxLength": MAX_NAME,
                                       "pattern": r"^trajectories/[^/]+\.jsonl$"},
                   "status": {"enum": ["ok", "error"]}},
}

_rate = {"type": "number", "minimum": 0, "maximum": 1}
_small_map = {"type": "object", "maxProperties": 10_000}
ENV_SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["episodes", "instances", "success_rate", "mean_score", "stderr_over_seeds",
                 "per_seed_success",
                 "per_task_type", "pass_at_k", "tokens", "wall_s", "mean_turns", "invalid_action_rate"],
    "properties": {
        "episodes": _int0, "instances": _int0, "success_rate": _rate, "mean_score": _num,
        "stderr_over_seeds": _opt_num,
        "per_seed_success": {**_small_map, "additionalProperties": _rate, "propertyNames": _str},
        "per_task_type": {**_small_map, "propertyNames": _str, "additionalProperties": {
            "type": "object", "required": ["episodes", "success_rate"],
            "properties": {"episodes": _int0, "success_rate": _rate, "mean_score": _num}}},
        "pass_at_k": {**_small_map, "additionalProperties": _rate, "propertyNames": _str},
        "tokens": {"type": "object", "required": ["prompt", "completion"],
                   "properties": {"prompt": _int0, "completion": _int0}},
        "wall_s": {"type": "number", "minimum": 0, "maximum": 1e12}, "mean_turns": _num,
        "invalid_action_rate": _rate, "errors": _int0},
}

_seeds = {"type": "array", "items": _seed, "minItems": 1, "maxItems": 1000}
SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["schema_version", "agent", "suite", "split", "seeds", "envs", "overall", "content_sha256"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION}, "agent": _str, "suite": {**_str, "maxLength": MAX_SPEC},
        "split": _str, "seeds": _seeds,
        "envs": {"type": "object", "minProperties": 1, "maxProperties": 100, "propertyNames": _str,
                 "additionalProperties": ENV_SUMMARY_SCHEMA},
        "overall": {"type": "object", "required": ["success_rate", "mean_score", "episodes"],
                    "properties": {"success_rate": _rate, "mean_score": _num, "episodes": _int0}},
        "content_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
}

METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["schema_version", "agent", "suite", "split", "seeds", "episodes_per_env", "max_turns",
                 "envs",
                 "packages", "machine", "created"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "agent": {"type": "object", "required": ["spec", "name"],
                  "properties": {"spec": {**_str, "maxLength": MAX_SPEC}, "name": _str,
                                 "config": {"type": "object"}}},
        "suite": {**_str, "maxLength": MAX_SPEC}, "split": _str, "seeds": {**_seeds, "uniqueItems": True},
        "episodes_per_env": {"type": ["integer", "null"], "minimum": 1, "maximum": 1_000_000},
        "max_turns": {"type": ["integer", "null"], "minimum": 1, "maximum": 10_000},
        "settings": {"type": "object"},
        "envs": {"type": "object", "minProperties": 1, "maxProperties": 100, "propertyNames": _str,
                 "additionalProperties": {
                     "type": "object", "required": ["task_set", "version", "manifest_sha256", "split",
                                                    "instances"],
                     "properties": {"task_set": _str, "version": _str, "split": _str,
                                    "manifest_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                                    "backends": {"type": "object"},
                                    "instances": {"type": "array", "items": _str, "minItems": 1,
                                                  "maxItems": 1_000_000, "uniqueItems": True},
                                    "split_size": _int0}}},
        "packages": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
        "machine": {"type": "object"}, "created": _str,
    },
}


def _validator(schema: dict[str, Any]):
    import jsonschema

    return jsonschema.Draft202012Validator(schema)


_cache: dict[int, Any] = {}


def check(obj: Any, schema: dict[str, Any], where: str) -> None:
    """Raise ``SchemaError`` naming ``where`` and the JSON path of the first (shallowest) problem."""
    v = _cache.get(id(schema)) or _cache.setdefault(id(schema), _validator(schema))
    errors = sorted(v.iter_errors(obj), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        e = errors[0]
        path = ".".join(str(p)[:MAX_NAME] for p in e.absolute_path)
        msg = e.message if len(e.message) <= 300 else e.message[:120] + " … " + e.message[-120:]
        raise SchemaError(f"{where}: {'at ' + repr(path) + ': ' if path else ''}{msg}")


def parse_jsonl(data: bytes, name: str, schema: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Parse (and check) JSON lines from ``data``; errors name the file (``name``) and the line."""
    from aem_gym.leaderboard.safeio import parse_json

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SchemaError(f"{name} is not UTF-8 text: {e}") from None
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = parse_json(line)
        except ValueError as e:
            raise SchemaError(f"{name} line {n}: not valid JSON ({getattr(e, 'msg', e)})") from None
        if schema is not None:
            check(row, schema, f"{name} line {n}")
        rows.append(row)
    return rows


def read_jsonl(path: Path, schema: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Parse (and check) a JSON-lines file we wrote ourselves; errors name the line."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise SchemaError(f"{Path(path).name} is missing") from None
    return parse_jsonl(data, Path(path).name, schema)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")


def content_files(run_dir: Path) -> list[Path]:
    """The files whose bytes make up a run's identity: episodes and trajectories (sorted)."""
    run_dir = Path(run_dir)
    files = [run_dir / EPISODES_FILE]
    tdir = run_dir / TRAJ_DIR
    if tdir.is_dir():
        files += sorted(p for p in tdir.iterdir() if p.is_file())
    return files


def content_sha256(run_dir: Path) -> str:
    """sha256 over (relative name, bytes) of ``content_files``: the run's byte identity."""
    run_dir = Path(run_dir)
    return digest_files({p.relative_to(run_dir).as_posix(): p.read_bytes()
                         for p in content_files(run_dir) if p.is_file()})


def digest_files(files: dict[str, bytes]) -> str:
    """``content_sha256`` of files already read: ``{relative name: bytes}`` (sorted as ``content_files``)."""
    h = hashlib.sha256()
    names = sorted(files, key=lambda n: (n != EPISODES_FILE, n))
    for name in names:
        h.update(name.encode() + b"\0")  # the same key on any OS
        h.update(hashlib.sha256(files[name]).digest())
    return h.hexdigest()


def load_yaml(path: Path) -> Any:
    """A YAML file of our own (configs, metadata we wrote); untrusted input goes through ``parse_yaml``."""
    try:
        return parse_yaml(Path(path).read_bytes(), Path(path).name)
    except FileNotFoundError:
        raise SchemaError(f"{Path(path).name} is missing") from None


def load_json(path: Path) -> Any:
    try:
        return parse_json_file(Path(path).read_bytes(), Path(path).name)
    except FileNotFoundError:
        raise SchemaError(f"{Path(path).name} is missing") from None


def parse_yaml(data: bytes, name: str) -> Any:
    """Safe YAML without aliases; errors name the file."""
    import yaml

    from aem_gym.leaderboard.safeio import load_yaml_text

    try:
        return load_yaml_text(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise SchemaError(f"{name} is not UTF-8 text: {e}") from None
    except (yaml.YAMLError, ValueError) as e:
        raise SchemaError(f"{name} is not valid YAML: {e}") from None
    except RecursionError:
        raise SchemaError(f"{name} is nested too deeply") from None


def parse_json_file(data: bytes, name: str) -> Any:
    from aem_gym.leaderboard.safeio import parse_json

    try:
        return parse_json(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise SchemaError(f"{name} is not UTF-8 text: {e}") from None
    except ValueError as e:
        raise SchemaError(f"{name} is not valid JSON: {e}") from None
