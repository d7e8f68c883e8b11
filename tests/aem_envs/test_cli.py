from __future__ import annotations

import subprocess
import sys

from aem_gym.cli.main import main


def test_envs_lists_the_example(capsys):
    assert main(["envs"]) == 0
    assert "example/TreasureHunt-v0" in capsys.readouterr().out


def test_check_passes_for_the_example(capsys):
    assert main(["check", "example/TreasureHunt-v0", "--fuzz", "8"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "[FAIL]" not in out


def test_unknown_env_is_one_clear_line(capsys):
    assert main(["check", "example/TreasureHnt-v0"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'example/TreasureHunt-v0'" in err and "Traceback" not in err


def test_play_with_oracle_wins(capsys):
    assert main(["play", "example/TreasureHunt-v0", "--seed", "2", "--oracle"]) == 0
    assert "won=True" in capsys.readouterr().out


def test_play_as_a_human_on_stdin():
    """A person types actions; invalid ones are flagged; EOF ends the game."""
    proc = subprocess.run([sys.executable, "-m", "aem_cli", "play", "example/TreasureHunt-v0", "--seed", "1"],
                          input="look\nfly away\nquit\n", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "admissible: look | inventory" in proc.stdout
    assert "(invalid action)" in proc.stdout and "episode over after 2 turns" in proc.stdout
