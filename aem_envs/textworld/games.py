"""TextWorld games made locally with TextWorld's own generator, from a seed, and cached on disk.

A game is defined by its record in ``tasks/textworld/v0`` (kind, settings, seed) plus the pinned
``textworld`` version. TextWorld 1.7.0 generates byte-identical ``.z8``/``.json`` files from the same seed
(checked), so the records carry their sha256 and a regenerated game that differs is refused instead of
silently played. Games are not committed (a few hundred KB each): the first reset of an instance
generates it (~3 s) into ``$AEM_TEXTWORLD_CACHE`` or the user cache (``aem_envs.paths.cache_dir``)
``textworld/<textworld version>/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from aem_envs.error import ManifestMismatchError
from aem_envs.paths import cache_dir

# kind -> function(settings, seed, path) -> Game. A registry, so a new kind is one decorated function.
GAME_MAKERS: dict[str, Callable[[Mapping[str, Any], int, str], Any]] = {}
_generate_lock = threading.Lock()  # TextWorld's generator keeps module-level state; one game at a time


def game_maker(kind: str) -> Callable:
    def deco(fn: Callable) -> Callable:
        GAME_MAKERS[kind] = fn
        return fn
    return deco


def _options(seed: int, path: str) -> Any:
    from textworld.generator.game import GameOptions

    opts = GameOptions()
    opts.seeds = seed
    opts.path = path
    return opts


@game_maker("coin")
def _coin(settings: Mapping[str, Any], seed: int, path: str) -> Any:
    from textworld.challenges import coin_collector

    return coin_collector.make({"level": int(settings["level"])}, _options(seed, path))


@game_maker("treasure")
def _treasure(settings: Mapping[str, Any], seed: int, path: str) -> Any:
    from textworld.challenges import treasure_hunter

    return treasure_hunter.make({"level": int(settings["level"])}, _options(seed, path))


@game_maker("custom")
def _custom(settings: Mapping[str, Any], seed: int, path: str) -> Any:
    import textworld

    opts = _options(seed, path)
    opts.nb_rooms = int(settings["world_size"])
    opts.nb_objects = int(settings["nb_objects"])
    opts.quest_length = int(settings["quest_length"])
    return textworld.generator.make_game(opts)


def cache_root() -> Path:
    env = os.environ.get("AEM_TEXTWORLD_CACHE")
    if env:
        return Path(env)
    try:
        version = metadata.version("textworld")
    except metadata.PackageNotFoundError:
        version = "none"
    return cache_dir("textworld", version)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def generate(record: Mapping[str, Any], folder: Path) -> tuple[Path, Any]:
    """Generate and compile the record's game into ``folder/game.z8``; returns (path, Game)."""
    import textworld

    maker = GAME_MAKERS.get(record["kind"])
    if maker is None:
        raise ValueError(f"unknown TextWorld game kind {record['kind']!r}; known: {sorted(GAME_MAKERS)}")
    path = str(Path(folder) / "game.z8")
    with _generate_lock:
        game = maker(record["settings"], int(record["seed"]), path)
        opts = _options(int(record["seed"]), path)
        compiled = textworld.generator.compile_game(game, opts)
    return Path(compiled), game


def game_file(record: Mapping[str, Any]) -> Path:
    """The cached game for ``record``, generating it on first use and checking it against the record."""
    # The key covers everything that shapes the game, so a record regenerated with other settings never
    # picks up a stale cached file.
    key = hashlib.sha256(json.dumps([record["kind"], record["settings"], int(record["seed"])],
                                    sort_keys=True).encode()).hexdigest()[:10]
    final = cache_root() / f"{record['instance_id']}-{key}"
    z8 = final / "game.z8"
    if not z8.is_file():
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{record['instance_id']}.", dir=final.parent))
        try:
            generate(record, tmp)
            try:
                os.replace(tmp, final)  # atomic: a concurrent generator's copy is identical anyway
            except OSError:
                if not z8.is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    want = record.get("sha256", {}).get("game.z8")
    if want and sha256_of(z8) != want:
        raise ManifestMismatchError(
            f"TextWorld game {record['instance_id']} at {z8} differs from the one in tasks/textworld: a "
            "different textworld version or a modified generator made it. Install the pinned textworld, "
            f"delete {final} and reset again.")
    return z8
