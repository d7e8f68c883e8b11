"""``aem/SWERepair-v0``: fix a real repository with tools; graded like SWE-bench on ``<submit/>``.

    env = aem_envs.make("aem/SWERepair-v0", runtime="bwrap")   # or AEM_SWE_RUNTIME=docker
    obs, info = env.reset(seed=0)                  # the issue text and the tool list
    obs, reward, terminated, truncated, info = env.step('<bash>ls</bash>')

* reset: a fresh sandbox with the repository at the base commit in ``/testbed``.
* step: one tool call (``tools``); a bad call, or a sandbox that broke → ``is_action_valid=False`` and an
  observation saying why (never an exception).
* ``<submit/>``: grading in a fresh sandbox (``grading``; docs/swe-grader.md says what it guarantees);
  reward 1.0 if resolved else 0.0, ``terminated=True``, ``info["grading"]`` the per-test report.
* The turn limit (the registered ``max_episode_steps``, or a run's ``TurnLimit``) grades the repository as
  it stands on the last turn (``info["graded_at_turn_limit"]``): an unsubmitted correct fix still counts.
* ``split``: ``None`` takes the source's first split; an unknown split is a ``ValueError`` naming them.
* Limits per sandbox: ``memory_mb``, ``disk_mb`` (the work tree), ``command_timeout`` (seconds).
* ``instances_source``: our bundled set (default), a task folder, a SWE-bench file/folder or a cached HF
  dataset (``instances``); rows of every vintage are checked and completed at make() (``rows``), with
  ``image_naming`` ("harness", "local", a format string) and ``specs`` for repos swebench 4.1.0 does not
  know. Rows without a bundled repository run in their harness image (runtime docker); a missing image
  is an ``images.ImageMissing`` error at reset() naming the command that gets it (docs/swe-rows.md).
* ``oracle_action()``: the next tool call of a scripted solver that applies the gold patch through
  the tools (replace per changed block, create where that cannot be done uniquely) and then submits.

If the chosen runtime cannot run here, construction raises ``RuntimeUnavailable`` saying how to set it up.
"""

from __future__ import annotations

import base64
import difflib
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from aem_envs.core import StepResult, TextEnv
from aem_envs.swe import grading, images, instances, repos, tools
from aem_envs.swe.sandbox import (
    Limits,
    RuntimeUnavailable,
    Sandbox,
    SandboxSpec,
    create_sandbox,
    runtime_status,
)

log = logging.getLogger(__name__)
INTRO = """You are working in a Python repository at /testbed (a git repository at the base commit).
Fix the issue below by editing the source code; the hidden tests that check the fix are not in the
repository yet. Do not edit tests: changes to test files and test configuration are discarded.{setup}

Issue:
{problem}

Tools (one per reply):
{tools}

The sandbox: each <bash> command runs in a fresh shell in /testbed (cd and export do not carry over to the
next command: chain with && or use paths), and is stopped after {timeout:g} seconds. Python is python3
(there is no `python`); there is no network and no pip: use what is installed. When the turn limit is
reached, the repository is graded as it stands."""


class SWERepairEnv(TextEnv):
    # Tool output holds timings, dates and random names: a replay matches rewards, validity and the re-graded
    # verdict, not the text (docs/leaderboard.md, "Replay").
    metadata = {**TextEnv.metadata, "replay_observations": "volatile"}

    def __init__(self, split: str | None = None, runtime: str | None = None,
                 instances_source: str | None = None,
                 command_timeout: float = 30.0, grade_timeout: float = 300.0, max_output_chars: int = 8000,
                 memory_mb: int = 1024, disk_mb: int = 512, render_mode: str | None = None,
                 image_naming: str | None = None, specs: Any = None):
        self.runtime = runtime or os.environ.get("AEM_SWE_RUNTIME", "bwrap")
        reason = runtime_status(self.runtime)
        if reason is not None:
            raise RuntimeUnavailable(f"aem/SWERepair-v0 cannot use runtime {self.runtime!r}: {reason}")
        taskset = instances.load(instances_source, image_naming=image_naming, specs=specs)
        self.instances_source = instances_source
        folder = getattr(taskset, "folder", None)
        if folder is not None and (Path(folder) / "sources.json").is_file():  # a task set built from sdists
            from aem_envs.swe.real import sources

            sources.require(Path(folder))  # fail at make(), not at the first reset, when not set up
        # No split named: the source's first ("train" for the bundled set, "test" for a SWE-bench file).
        # A named split must exist (the base class raises, naming the splits there are).
        super().__init__(taskset, split=split or taskset.splits()[0], render_mode=render_mode)
        self.limits = Limits(memory_mb=memory_mb, timeout_s=command_timeout, disk_mb=disk_mb)
        self.command_timeout, self.grade_timeout = command_timeout, grade_timeout
        self.max_output_chars = max_output_chars
        self.sandbox: Sandbox | None = None
        self.row: dict[str, Any] = {}
        self.source_dir: Path | None = None
        self.ro_binds: tuple[tuple[str, str], ...] = ()
        self.done = False
        self.last_grade: grading.GradeResult | None = None
        self._gold: dict[str, bytes | None] | None = None
        self.turn_limit: int | None = None  # the registered step limit (set by aem_envs.make)

    def _task_type(self, task: Any) -> str:
        return str(task.get("task_type") or "swe")

    def task_stratum(self, task: Any) -> tuple[str, ...]:
        """Default subsets balance bug kinds first, then projects within a kind (``aem_envs.subsets``)."""
        return (self._task_type(task), str(task.get("repo", "")))

    def _source_dir(self, row: dict[str, Any]) -> tuple[Path | None, tuple[tuple[str, str], ...]]:
        """(host checkout copied to /testbed, read-only mounts): a git bundle of the task set, a release
        set up from its sdist with its test environment (swe-real), or neither (a SWE-bench image)."""
        if row.get("sdist"):
            from aem_envs.swe.real import sources

            repo, site = sources.prepared(self.tasks.path("sources.json").parent, row["sdist"])
            return repo, ((str(site), sources.SITE_MOUNT),)
        bundle = row.get("bundle")
        if not bundle:
            return None, ()  # a SWE-bench row: /testbed lives in its image (docker runtime)
        return repos.checkout(self.tasks.path(bundle), row["base_commit"]), ()

    def _reset_task(self, task: Any, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self._close_sandbox()
        self.row = dict(task)
        self.source_dir, self.ro_binds = self._source_dir(self.row)
        if self.source_dir is None:
            self._require_image()
        self.sandbox = create_sandbox(self.runtime, SandboxSpec(
            self.row["instance_id"], source_dir=self.source_dir,
            image=self.row.get("image") if self.source_dir is None else None, limits=self.limits,
            ro_binds=self.ro_binds))
        self.done, self.last_grade, self._gold = False, None, None
        obs = INTRO.format(problem=self.row["problem_statement"].strip(), tools=tools.TOOL_HELP,
                           timeout=self.command_timeout, setup=_setup_hint(self.row))
        return obs, {"runtime": self.runtime, "repo": self.row.get("repo", "")}

    def _require_image(self) -> None:
        """A row without a bundled repository runs in its harness image: runtime docker, image present."""
        iid = self.row["instance_id"]
        if self.runtime != "docker":
            raise RuntimeUnavailable(
                f"{iid} has no bundled repository (no 'bundle' field): its /testbed lives in the Docker "
                f"image {self.row['image']!r}, so it needs runtime='docker' (or AEM_SWE_RUNTIME=docker). "
                "Rows with a 'bundle' (a git bundle next to the rows: `aem swe add`, docs/swe-rows.md) run "
                "on bwrap too.")
        images.require(self.row, str(self.instances_source) if self.instances_source else None)

    def _step(self, action: str) -> StepResult:
        res = self._run(action)
        if res.terminated or self.turn_limit is None or self.turn < self.turn_limit:
            return res
        graded = self.finish_at_turn_limit()  # the registered limit: this was the last turn
        if graded is None:
            return res
        return replace(graded, observation=f"{res.observation}\n\n{graded.observation}",
                       is_action_valid=res.is_action_valid, info={**res.info, **graded.info})

    def finish_at_turn_limit(self) -> StepResult | None:
        """Grade the repository as it stands (the episode reached its turn limit without a submit): a correct
        fix the agent did not submit still counts. ``TurnLimit`` calls this at a run's own limit."""
        if self.done or self.sandbox is None:
            return None
        res = self._submit()
        self.won = self.won or res.won
        return replace(res, observation=f"Turn limit reached: the repository was graded as it stands. "
                                        f"{res.observation}", info={**res.info, "graded_at_turn_limit": True})

    def _run(self, action: str) -> StepResult:
        if self.done or self.sandbox is None:
            return StepResult("The episode is over (already submitted); call reset().", is_action_valid=False,
                              terminated=True, won=self.won)
        try:
            call = tools.parse(action)
            if call.name == "submit":
                return self._submit()
            obs = tools.run(call, self.sandbox, self.command_timeout, self.max_output_chars)
            return StepResult(obs, info={"tool": call.name})
        except tools.ToolError as e:
            return StepResult(f"Invalid tool call: {e}", is_action_valid=False)
        except (UnicodeError, ValueError) as e:  # e.g. NUL bytes or lone surrogates in a command
            return StepResult(f"Invalid tool call: the text cannot be passed to the sandbox "
                              f"({type(e).__name__}).",
                              is_action_valid=False)
        except Exception as e:  # the sandbox broke (SandboxError, OSError, the engine): never out of step()
            log.warning("sandbox failure in %s: %s", self.row.get("instance_id"), e, exc_info=True)
            return StepResult(f"The sandbox failed ({type(e).__name__}: {str(e)[:300]}); the command did not "
                              "run. Submit with <submit/> or reset.", is_action_valid=False,
                              info={"sandbox_error": True})

    def _submit(self) -> StepResult:
        res = grading.grade(self.row, self.sandbox, self.runtime, self.source_dir,
                            replace(self.limits, timeout_s=self.grade_timeout), self.grade_timeout,
                            ro_binds=self.ro_binds)
        self.done, self.last_grade = True, res
        self._close_sandbox()
        verdict = "RESOLVED" if res.resolved else "NOT RESOLVED"
        obs = f"Submitted. {verdict}: {res.reason}."
        return StepResult(obs, reward=res.reward, terminated=True, won=res.resolved,
                          is_action_valid=not res.infra_error,
                          info={"grading": res.report(), "tool": "submit"})

    # -- the scripted gold-patch solver ------------------------------------------------------------
    def oracle_action(self) -> str | None:
        if self.done or self.sandbox is None:
            return None
        if self._gold is None:
            self._gold = repos.apply_patch_files(self.source_dir or self._read_bytes, self.row["patch"])
        for rel, want in self._gold.items():
            if want is None:
                if self._exists(rel):
                    return f"<bash>rm -f {rel}</bash>"
                continue
            cur = self._read(rel)
            if cur == want:
                continue
            text, gold = (cur or b"").decode(), want.decode()
            if cur is not None:
                for context in (1, 3, 8):  # more context until a changed block is unique in the file
                    for old, new in _blocks(text, gold, context):
                        if old and text.count(old) == 1:
                            return tools.ToolCall("replace", {"path": rel},
                                                  f"<old>{old}</old><new>{new}</new>").render()
            return tools.ToolCall("create", {"path": rel}, gold).render()
        return "<submit/>"

    def _read(self, rel: str) -> bytes | None:
        r = self.sandbox.exec(f"cat -- '{rel}'", timeout=30)
        return r.output.encode() if r.exit_code == 0 else None

    def _read_bytes(self, rel: str) -> bytes | None:
        r = self.sandbox.exec(f"base64 -w0 -- '{rel}'", timeout=30)
        return base64.b64decode(r.output) if r.exit_code == 0 else None

    def _exists(self, rel: str) -> bool:
        return self.sandbox.exec(f"test -e '{rel}'", timeout=30).exit_code == 0

    def _close_sandbox(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None

    def close(self) -> None:
        self._close_sandbox()
        super().close()


def _setup_hint(row: dict[str, Any]) -> str:
    """How to reach the tests' environment, for rows whose eval script activates one (harness images)."""
    if "conda activate" not in str(row.get("eval_script", "")):
        return ""
    return ("\nThe tests' Python environment: `source /opt/miniconda3/bin/activate && conda activate "
            "testbed` (in the same command as what needs it).")


def _blocks(a: str, b: str, context: int = 1) -> list[tuple[str, str]]:
    """Changed regions of ``a`` → ``b`` with ``context`` lines around, as (old, new) text: replace-tool
    edits. Applied one at a time, re-planned from the file's current content after each."""
    al, bl = a.splitlines(keepends=True), b.splitlines(keepends=True)
    out = []
    for group in difflib.SequenceMatcher(None, al, bl, autojunk=False).get_grouped_opcodes(context):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        out.append(("".join(al[i1:i2]), "".join(bl[j1:j2])))
    return out
