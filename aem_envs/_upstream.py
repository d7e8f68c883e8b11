"""What the upstream-backed families (ScienceWorld, TextWorld, TextWorldExpress, MiniWoB++) share.

* ``UpstreamTextEnv``: a ``TextEnv`` over one upstream simulator, one env per value of one record field of
  a task folder (a ScienceWorld task, a TextWorld kind, a TWX game, a MiniWoB task). It builds the task
  subset, keeps the simulator handle in ``self._upstream`` and the end-of-episode flag in ``self._done``,
  and releases the handle in ``close``.
* ``family_tasks`` / ``TaskSubset``: a verified task folder restricted to one env's instances.
* ``clean_action``: free text made safe to send to a simulator's parser.
* ``jvm_upstream``: import a py4j-backed simulator (ScienceWorld, TextWorldExpress) whose JVMs start
  deterministic.

Why deterministic JVMs: ScienceWorld and TextWorldExpress are Scala simulators driven over py4j (one JVM per
env). Both keep game objects in hash sets keyed by Java *identity* hash codes, and HotSpot's default
identity hash is a thread-local pseudo-random sequence: the order of "In it, you see: ..." lines then
depends on how many objects the JVM hashed before. A fresh JVM reproduces one load, but the second load of
the same variation in that JVM lists objects in another order (checked: ScienceWorld grow-plant, 1.2.3).
``-XX:hashCode=2`` makes every identity hash the same constant, so iteration follows insertion order and
each load is reproducible no matter what ran before. Measured cost (ScienceWorld 1.2.3, gold paths of
boil-0 and grow-plant-0): plain steps 27/22 ms vs 25/18 ms by default, steps plus valid-action listing
361/169 ms vs 225/156 ms, i.e. up to 1.6x on the listing, which is why that listing is only computed on
request.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from aem_envs.core import TextEnv
from aem_envs.error import UnknownTaskError

DETERMINISTIC_JAVA_OPTS = ("-XX:+UnlockExperimentalVMOptions", "-XX:hashCode=2")
_patch_lock = threading.Lock()


class UpstreamTextEnv(TextEnv):
    """A ``TextEnv`` whose episodes run in an upstream simulator held in ``self._upstream``.

    Subclasses set ``tasks_env`` (the folder ``tasks/<tasks_env>/<tasks_version>``) and ``select_by`` (the
    record field their constructor argument selects), start the simulator lazily into ``self._upstream``,
    and set ``self._done`` when an episode ends (the base class answers any further step).
    """

    tasks_env: ClassVar[str]
    tasks_version: ClassVar[str] = "v0"
    select_by: ClassVar[str]
    def __init__(self, selector: str, split: str = "train", render_mode: str | None = None):
        subset = family_tasks(self.tasks_env, self.tasks_version, self.select_by, selector)
        super().__init__(subset, split=split, render_mode=render_mode)
        self._upstream: Any = None
        self._done = False

    def close(self) -> None:
        handle, self._upstream = self._upstream, None
        if handle is not None:
            try:
                handle.close()
            except Exception:  # the JVM, browser or interpreter may already be gone: nothing left to free
                pass
            # Upstream __del__ methods (ScienceWorld's, TextWorldExpress's) close a shut-down gateway again.
            with contextlib.suppress(AttributeError):
                handle.close = lambda: None
        super().close()


def follow_gold(history: Sequence[str], gold: Sequence[str]) -> str | None:
    """The gold path's next action while ``history`` has followed it, else ``None`` (no upstream planner
    recovers from an arbitrary state)."""
    n = len(history)
    return gold[n] if n < len(gold) and list(history) == list(gold[:n]) else None


def java_problem() -> str | None:
    """Why the Java simulators cannot run here (``None`` when a Java ≥ 17 is on PATH)."""
    java = shutil.which("java")
    if java is None:
        return "no `java` on PATH: run `make system` (installs openjdk-17-jre-headless)"
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"`java -version` failed: {e}"
    text = out.stderr + out.stdout
    for token in text.replace('"', " ").split():
        head = token.split(".")[0]
        if head.isdigit() and token.count(".") >= 1:
            return None if int(head) >= 17 else f"Java {token} found, the simulators need Java 17 or newer"
    return None  # an unusual version banner: let the JVM itself complain if it cannot run the jar


def jvm_upstream(family: str, module_name: str) -> Any:
    """Import the py4j-backed upstream module ``module_name`` with deterministic JVMs; a missing or old
    Java is a ``RuntimeError`` that names the fix."""
    problem = java_problem()
    if problem:
        raise RuntimeError(f"{family} needs Java: {problem}")
    module = importlib.import_module(module_name)
    patch_launch_gateway(module)
    return module


def patch_launch_gateway(module: Any) -> None:
    """Make ``module.launch_gateway`` (py4j's, as imported by an upstream package) start deterministic JVMs.

    Idempotent, and done before the first JVM starts, so no thread ever sees a half-patched function
    (unlike setting ``JAVA_TOOL_OPTIONS`` around each launch).
    """
    with _patch_lock:
        original = module.launch_gateway
        if getattr(original, "_aem_deterministic", False):
            return

        @functools.wraps(original)
        def launch(*args: Any, javaopts: list[str] | tuple[str, ...] = (), **kwargs: Any) -> Any:
            return original(*args, javaopts=[*DETERMINISTIC_JAVA_OPTS, *javaopts], **kwargs)

        launch._aem_deterministic = True  # type: ignore[attr-defined]
        module.launch_gateway = launch


def clean_action(action: str, max_chars: int) -> str | None:
    """The action as plain single-line text the simulator can take, or ``None`` if it must be refused.

    py4j sends UTF-8, so a lone surrogate would raise inside the gateway; control characters and newlines
    would reach the parser as garbage. Over-long text is refused here rather than shipped to the JVM.
    """
    if len(action) > max_chars:
        return None
    text = action.encode("utf-8", "replace").decode("utf-8")
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(text.split())


class TaskSubset:
    """A ``TaskProvider`` view of another provider restricted to the records ``keep`` accepts.

    One verified task folder serves a whole family (e.g. all 30 ScienceWorld tasks); each env id sees only
    its own instances, in the folder's order.
    """

    def __init__(self, base: Any, keep: Callable[[Mapping[str, Any]], bool], name: str):
        self.base, self.name, self.version = base, name, base.version
        self._ids = {split: [i for i in base.ids(split) if keep(base.get(i))] for split in base.splits()}
        self._ids = {split: ids for split, ids in self._ids.items() if ids}
        if not self._ids:
            raise ValueError(f"task set {base.name}/{base.version} has no instances for {name}")

    def splits(self) -> list[str]:
        return list(self._ids)

    def ids(self, split: str) -> list[str]:
        if split not in self._ids:
            raise UnknownTaskError(f"{self.name} has no split {split!r}; splits: {self.splits()}")
        return list(self._ids[split])

    def get(self, instance_id: str) -> Mapping[str, Any]:
        return self.base.get(instance_id)


@functools.cache
def family_tasks(env: str, version: str, field: str, value: str) -> TaskSubset:
    """``tasks/<env>/<version>`` (verified, its upstream backend version checked) restricted to the records
    whose ``field`` is ``value``, named ``<env>/<value>``. Built once per process and shared read-only:
    rollouts make an env per episode, and filtering thousands of records each time is wasted work."""
    from aem_envs.tasks import TaskSet, check_backends

    base = TaskSet.open(env, version)
    check_backends(base.manifest)
    return TaskSubset(base, lambda r: r[field] == value, f"{env}/{value}")
