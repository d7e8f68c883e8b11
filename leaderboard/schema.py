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


_num = {"type": "number"}
_int0 = {"type": "integer", "minimum": 0}
_str = {"type": "string"}
_bool = {"type": "boolean"}
_opt_num = {"type": ["number", "null"]}

TURN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["turn_idx", "observation", "action", "reward", "terminated", "truncated", "is_action_valid",
                 "info"],
    "properties": {"turn_idx": _int0, "observation": _str, "action": _str, "reward": _num, "terminated": _bool,
                   "truncated": _bool, "is_action_valid": _bool, "info": {"type": "object"},
                   "raw_text": {"type": ["string", "null"]}, "entropy": _opt_num, "aem_alpha": _opt_num, "logprob": _opt_num,
                   "prompt_tokens": _int0, "completion_tokens": _int0},
}

TRAJECTORY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["episode_id", "env_id", "instance_id", "seed", "reset_observation", "final_observation", "turns"],
    "properties": {"episode_id": _str, "env_id": _str, "instance_id": _str, "seed": {"type": "integer"},
                   "reset_observation": _str, "final_observation": _str,
                   "turns": {"type": "array", "items": TURN_SCHEMA},
                   "stopped": {"enum": ["timeout", "error", None]}, "error": {"type": ["string", "null"]}},
}

EPISODE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [f for f in EpisodeRow.__dataclass_fields__ if f != "status"],
    "additionalProperties": False,
    "properties": {"episode_id": _str, "env_id": _str, "instance_id": _str, "task_type": _str, "split": _str,
                   "seed": {"type": "integer"}, "won": _bool, "score": _num, "turns": _int0,
                   "invalid_actions": _int0, "terminated": _bool, "truncated": _bool, "prompt_tokens": _int0,
                   "completion_tokens": _int0, "wall_s": {"type": "number", "minimum": 0},
                   "trajectory_file": {"type": "string", "pattern": r"^trajectories/[^/]+\.jsonl$"},
                   "status": {"enum": ["ok", "error"]}},
}

_rate = {"type": "number", "minimum": 0, "maximum": 1}
ENV_SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["episodes", "instances", "success_rate", "mean_score", "stderr_over_seeds", "per_seed_success",
                 "per_task_type", "pass_at_k", "tokens", "wall_s", "mean_turns", "invalid_action_rate"],
    "properties": {
        "episodes": _int0, "instances": _int0, "success_rate": _rate, "mean_score": _num,
        "stderr_over_seeds": _opt_num, "per_seed_success": {"type": "object", "additionalProperties": _rate},
        "per_task_type": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["episodes", "success_rate"],
            "properties": {"episodes": _int0, "success_rate": _rate, "mean_score": _num}}},
        "pass_at_k": {"type": "object", "additionalProperties": _rate},
        "tokens": {"type": "object", "required": ["prompt", "completion"],
                   "properties": {"prompt": _int0, "completion": _int0}},
        "wall_s": {"type": "number", "minimum": 0}, "mean_turns": _num, "invalid_action_rate": _rate,
        "errors": _int0},
}

SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["schema_version", "agent", "suite", "split", "seeds", "envs", "overall", "content_sha256"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION}, "agent": _str, "suite": _str, "split": _str,
        "seeds": {"type": "array", "items": {"type": "integer"}, "minItems": 1},
        "envs": {"type": "object", "minProperties": 1, "additionalProperties": ENV_SUMMARY_SCHEMA},
        "overall": {"type": "object", "required": ["success_rate", "mean_score", "episodes"],
                    "properties": {"success_rate": _rate, "mean_score": _num, "episodes": _int0}},
        "content_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
}

METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["schema_version", "agent", "suite", "split", "seeds", "episodes_per_env", "max_turns", "envs",
                 "packages", "machine", "created"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "agent": {"type": "object", "required": ["spec", "name"],
                  "properties": {"spec": _str, "name": _str, "config": {"type": "object"}}},
        "suite": _str, "split": _str,
        "seeds": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "uniqueItems": True},
        "episodes_per_env": {"type": ["integer", "null"], "minimum": 1},
        "max_turns": {"type": ["integer", "null"], "minimum": 1},
        "envs": {"type": "object", "minProperties": 1, "additionalProperties": {
            "type": "object", "required": ["task_set", "version", "manifest_sha256", "split", "instances"],
            "properties": {"task_set": _str, "version": _str, "split": _str,
                           "manifest_sha256": {"type": ["string", "null"]},
                           "backends": {"type": "object"},
                           "instances": {"type": "array", "items": _str, "minItems": 1, "uniqueItems": True},
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
        path = ".".join(str(p) for p in e.absolute_path)
        raise SchemaError(f"{where}: {'at ' + repr(path) + ': ' if path else ''}{e.message}")


def read_jsonl(path: Path, schema: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Parse (and check) a JSON-lines file; errors name the line."""
    rows = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchemaError(f"{path.name} is missing") from None
    except UnicodeDecodeError as e:
        raise SchemaError(f"{path.name} is not UTF-8 text: {e}") from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise SchemaError(f"{path.parent.name + '/' if path.parent.name == TRAJ_DIR else ''}{path.name} "
                              f"line {n}: not valid JSON ({e.msg})") from None
        if schema is not None:
            check(row, schema, f"{path.name} line {n}")
        rows.append(row)
    return rows


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
    """sha256 over (relative name, bytes) of ``content_files``: the run's key in the leaderboard store."""
    h = hashlib.sha256()
    for p in content_files(run_dir):
        if not p.is_file():
            continue
        h.update(p.relative_to(run_dir).as_posix().encode() + b"\0")  # the same key on any OS
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def load_yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaError(f"{Path(path).name} is missing") from None
    except yaml.YAMLError as e:
        raise SchemaError(f"{Path(path).name} is not valid YAML: {e}") from None


def load_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaError(f"{Path(path).name} is missing") from None
    except json.JSONDecodeError as e:
        raise SchemaError(f"{Path(path).name} is not valid JSON: {e}") from None
