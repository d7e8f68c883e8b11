"""swe-real (docs/swe-real.md): the task data meets its contract, the set-up is deterministic and refuses
what it should, FAIL_TO_PASS/PASS_TO_PASS derivation, and — where the runtimes and the set-up exist — the
env and the grader on a sample of real tasks (the full check is `python -m aem_envs.swe.real.validate`)."""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from aem_envs.swe import instances
from aem_envs.swe.real import importer, runs, sources
from aem_envs.swe.sandbox import RuntimeUnavailable

ID = re.compile(r"^(?P<owner>[A-Za-z0-9_.-]+)__(?P<name>[A-Za-z0-9_.-]+)-(?P<n>\d+)$")


@pytest.fixture(scope="module")
def real():
    return instances.load_bundled("swe-real")


@pytest.fixture(scope="module")
def rows(real):
    return [dict(real.get(i)) for s in real.splits() for i in real.ids(s)]


def set_up(real) -> None:
    try:
        sources.require(real.folder)
    except RuntimeUnavailable as e:
        pytest.skip(str(e))


# -- the task data ----------------------------------------------------------------------------------
def test_size_projects_splits_and_kinds(real, rows):
    repos_ = Counter(r["repo"] for r in rows)
    assert len(rows) >= 40 and len(repos_) >= 8, repos_
    assert len(real.ids("test")) >= 20 and real.ids("train")
    assert not set(real.ids("test")) & set(real.ids("train"))
    test_repos = {real.get(i)["repo"] for i in real.ids("test")}
    assert test_repos == set(repos_), "every project is in the test split"
    kinds = Counter(r["task_type"] for r in rows)
    assert set(kinds) <= {"real-bug", "injected-bug"} and kinds["injected-bug"] * 4 <= len(rows)


def test_rows_are_complete_and_consistent(real, rows):
    projects = sources.load_projects(real.folder)
    licences = {p.name for p in (real.folder / "licenses").iterdir()}
    attribution = (real.folder / "ATTRIBUTION.md").read_text()
    for r in rows:
        m = ID.match(r["instance_id"])
        assert m and f"{m['owner']}/{m['name']}" == r["repo"], r["instance_id"]
        p = projects[r["sdist"]]
        assert r["base_commit"] == p.base_commit == r["environment_setup_commit"] and p.repo == r["repo"]
        assert f"{p.key}.txt" in licences and r["license"] == p.license
        assert json.loads(r["FAIL_TO_PASS"]) and r["gold_exit_code"] == 0
        assert set(json.loads(r["FAIL_TO_PASS"])).isdisjoint(json.loads(r["PASS_TO_PASS"]))
        assert r["eval_type"] == "pass_and_fail" and r["log_parser"] == "parse_log_pytest"
        assert runs.TEST_CMD in r["eval_script"] and r["base_commit"] in r["eval_script"]
        assert r["instance_id"] in attribution and r["upstream_url"] in attribution
        assert r["problem_statement"].strip() and "TODO" not in r["problem_statement"]


def test_pins_are_hashed(real):
    for p in sources.load_projects(real.folder).values():
        assert re.fullmatch(r"[0-9a-f]{64}", p.sha256) and p.url.startswith("https://files.pythonhosted.org/")
        assert re.fullmatch(r"[0-9a-f]{40}", p.base_commit)
        reqs = (real.folder / p.requirements).read_text()
        pins = re.findall(r"^([A-Za-z0-9_.-]+)==", reqs, re.M)
        assert "pytest" in pins and p.name.lower() not in {x.lower() for x in pins}
        assert reqs.count("--hash=sha256:") >= len(pins)


def test_problem_statements_do_not_give_the_fix(rows):
    for r in rows:
        added = [ln[1:].strip() for ln in r["patch"].splitlines()
                 if ln.startswith("+") and not ln.startswith("+++")]
        code = [ln for ln in added if len(ln) >= 24 and not ln.startswith(("#", '"', "'", ".."))]
        leaked = [ln for ln in code if ln in r["problem_statement"]]
        assert not leaked, (r["instance_id"], leaked)


def test_sources_and_built_rows_agree(real, rows):
    """The committed task sources are what was built (a rebuild would change nothing)."""
    import tomllib

    from aem_envs.swe.real import build

    src = {t.instance_id: t for t in build.load_sources(build.src_dir())}
    assert set(src) == {r["instance_id"] for r in rows}
    for r in rows:
        t = src[r["instance_id"]]
        assert (t.fix, t.test) == (r["patch"], r["test_patch"])
        assert t.meta["problem_statement"].strip() == r["problem_statement"].strip()
    cfg = tomllib.loads((build.src_dir() / "projects.toml").read_text())["projects"]
    pins = sources.load_projects(real.folder)
    assert ({f"{k}-{v['version']}": v["sha256"] for k, v in cfg.items()}
            == {k: p.sha256 for k, p in pins.items()})


# -- the set-up --------------------------------------------------------------------------------------
def _sdist(path: Path, top: str = "pkg-1.0", extra: dict[str, bytes] | None = None,
           links: dict[str, str] | None = None) -> Path:
    files = {f"{top}/PKG-INFO": b"Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n",
             f"{top}/pkg/__init__.py": b"X = 1\n", f"{top}/tests/test_x.py": b"def test_x():\n    pass\n",
             **(extra or {})}
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 123
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def test_the_sdist_repo_is_deterministic(tmp_path):
    sd = _sdist(tmp_path / "pkg-1.0.tar.gz")
    commits = {sources.make_repo(sd, tmp_path / d, "pkg 1.0\n") for d in ("a", "b")}
    assert len(commits) == 1
    assert (tmp_path / "a" / "pkg" / "__init__.py").read_text() == "X = 1\n"
    assert not list((tmp_path / "a" / ".git" / "hooks").iterdir())


def test_bad_sdists_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("AEM_SWE_REAL_CACHE", str(tmp_path / "cache"))
    sd = _sdist(tmp_path / "pkg-1.0.tar.gz")
    p = sources.Project("pkg-1.0", "pkg", "1.0", "pkg-1.0.tar.gz", sd.as_uri(), "0" * 64, "o/pkg", "MIT",
                        "LICENSE", ".", "envs/pkg-1.0.txt")
    with pytest.raises(RuntimeError, match="does not match the pinned"):
        sources.ensure_sdist(p)
    assert not list((tmp_path / "cache" / "sdists").iterdir()), "a refused download is not kept"
    for extra, links in [({"other-1.0/x": b""}, {}), ({"../evil": b""}, {}),
                         ({}, {"pkg-1.0/l": "/etc/passwd"}),
                         ({}, {"pkg-1.0/l": "../../evil"})]:
        tar = _sdist(tmp_path / "bad.tar.gz", extra=extra, links=links)
        with pytest.raises((RuntimeError, tarfile.TarError)):
            sources.unpack(tar, tmp_path / "bad")
        assert not (tmp_path / "evil").exists() and not (tmp_path / "bad").exists()


def test_sdist_rows_away_from_their_sources_are_one_message_at_load(rows, tmp_path):
    from aem_envs.swe.rows import InvalidInstances

    alone = tmp_path / "alone.jsonl"  # rows copied out of their task folder: no sources.json beside them
    alone.write_text("".join(json.dumps(r) + "\n" for r in rows[:3]), encoding="utf-8")
    with pytest.raises(InvalidInstances, match="3 of 3 rows") as e:
        instances.load(str(alone))
    assert str(e.value).count("sources.json") == 3 and 'instances_source="swe-real"' in str(e.value)
    (tmp_path / "sources.json").write_text(json.dumps({"projects": {}}), encoding="utf-8")
    with pytest.raises(InvalidInstances, match="is not a project of"):
        instances.load(str(alone))


def test_missing_setup_names_make_system(tmp_path, monkeypatch):
    import aem_envs

    monkeypatch.setenv("AEM_SWE_REAL_CACHE", str(tmp_path / "empty"))
    with pytest.raises(RuntimeUnavailable, match="make system"):
        aem_envs.make("aem/SWERepair-v0", instances_source="swe-real")


# -- deriving FAIL_TO_PASS / PASS_TO_PASS --------------------------------------------------------------
def _run(**status) -> runs.Run:
    return runs.Run({f"t::{k}": v for k, v in status.items()}, 0, 0.1)


def test_derive_sets_flaky_and_deselected():
    base = [_run(a="FAILED", b="PASSED", c="PASSED", d="FAILED", e="PASSED"),
            _run(a="FAILED", b="PASSED", c="FAILED", d="FAILED", e="PASSED")]
    gold = [_run(a="PASSED", b="PASSED", c="PASSED", d="FAILED", e="PASSED", f="SKIPPED"),
            _run(a="PASSED", b="PASSED", c="PASSED", d="FAILED", e="FAILED", f="SKIPPED")]
    d = runs.derive(base, gold)
    assert d.f2p == ["t::a"] and d.p2p == ["t::b"]
    assert d.flaky == ["t::c", "t::e"] and d.deselect == ["t::d", "t::e"]
    assert runs.check_final(base[0], gold[:1], d.f2p, d.p2p) == []
    bad = runs.check_final(_run(a="PASSED", b="FAILED"), [runs.Run({"t::a": "PASSED"}, 1, 0.1, "boom")],
                           d.f2p, d.p2p)
    assert len(bad) == 4, bad


def test_ids_the_parser_cannot_tell_apart_are_never_targets():
    out = "PASSED t::x[a b]\nPASSED t::x[a c]\nPASSED t::y[1]\nPASSED t::y[12]\nFAILED t::z - boom\n"
    status = {"t::x[a": "PASSED", "t::y[1]": "PASSED", "t::y[12]": "PASSED", "t::z": "FAILED"}
    base = [runs.Run({**status, "t::z": "FAILED"}, 1, 0.1, out)] * 2
    gold = [runs.Run({**status, "t::z": "PASSED"}, 0, 0.1,
                     out.replace("FAILED t::z - boom", "PASSED t::z"))] * 2
    assert base[0].ambiguous == {"t::x[a"}
    d = runs.derive(base, gold)
    assert d.f2p == ["t::z"] and set(d.p2p) == {"t::y[1]", "t::y[12]"}


def test_test_command_and_modules():
    patch = ("diff --git a/tests/test_a.py b/tests/test_a.py\n--- a/tests/test_a.py\n+++ b/tests/test_a.py\n"
             "diff --git a/tests/helpers.py b/tests/helpers.py\n"
             "--- a/tests/helpers.py\n+++ b/tests/helpers.py\n")
    assert runs.test_modules(patch) == ["tests/test_a.py"]
    cmd = runs.test_command(["tests/test_a.py"], ["tests/test_a.py::t[a b]"])
    assert cmd.endswith("--deselect 'tests/test_a.py::t[a b]'") and cmd.startswith(runs.TEST_CMD)
    assert importer.classify("src/click/core.py", ["src/click"]) == "fix"
    assert importer.classify("tests/test_core.py", ["src/click"]) == "test"
    assert importer.classify("CHANGES.rst", ["src/click"]) == "drop"


# -- through the sandbox: a sample (one task per project) --------------------------------------------------
def _sample(real) -> list[str]:
    first: dict[str, str] = {}
    for i in real.ids("test"):
        first.setdefault(real.get(i)["repo"], i)
    return sorted(first.values())


def test_gold_resolves_and_empty_does_not_on_a_sample(real, bwrap):
    from aem_envs.swe.real import validate

    set_up(real)
    report = validate.validate(["bwrap"], only=_sample(real), progress=False)
    assert not validate.wrong(report), validate.wrong(report)
    assert len(report["runtimes"]["bwrap"]) == len(_sample(real))


def test_gold_resolves_and_empty_does_not_on_docker(real, docker_rt):
    from aem_envs.swe.real import validate

    set_up(real)
    report = validate.validate(["docker"], only=["pallets__click-2500"], progress=False)
    assert not validate.wrong(report), validate.wrong(report)


def test_env_runs_the_release_with_its_test_environment(real, bwrap):
    import aem_envs

    set_up(real)
    env = aem_envs.make("aem/SWERepair-v0", instances_source="swe-real", split="test")
    try:
        obs, info = env.reset(options={"instance_id": "pallets__click-2500"})
        assert "show_default" in obs and info["instance_id"] == "pallets__click-2500"
        obs, *_ = env.step('<bash>python3 -c "import click, pytest; '
                           'print(click.__file__, pytest.__version__)"</bash>')
        assert "/testbed/src/click/__init__.py 7.4.4" in obs, obs
        obs, *_ = env.step(f"<bash>touch {sources.SITE_MOUNT}/x</bash>")
        assert "Read-only file system" in obs
        obs, *_ = env.step("<bash>python3 -m pytest -q -p no:cacheprovider tests/test_options.py "
                           "2>&1 | tail -1</bash>")
        assert " passed" in obs and "[exit code: 0]" in obs, obs
        for _ in range(10):
            obs, reward, term, _trunc, info = env.step(env.unwrapped.oracle_action())
            if term:
                break
        assert reward == 1.0 and info["grading"]["resolved"], obs
        assert info["grading"]["applied_files"] == ["src/click/core.py"]
    finally:
        env.close()
