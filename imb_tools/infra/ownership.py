"""Replace only what the project wrote; find and remove leftovers of killed runs.

A command that writes a folder drops a marker file in it (`write_marker`); before
replacing a folder it asks `check_replaceable`, which says yes only when the marker
is there with the expected fields and every file in the folder is one that command
writes. Anything else (a user's thesis.tex, a src/ tree, a raw file) makes it refuse.

Temporary work of one run lives in one folder named `<prefix><pid>-<random>` with a
`.imb-partial` marker; `remove_stale` deletes such folders whose process is gone,
never those of a run still alive, never a folder without the marker (except an
empty one: a run killed between mkdir and writing the marker).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from imb_tools.infra.errors import ImbError

PARTIAL_MARKER = ".imb-partial"


def write_marker(folder: str | os.PathLike, marker_name: str, fields: Mapping) -> Path:
    """Write `folder/marker_name` as JSON holding `fields` (e.g. dataset, builder version)."""
    path = Path(folder) / marker_name
    path.write_text(json.dumps(dict(fields), ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                    encoding="utf-8")
    return path


def read_marker(folder: str | os.PathLike, marker_name: str) -> dict | None:
    try:
        value = json.loads((Path(folder) / marker_name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def check_replaceable(folder: str | os.PathLike, marker_name: str, expected_files_glob: Iterable[str],
                      expected_fields: Mapping | None = None) -> bool:
    """May `folder` be replaced by a new output of the same command?

    False: the folder does not exist or is empty (nothing to replace). True: it holds
    `marker_name` (JSON) whose fields include `expected_fields`, and every file under
    it (hidden ones included, paths relative to the folder, '/'-separated) matches one
    of `expected_files_glob`. Otherwise raise a one-line ImbError saying why.
    """
    folder = Path(folder)
    if not folder.exists() and not folder.is_symlink():
        return False
    if folder.is_symlink() or not folder.is_dir():
        raise ImbError(f"{folder}: exists and is not a folder; choose a new output folder")
    files = _files(folder)
    if not files and not any(folder.iterdir()):
        return False
    marker = read_marker(folder, marker_name)
    if marker is None:
        raise ImbError(f"{folder}: folder exists and was not written by this command (no {marker_name}); "
                       f"choose an empty or new folder")
    for key, value in (expected_fields or {}).items():
        if marker.get(key) != value:
            raise ImbError(f"{folder}: {marker_name} says {key}={marker.get(key)!r}, not {value!r}; "
                           f"choose another output folder")
    _refuse_foreign(folder, files, [*expected_files_glob, marker_name])
    return True


def _refuse_foreign(folder: Path, files: list[str], patterns: list[str]) -> None:
    """One-line ImbError when a file in `folder` matches none of the command's patterns."""
    foreign = [f for f in files if not any(fnmatch.fnmatchcase(f, pat) for pat in patterns)]
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise ImbError(f"{folder}: holds files this command did not write ({shown}); "
                       f"move them or choose another output folder")


def _files(folder: Path) -> list[str]:
    """Every file under `folder` (hidden ones and links included), '/'-separated, sorted."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def make_run_dir(parent: str | os.PathLike, prefix: str) -> Path:
    """A fresh `parent/<prefix><pid>-<random>` folder marked as this run's temporary work."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))
    (path / PARTIAL_MARKER).write_text(json.dumps({"pid": os.getpid()}) + "\n", encoding="utf-8")
    return path


def stale_run_dirs(parent: str | os.PathLike, prefix: str, marker: str = PARTIAL_MARKER) -> list[Path]:
    """Folders `parent/<prefix><pid>-*` left by runs whose process is gone (holding `marker`, or empty)."""
    parent = Path(parent)
    if not parent.is_dir():
        return []
    pattern = re.compile(re.escape(prefix) + r"(\d+)-[^/]*$")
    stale = []
    for entry in parent.iterdir():
        match = pattern.match(entry.name)
        if not match or not entry.is_dir() or entry.is_symlink():
            continue
        if int(match.group(1)) == os.getpid() or pid_alive(int(match.group(1))):
            continue
        if (entry / marker).is_file() or not any(entry.iterdir()):
            stale.append(entry)
    return stale


def remove_stale(parent: str | os.PathLike, prefix: str) -> list[Path]:
    """Remove the leftovers of killed runs (see stale_run_dirs); return what was removed."""
    removed = []
    for entry in stale_run_dirs(parent, prefix):
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


# Temporary names of imb_tools.infra.atomic (a kill can leave them): `.NAME.XXXX.tmp`, `.NAME.XXXX/`.
ATOMIC_LEFTOVERS = (".*.tmp", ".*/*", ".*.old-*/*")


def claim_output_folder(folder: str | os.PathLike, marker_name: str, expected_files_glob: Iterable[str],
                        fields: Mapping, legacy_file: str | None = None) -> Path:
    """Make `folder` this command's output folder before any slow work, or refuse in one line.

    A new or empty folder, or one this command wrote before (its marker with the same
    `fields`, nothing but its own files), is claimed: created if needed, marker written.
    A folder written before markers existed is recognised by `legacy_file` plus nothing but
    the command's files. Anything else (a user's files, another command's folder, a file
    where the folder should be) is a one-line ImbError: nothing is overwritten.
    """
    folder = Path(folder)
    patterns = [*expected_files_glob, *ATOMIC_LEFTOVERS]
    try:
        check_replaceable(folder, marker_name, patterns, fields)
    except ImbError:
        if not (legacy_file and (folder / legacy_file).is_file() and read_marker(folder, marker_name) is None):
            raise
        _refuse_foreign(folder, _files(folder), patterns)
    folder.mkdir(parents=True, exist_ok=True)
    write_marker(folder, marker_name, {"written_by": "imb", **dict(fields)})
    return folder


def _resolved(path: str | os.PathLike) -> Path:
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before Python 3.13)
        raise ImbError(f"{path}: cannot resolve the path ({exc})") from None


# Folders that gather other commands' outputs (the demo folder: out/demo/eval, out/demo/rag...):
# a marker of these does not make the folder a thing that a file written inside would corrupt.
GATHERING_MARKERS = frozenset({".imb-demo.json"})


def marked_folder_above(target: Path) -> tuple[Path, str] | None:
    """The nearest folder above `target` that a command of this project wrote as a whole (a
    build, an index, a model, a run, a table: it holds an `.imb-*.json` marker), with its
    marker; None when there is none. A file written into such a folder would change what the
    folder is (a shard replaced by a JSON, a foreign file that makes a rebuild refuse)."""
    for folder in target.parents:
        markers = command_markers(folder)
        if markers:
            return folder, markers[0]
    return None


def command_markers(folder: Path) -> list[str]:
    """The markers in `folder` of commands that wrote it as a whole (`.imb-*.json`, gathering
    folders' markers left out), sorted; none for a folder that is not there or not readable."""
    try:
        return sorted(n for n in os.listdir(folder)
                      if n.startswith(".imb-") and n.endswith(".json") and n not in GATHERING_MARKERS)
    except OSError:
        return []


def refuse_outputs_on_inputs(inputs: Iterable[tuple[str, str | os.PathLike]],
                             outputs: Iterable[tuple[str, str | os.PathLike]]) -> None:
    """The one rule: no output may be an input, lie inside an input folder (a build, an
    index, a model), or lie above an input (a folder holding it, to be replaced or filled);
    no output may lie inside a folder a command of this project wrote as a whole (a build, an
    index, a run of any command, input or not: `marked_folder_above`); and no two outputs may
    be one path, or one lie inside the other (the second written would destroy the first).

    inputs, outputs: (what, path) pairs, `what` naming the option for the message; inputs
    that do not exist locally (a Hub id) are skipped. A one-line ImbError on the first clash.
    """
    existing = []
    for what, path in inputs:
        if path is None or not os.path.lexists(os.path.expanduser(str(path))):
            continue
        existing.append((what, path, _resolved(path)))
    written = []
    for out_what, out in outputs:
        if out is None:
            continue
        target = _resolved(out)
        for in_what, given, source in existing:
            if target == source:
                raise ImbError(f"{out_what} {out}: is the input {in_what} {given} itself; "
                               f"write the output somewhere else")
            if source in target.parents and source.is_dir():
                raise ImbError(f"{out_what} {out}: lies inside the input {in_what} {given}; "
                               f"write the output outside it")
            if target in source.parents:
                raise ImbError(f"{out_what} {out}: holds the input {in_what} {given}; "
                               f"write the output somewhere that holds no input")
        marked = marked_folder_above(target)
        if marked is not None:
            raise ImbError(f"{out_what} {out}: lies inside {marked[0]}, a folder imb wrote as a whole "
                           f"(it holds {marked[1]}); write the output outside it")
        for other_what, other, other_target in written:
            if target == other_target or other_target in target.parents or target in other_target.parents:
                raise ImbError(f"{out_what} {out} and {other_what} {other}: two outputs on one path "
                               f"(or one inside the other): the second would overwrite the first; "
                               f"give each its own")
        written.append((out_what, out, target))


def refuse_overwriting_input(in_path: str | os.PathLike, *out_paths: str | os.PathLike | None) -> None:
    """refuse_outputs_on_inputs for a library function with one input and the outputs it will
    write, its default paths resolved (the CLI checks the options at its door too,
    cli_options.check_io, but a default path is only known here)."""
    refuse_outputs_on_inputs([("--in", in_path)], [("output", out) for out in out_paths])
