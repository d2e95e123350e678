"""The one harness for fault tables: a command, what it must answer, what must survive.

A Fault lays down files, runs `imb ARGV` (in this process through `cli.main`, or in a child
for what could block or needs process limits), and checks, for every case alike:
- the exit code;
- an error is ONE line, `imb: error: ...` (warnings of old spellings may come before it),
  and never a traceback; `pattern` must match it (or stdout, for a success);
- the files given in `unchanged` hold the same bytes afterwards, `exists` still exist;
- `check(tmp, result)`, when given, for what is particular to the case.
`env` sets environment variables for the command (in this process through monkeypatch).
`{tmp}` and `{demo}` in ARGV and in file names are the test's folder and a built demo.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Fault:
    name: str
    argv: list[str]
    rc: int = 2
    pattern: str | None = None
    files: dict = field(default_factory=dict)  # relative path -> str or bytes
    setup: Callable | None = None  # setup(tmp) before the files are laid and the command runs
    unchanged: tuple = ()  # relative paths whose bytes must not change; "*" = every laid file
    exists: tuple = ()  # relative paths that must exist afterwards
    check: Callable | None = None  # check(tmp, result) after the common checks
    child: bool = False  # run in a child process (a FIFO, resource limits)
    timeout: float = 300
    preexec: Callable | None = None  # for a child: run in it before exec (e.g. resource limits)
    env: dict = field(default_factory=dict)  # environment variables set for the command ("{tmp}" filled)

    def __str__(self) -> str:
        return self.name


@dataclass
class Result:
    rc: int
    out: str
    err: str


def _fill(text: str, tmp: Path, demo: Path | None) -> str:
    return text.replace("{tmp}", str(tmp)).replace("{demo}", str(demo) if demo else "{demo}")


def run_fault(fault: Fault, tmp: Path, capfd=None, monkeypatch=None, demo: Path | None = None) -> Result:
    """Run one case and make the common checks; returns the result for the case's own.
    In this process (pytest's capfd and monkeypatch needed) unless `fault.child`."""
    snapshots = {}
    if fault.setup:
        fault.setup(tmp)
    for rel, content in fault.files.items():
        path = tmp / _fill(rel, tmp, demo)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    watched = [r for r in fault.unchanged if r != "*"] + (list(fault.files) if "*" in fault.unchanged else [])
    for rel in watched:
        path = tmp / _fill(rel, tmp, demo)
        snapshots[rel] = path.read_bytes() if path.is_file() else None
    argv = [_fill(a, tmp, demo) for a in fault.argv]
    extra_env = {k: _fill(v, tmp, demo) for k, v in fault.env.items()}
    if fault.child:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONSAFEPATH": "1", **extra_env}
        proc = subprocess.run([sys.executable, "-m", "imb_tools.cli", *argv], cwd=tmp, env=env,
                              capture_output=True, text=True, timeout=fault.timeout, preexec_fn=fault.preexec)
        result = Result(proc.returncode, proc.stdout, proc.stderr)
    else:
        from imb_tools.cli import main

        monkeypatch.chdir(tmp)
        for key, value in extra_env.items():
            monkeypatch.setenv(key, value)
        capfd.readouterr()
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse usage errors exit through parser.exit
            rc = exc.code if isinstance(exc.code, int) else 2
        captured = capfd.readouterr()
        result = Result(rc, captured.out, captured.err)
    assert result.rc == fault.rc, f"{fault.name}: exit {result.rc}, expected {fault.rc}\n{result.err[-3000:]}"
    assert "Traceback" not in result.err, result.err[-3000:]
    if result.rc == 2:
        lines = [l for l in result.err.strip().splitlines() if not l.startswith("imb: warning:")]
        assert len(lines) == 1 and lines[0].startswith("imb: error: "), result.err[-3000:]
        if fault.pattern:
            assert re.search(fault.pattern, lines[0]), lines[0]
    elif fault.pattern:
        assert re.search(fault.pattern, result.out + result.err), result.out + result.err
    for rel, before in snapshots.items():
        path = tmp / _fill(rel, tmp, demo)
        assert (path.read_bytes() if path.is_file() else None) == before, f"{rel} changed"
    for rel in fault.exists:
        assert (tmp / _fill(rel, tmp, demo)).exists(), f"{rel} is gone"
    if fault.check:
        fault.check(tmp, result)
    return result
