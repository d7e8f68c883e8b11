"""Training configuration: nested dataclasses loaded from a recipe YAML (``baselines/recipes/<name>.yaml``)
plus command-line overrides (``--set rl.steps=10``). Unknown keys are an error, not silently ignored.

The algorithm string is an estimator followed by any number of parts: ``grpo``, ``grpo+aem``,
``rloo+empg``, ``dapo+aem-reverse+clip_cov`` ... (``ALGO_PARTS``: advantage transforms, their ablations and
loss terms, each composable with every estimator). Precedence, lowest first: the estimator's registered
loss/sampler defaults, the recipe, the settings the algorithm's parts imply (``grpo+entropy`` turns the
entropy bonus on even where the recipe has it off), then ``--set``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aem_gym.agents.prompts import DEFAULT_HISTORY
from aem_gym.baselines.advantages import EstimatorConfig, get_estimator
from aem_gym.baselines.aem import AEMConfig
from aem_gym.baselines.empg import EMPGConfig
from aem_gym.baselines.losses import LossConfig
from aem_gym.baselines.update import UpdateConfig

RECIPES_DIR = Path(__file__).with_name("recipes")


@dataclass
class EnvConfig:
    id: str = "aem/Household-v0"
    train_split: str = "train"
    eval_split: str = "auto"  # auto: the env's evaluation split, as `aem eval` picks it (agents.evaluate)
    max_turns: int = 10
    invalid_penalty: float = -0.1  # training-time shaping (InvalidActionPenalty); evaluation uses raw rewards
    reward_scale: float = 10.0  # success reward 10 as in the paper (ALFWorld/WebShop)
    history: int = DEFAULT_HISTORY  # turns of history in the prompt (verl-agent: 2)
    env_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    init: str = "tiny"  # "tiny" (agents.tiny.build_tiny_model) or a path to an HF model directory
    tiny: dict[str, Any] = field(default_factory=dict)  # TinyConfig overrides
    max_prompt_tokens: int = 512
    max_new_tokens: int = 24
    dtype: str = "float32"
    # "admissible": rollouts and evaluation decode only replies naming an admissible action, and the
    # trainer applies the same masks (agents.constrained); None: free text
    constrain: str | None = None


@dataclass
class SFTConfig:
    episodes: int = 0  # 0 = no warm start
    noise: float = 0.2  # probability of a random admissible action instead of the oracle's (noisy oracle)
    epochs: int = 2
    lr: float = 3e-3
    batch_size: int = 32
    max_turns: int | None = None
    # "taken": imitate the executed (noisy) action; "oracle": noisy execution, oracle labels
    label: str = "taken"
    schedule: str = "constant"  # "constant" or "cosine" (decays to 10% of lr), after linear warm-up
    warmup: float = 0.0  # fraction of the SFT optimizer steps spent warming the lr up
    # > 0: also language-model the prompt tokens (sft.response_and_prompt_loss)
    prompt_loss_weight: float = 0.0
    # share the SFT model between runs that differ only in RL settings (trainer.sft_cache_dir)
    cache: bool = True
    # None: the run's seed; an int: every run starts from the SFT model of this seed (one base model for all
    # seeds of a comparison, as a paper's seeds share one pretrained model; the RL seed still varies)
    seed: int | None = None


@dataclass
class RolloutConfig:
    groups: int = 4  # tasks per step
    group_size: int = 8  # G trajectories per task
    temperature: float = 1.0
    top_p: float = 1.0
    max_gen_batches: int = 3  # dynamic sampling tries (the last one keeps everything)
    # reverse curriculum (baselines/curriculum.py): training episodes start up to this many oracle steps
    # into the task; the maximum decays linearly to 0 over the first oracle_start_anneal of the RL steps
    oracle_start: int = 0
    oracle_start_anneal: float = 0.5


@dataclass
class RLConfig:
    steps: int = 20
    lr: float = 1e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass
class EvalScheduleConfig:
    """When and how much the trainer evaluates (the ``eval:`` section); how each evaluation runs is
    ``aem_gym.agents.evaluate.EvalConfig``, built from this run's settings by ``collect.eval_config``."""

    every: int = 5
    episodes: int = 32
    temperature: float = 0.4
    final_episodes: int = 64  # held-out evaluation after training (compare uses it)
    final_split: str | None = None  # default: env.eval_split


@dataclass
class CheckpointConfig:
    every: int = 10
    keep_last: int = 2


@dataclass
class DistConfig:
    """Scaling out (baselines.distributed, run under ``torchrun``); ignored by a plain single-process run."""

    strategy: str = "ddp"  # ddp | fsdp (FSDP2 fully_shard, for models that do not fit one GPU)
    backend: str = "auto"  # nccl with CUDA, else gloo
    rollout: str = "hf"  # hf: the trainer's own weights | vllm: weights synced into a vLLM engine each update
    env_workers: str = "local"  # local: engine threads | ray: env actors (agents.ray_pool)
    ray_workers: int = 4
    vllm: dict[str, Any] = field(default_factory=dict)  # VLLMPolicy / vllm.LLM keyword arguments


@dataclass
class TrainConfig:
    recipe: str = "custom"
    algo: str = "grpo"
    seed: int = 0
    env: EnvConfig = field(default_factory=EnvConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    rl: RLConfig = field(default_factory=RLConfig)
    update: UpdateConfig = field(default_factory=UpdateConfig)
    loss: dict[str, Any] = field(default_factory=dict)  # LossConfig overrides on top of the algorithm's
    estimator: EstimatorConfig = field(default_factory=EstimatorConfig)
    aem: AEMConfig = field(default_factory=AEMConfig)
    empg: EMPGConfig = field(default_factory=EMPGConfig)
    eval: EvalScheduleConfig = field(default_factory=EvalScheduleConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    distributed: DistConfig = field(default_factory=DistConfig)
    dynamic_sampling: bool | None = None  # None = the algorithm's default
    out_dir: str | None = None  # default runs/baselines/<recipe>-<algo>-seed<S>

    # -- derived --------------------------------------------------------------------------------------
    @property
    def estimator_name(self) -> str:
        return split_algo(self.algo)[0]

    @property
    def algo_parts(self) -> list[str]:
        return split_algo(self.algo)[1]

    def loss_config(self) -> LossConfig:
        spec = get_estimator(self.estimator_name)
        return LossConfig(**{**spec.loss, **self.loss})

    def use_dynamic_sampling(self) -> bool:
        if self.dynamic_sampling is not None:
            return self.dynamic_sampling
        return bool(get_estimator(self.estimator_name).sampler.get("dynamic_sampling", False))

    def run_name(self) -> str:
        return f"{self.recipe}-{self.algo}-seed{self.seed}"

    def output_dir(self) -> Path:
        return Path(self.out_dir) if self.out_dir else Path("runs") / "baselines" / self.run_name()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- algorithm strings -------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlgoPart:
    """A ``+part`` of an algorithm string: the config settings it implies (dotted keys)."""

    name: str
    sets: dict[str, Any]
    doc: str = ""


ALGO_PARTS: dict[str, AlgoPart] = {}


def register_algo_part(name: str, sets: dict[str, Any], doc: str = "") -> None:
    if name in ALGO_PARTS:
        raise ValueError(f"algorithm part {name!r} registered twice")
    ALGO_PARTS[name] = AlgoPart(name, dict(sets), doc)


for _name, _sets, _doc in [
    ("aem", {"aem.enabled": True}, "AEM (docs/training.md): per-turn α from the turn's mean token entropy"),
    ("aem-reverse", {"aem.enabled": True, "aem.reverse": True}, "ablation: high entropy gets α > 1"),
    ("aem-shuffle", {"aem.enabled": True, "aem.shuffle": True}, "ablation: α permuted within its group"),
    ("aem-token", {"aem.enabled": True, "aem.level": "token"}, "control: one α per token, not per turn"),
    ("empg", {"empg.enabled": True}, "EMPG (arXiv 2509.09265): batch-normalised g, future clarity, center"),
    ("clip_cov", {"loss.surrogate": "clip_cov"}, "Clip-Cov (Cui et al. 2025): detach high-Cov tokens"),
    ("kl_cov", {"loss.surrogate": "kl_cov"}, "KL-Cov (Cui et al. 2025): |Δlog π| on the top-Cov tokens"),
    ("entropy", {"loss.entropy_coef": 0.001}, "control: a plain entropy bonus (verl-agent's 0.001)"),
]:
    register_algo_part(_name, _sets, _doc)
_AEM_PARTS = ("aem", "aem-reverse", "aem-shuffle", "aem-token")


def split_algo(algo: str) -> tuple[str, list[str]]:
    """``"grpo+aem"`` -> ("grpo", ["aem"]); ``"RLOO"`` -> ("rloo", []). Parts keep their order."""
    parts = [p.strip().lower() for p in algo.split("+") if p.strip()]
    if not parts:
        raise ValueError("the algorithm string is empty; e.g. grpo, grpo+aem, rloo+empg")
    get_estimator(parts[0])
    for p in parts[1:]:
        if p not in ALGO_PARTS:
            raise ValueError(f"unknown algorithm part {p!r} in {algo!r}; known: {', '.join(ALGO_PARTS)}")
    if len(set(parts[1:])) != len(parts) - 1 or sum(p in _AEM_PARTS for p in parts) > 1:
        raise ValueError(f"{algo!r} names a part twice (at most one of {', '.join(_AEM_PARTS)})")
    return parts[0], parts[1:]


def with_aem(algo: str, on: bool) -> str:
    """``algo`` with AEM switched on (``+aem`` added unless an AEM variant is there) or off (removed)."""
    name, parts = split_algo(algo)
    has = any(p in _AEM_PARTS for p in parts)
    if on and not has:
        parts.append("aem")
    if not on:
        parts = [p for p in parts if p not in _AEM_PARTS]
    return "+".join([name, *parts])


def _scalar(text: str) -> Any:
    """A ``--set`` value: YAML, except that ``1e-4`` is a number (YAML 1.1 reads it as a string)."""
    v = yaml.safe_load(text)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


def recipe_algo(recipe: str | None) -> str:
    """The algorithm a recipe trains by default."""
    if not recipe:
        return TrainConfig.algo
    data = yaml.safe_load(recipe_path(recipe).read_text(encoding="utf-8")) or {}
    return str(data.get("algo", TrainConfig.algo))


def _build(cls, data: dict[str, Any], path: str):
    if not isinstance(data, dict):
        raise ValueError(f"{path or 'config'}: expected a mapping, got {type(data).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for k, v in data.items():
        if k not in known:
            raise ValueError(f"unknown config key {path + k!r}; known: {', '.join(sorted(known))}")
        default = getattr(cls(), k) if k in known else None
        if dataclasses.is_dataclass(default) and isinstance(v, dict):
            v = _build(type(default), v, f"{path}{k}.")
        elif isinstance(default, tuple) and isinstance(v, list):
            v = tuple(v)
        kwargs[k] = v
    return cls(**kwargs)


def _set_path(d: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
        if not isinstance(d, dict):
            raise ValueError(f"cannot set {dotted!r}: {k!r} is not a section")
    d[keys[-1]] = value


def recipe_path(recipe: str) -> Path:
    p = Path(recipe)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    p = RECIPES_DIR / f"{recipe}.yaml"
    if not p.exists():
        known = sorted(x.stem for x in RECIPES_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"no recipe {recipe!r}; known: {', '.join(known)}")
    return p


def list_recipes() -> list[str]:
    return sorted(x.stem for x in RECIPES_DIR.glob("*.yaml"))


def load_config(recipe: str | None = None, overrides: dict[str, Any] | None = None,
                sets: list[str] | None = None) -> TrainConfig:
    """Recipe YAML + ``overrides`` (dotted keys -> values) + ``sets`` (``"a.b=value"``, YAML-parsed)."""
    data: dict[str, Any] = {}
    if recipe:
        path = recipe_path(recipe)
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        data.setdefault("recipe", path.stem)
    for k, v in (overrides or {}).items():
        _set_path(data, k, v)
    parsed = []
    for s in sets or []:
        if "=" not in s:
            raise ValueError(f"--set expects key=value, got {s!r}")
        k, v = s.split("=", 1)
        parsed.append((k.strip(), _scalar(v)))
    algo = next((v for k, v in reversed(parsed) if k == "algo"), data.get("algo", TrainConfig.algo))
    for p in split_algo(str(algo))[1]:  # what the parts imply: after the recipe, before --set
        for k, v in ALGO_PARTS[p].sets.items():
            _set_path(data, k, v)
    for k, v in parsed:
        _set_path(data, k, v)
    cfg = _build(TrainConfig, data, "")
    cfg.algo = with_aem(cfg.algo, cfg.aem.enabled)  # `aem.enabled` (recipes, --set) and the name agree
    cfg.loss_config()  # validate early
    return cfg
