"""TextWorld games made locally with TextWorld's own generator, from a seed, and cached on disk.

A game is defined by its record in ``tasks/textworld/v0`` (kind, settings, seed) plus the pinned
``textworld`` version. The records carry the sha256 of ``game.z8`` and ``game.json``, and a regenerated game
that differs is refused instead of silently played. Games are not committed (a few hundred KB each): the
first reset of an instance generates it (~3 s) into ``$AEM_TEXTWORLD_CACHE`` or the user cache
(``aem_envs.paths.cache_dir``) ``textworld/<textworld version>/``.

TextWorld 1.7.0 makes the same game from the same seed, but three details of its output depend on when and
where it ran, so ``generate`` normalises them (``normalise_game``) and the files hash the same on any day,
machine and ``PYTHONHASHSEED``:

* the story file's header serial (bytes 0x12-0x17) is Inform's compile date (``YYMMDD``); it becomes
  ``SERIAL``. The Z-machine checksum covers the bytes from 0x40 on, not the header, so the file stays valid
  (the game's own ``verify`` says so); TextWorld's banner never prints the serial;
* ``game.json``'s ``grammar.names_to_exclude`` is a Python set written as a list (the coin collector's), in
  an order that follows the string hash seed; it is sorted;
* ``game.json``'s ``KB.text_grammars_path`` is the absolute path of the installed ``textworld`` package;
  it becomes relative to site-packages (``textworld/...``). Playing a game never reads it.

``tests/aem_envs/upstream/test_textworld.py`` generates a game under a clock shifted with ``faketime``.
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
from aem_envs.registry import Registry

# kind -> function(settings, seed, path) -> Game. A registry, so a new kind is one decorated function.
GAME_MAKERS: Registry[Callable[[Mapping[str, Any], int, str], Any]] = Registry("TextWorld game kind")
_generate_lock = threading.Lock()  # TextWorld's generator keeps module-level state; one game at a time
SERIAL = b"000000"  # the story file serial every generated game gets, instead of its compile date
_SERIAL_SLICE = slice(0x12, 0x18)
# Part of the cache key: bump it when generation changes the files, so stale cached games are not reused.
GAME_FORMAT = 2
HASHED_FILES = ("game.z8", "game.json")


game_maker = GAME_MAKERS.register


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


def _portable_path(path: str) -> str:
    """``path`` relative to the folder ``textworld`` is installed in, when it lies inside that package."""
    import textworld

    site = Path(textworld.__file__).resolve().parent.parent
    try:
        return Path(path).resolve().relative_to(site).as_posix()
    except ValueError:
        return path


def normalise_game(z8: Path) -> None:
    """Rewrite the date, hash-seed and install-path dependent parts of a compiled game (module docstring)."""
    data = bytearray(Path(z8).read_bytes())
    data[_SERIAL_SLICE] = SERIAL
    Path(z8).write_bytes(bytes(data))
    game_json = Path(z8).with_suffix(".json")
    game = json.loads(game_json.read_text(encoding="utf-8"))
    grammar = game.get("grammar")
    if isinstance(grammar, dict) and isinstance(grammar.get("names_to_exclude"), list):
        grammar["names_to_exclude"] = sorted(grammar["names_to_exclude"], key=lambda n: (n is None, str(n)))
    kb = game.get("KB")
    if isinstance(kb, dict) and isinstance(kb.get("text_grammars_path"), str):
        kb["text_grammars_path"] = _portable_path(kb["text_grammars_path"])
    game_json.write_text(json.dumps(game), encoding="utf-8")  # TextWorld's own format: json.dump defaults


def generate(record: Mapping[str, Any], folder: Path) -> tuple[Path, Any]:
    """Generate and compile the record's game into ``folder/game.z8`` (normalised); returns (path, Game)."""
    import textworld

    maker = GAME_MAKERS.get(record["kind"])  # unknown kinds: ValueError listing the known ones
    path = str(Path(folder) / "game.z8")
    with _generate_lock:
        game = maker(record["settings"], int(record["seed"]), path)
        opts = _options(int(record["seed"]), path)
        compiled = Path(textworld.generator.compile_game(game, opts))
    normalise_game(compiled)
    return compiled, game


def game_file(record: Mapping[str, Any]) -> Path:
    """The cached game for ``record``, generating it on first use and checking it against the record."""
    # The key covers everything that shapes the game, so a record regenerated with other settings never
    # picks up a stale cached file.
    key = hashlib.sha256(json.dumps([record["kind"], record["settings"], int(record["seed"]), GAME_FORMAT],
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
    recorded = record.get("sha256", {})
    bad = [name for name in HASHED_FILES if recorded.get(name)
           and not ((final / name).is_file() and sha256_of(final / name) == recorded[name])]
    if bad:
        raise ManifestMismatchError(
            f"TextWorld game {record['instance_id']} at {final} ({', '.join(bad)}) differs from the one in "
            "tasks/textworld: a different textworld version or a modified generator made it. Install the "
            f"pinned textworld, delete {final} and reset again.")
    return z8
