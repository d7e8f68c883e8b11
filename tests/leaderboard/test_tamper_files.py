"""Crafted submissions, part 2: plagiarism variants and malformed inputs (each one clear message; no
traceback, no hang, no unbounded memory)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from aem_gym.leaderboard.schema import EPISODES_FILE, METADATA_FILE, SUMMARY_FILE, TRAJ_DIR
from aem_gym.leaderboard.store import Store
from aem_gym.leaderboard.submit import submit
from aem_gym.leaderboard.validate import validate

from .tamper_kit import edit_meta, edit_rows, edit_summary, read_rows, rehash, rejected, set_agent, traj_file

ENV = "example/TreasureHunt-v0"


# -- plagiarism -----
def test_byte_identical_copy_is_the_same_row(runs, copy, db):
    first = submit(runs["oracle"], db=db)
    again = submit(copy("oracle"), db=db)
    assert not again.result.created and again.result.id == first.result.id


@pytest.mark.parametrize("variant", ["reordered", "wall_s", "blank_lines", "renamed", "reordered_trajs"])
def test_byte_changed_copy_is_refused(runs, copy, db, variant):
    submit(runs["oracle"], db=db)
    run = copy("oracle")
    if variant == "reordered":
        edit_rows(run / EPISODES_FILE, lambda rows: rows[::-1])
    elif variant == "reordered_trajs":
        edit_rows(traj_file(run), lambda rows: rows[::-1])
    elif variant == "wall_s":
        edit_rows(run / EPISODES_FILE, lambda rows: [r.update(wall_s=r["wall_s"] + 1) for r in rows] and None)
    elif variant == "blank_lines":
        p = run / EPISODES_FILE
        p.write_text("\n\n" + p.read_text().replace("\n", "\n\n"))
    else:  # a new display name, same episode files: the existing row, no new one
        set_agent(run, "my-agent", "oracle")
        acc = submit(run, db=db)
        assert not acc.result.created and acc.result.id == 1 and Store(db).count() == 1
        return
    rehash(run)
    rejected(run, db, "same trajectories as #1 (oracle)")


def test_seed_relabelled_copy_is_refused(runs, copy, db, tmp_path):
    from .conftest import make_run

    submit(runs["oracle"], db=db)
    honest_other_seeds = make_run(tmp_path / "o56", seeds=(5, 6))  # the oracle ignores seeds: same episodes
    rejected(honest_other_seeds, db, "same trajectories as #1", "only the seed labels differ")


def test_extra_file_is_refused(copy, db):
    run = copy("oracle")
    (run / "notes.txt").write_text("hi")
    rejected(run, db, "unknown file 'notes.txt'")
    (run / "notes.txt").unlink()
    (run / TRAJ_DIR / "extra.jsonl").write_text("")
    rejected(run, db, "trajectories/extra.jsonl belongs to no env of the run")


def test_oracle_actions_under_another_name_with_fake_entropies(copy, db):
    run = copy("oracle")
    set_agent(run, "my-llm", "hf:/models/my-llm")

    def fake(trajs):
        for t in trajs:
            for k, u in enumerate(t["turns"]):
                u.update(entropy=0.7 + 0.01 * k, prompt_tokens=300, completion_tokens=12)

    edit_rows(traj_file(run), fake)

    def tokens(rows):
        for r in rows:
            r.update(prompt_tokens=300 * r["turns"], completion_tokens=12 * r["turns"])

    edit_rows(run / EPISODES_FILE, tokens)
    rehash(run)
    rejected(run, db, "every action of this run is the env's oracle action")


def test_partial_copy_is_flagged_and_unranked(runs, copy, db):
    from aem_gym.leaderboard import ranking

    submit(runs["random01"], db=db)
    run = copy("random01")  # the random run's episodes under a model's name, half of them replaced
    oracle = {t["episode_id"]: t for t in read_rows(traj_file(runs["oracle"]))}
    oracle_rows = {r["episode_id"]: r for r in read_rows(runs["oracle"] / EPISODES_FILE)}
    trajs, rows = read_rows(traj_file(run)), read_rows(run / EPISODES_FILE)
    for i in range(0, len(trajs), 3):
        trajs[i], rows[i] = oracle[trajs[i]["episode_id"]], oracle_rows[rows[i]["episode_id"]]
    from .tamper_kit import write_rows

    write_rows(traj_file(run), trajs)
    write_rows(run / EPISODES_FILE, rows)
    set_agent(run, "my-llm", "hf:/models/my-llm")
    rehash(run)
    acc = submit(run, db=db)
    assert any("of its trajectories with #1" in f for f in acc.result.flags)
    t = ranking.ranking(Store(db))
    assert t[t["id"] == acc.result.id]["rank"].isna().all() and "with #1" in ranking.render(Store(db))


# -- malformed inputs -----
def _bad(run: Path, *needles: str) -> None:
    report = validate(run)
    assert not report.ok
    msg = "\n".join(report.problems)
    for n in needles:
        assert n in msg, msg


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ('"success_rate": NaN', "NaN is not a number a results file may hold"),
        ('"success_rate": Infinity', "Infinity is not a number"),
        ('"success_rate": 1e999', "is not finite"),
        ('"success_rate": -Infinity', "-Infinity is not a number"),
    ],
)
def test_non_finite_numbers_in_summary(copy, raw, needle):
    run = copy("oracle")
    p = run / SUMMARY_FILE
    s = json.loads(p.read_text())
    text = json.dumps(s).replace(f'"success_rate": {s["overall"]["success_rate"]}', raw, 1)
    assert raw in text
    p.write_text(text)
    _bad(run, "summary.json is not valid JSON", needle)


def test_non_finite_number_in_episodes(copy):
    run = copy("oracle")
    p = run / EPISODES_FILE
    p.write_text(p.read_text().replace('"score": 1.0', '"score": NaN', 1))
    _bad(run, "episodes.jsonl line 1: not valid JSON")


def test_nan_in_metadata_yaml(copy):
    run = copy("oracle")
    edit_meta(run, lambda m: m.update(max_turns=float("nan")))
    _bad(run, "metadata.yaml is not valid YAML", "not a finite number")


@pytest.mark.parametrize("seed", [2**70, 2**63, -1])
def test_seed_outside_int64(copy, db, seed):
    run = copy("oracle")
    edit_rows(run / EPISODES_FILE, lambda rows: rows[0].update(seed=seed))
    rehash(run, numbers=False)
    rejected(run, db, "episodes.jsonl line 1: at 'seed'")


def test_eval_refuses_seed_outside_int64(tmp_path, capsys):
    from aem_gym.cli.main import main

    assert (
        main(
            [
                "eval",
                "--agent",
                "oracle",
                "--suite",
                ENV,
                "--seeds",
                str(2**70),
                "--out",
                str(tmp_path / "x"),
                "--no-progress",
            ]
        )
        == 2
    )
    assert "seeds must be integers from 0 to 2**63-1" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_yaml_alias_bomb(copy):
    run = copy("oracle")
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
        f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    (run / METADATA_FILE).write_text(bomb + (run / METADATA_FILE).read_text())
    _bad(run, "YAML aliases (*name) are not allowed")


def test_huge_task_type_string(copy, db):
    run = copy("oracle")
    edit_rows(run / EPISODES_FILE, lambda rows: rows[0].update(task_type="x" * 2_000_000))
    rehash(run, numbers=False)
    msg = rejected(run, db, "episodes.jsonl line 1: at 'task_type'", "is too long")
    assert len(msg) < 1000  # the message does not echo the 2 MB value


def test_oversized_file(copy):
    run = copy("oracle")
    with open(run / EPISODES_FILE, "r+b") as f:
        f.truncate(65 << 20)  # sparse: no disk used
    _bad(run, "episodes.jsonl is 68,157,440 bytes, over the 67,108,864-byte limit")


def test_symlink_to_dev_zero(copy):
    run = copy("oracle")
    (run / EPISODES_FILE).unlink()
    os.symlink("/dev/zero", run / EPISODES_FILE)
    _bad(run, "episodes.jsonl is a symbolic link, expected a regular file")


def test_directory_named_jsonl(copy):
    run = copy("oracle")
    (run / TRAJ_DIR / "x.jsonl").mkdir()
    _bad(run, "trajectories/x.jsonl is a directory, expected a regular file")
    (run / TRAJ_DIR / "x.jsonl").rmdir()
    (run / EPISODES_FILE).unlink()
    (run / EPISODES_FILE).mkdir()
    _bad(run, "episodes.jsonl is a directory, expected a regular file")


def test_fifo_does_not_hang(copy):
    run = copy("oracle")
    f = traj_file(run)
    f.unlink()
    os.mkfifo(f)
    out: list = []
    t = threading.Thread(target=lambda: out.append(validate(run)), daemon=True)
    t.start()
    t.join(30)
    assert not t.is_alive(), "validate hung on a FIFO"
    assert not out[0].ok and "is a FIFO, expected a regular file" in "\n".join(out[0].problems)


def test_not_utf8_and_deep_nesting(copy):
    run = copy("oracle")
    (run / SUMMARY_FILE).write_bytes(b"\xff\xfe{}")
    _bad(run, "summary.json is not UTF-8 text")
    (run / SUMMARY_FILE).write_text("[" * 100_000 + "]" * 100_000)
    _bad(run, "summary.json is not valid JSON")


def test_summary_tampered_seeds_and_labels(copy):
    run = copy("oracle")
    edit_summary(run, lambda s: s.update(seeds=[0]))
    _bad(run, "summary.json seeds [0] differ from metadata.yaml seeds [0, 1]")
