"""The README is tested: every shell block runs, in order, on a fresh demo folder.

A block that needs what a test machine does not have is marked on the line just above
its fence with `<!-- readme-test: skip REASON -->`, REASON one of network, token, gpu,
setup (the set-up commands themselves, which `make test` has just run). Every other
block runs with bash -e in one working folder holding `out/demo` (as `make demo` leaves
it), offline, with the installed `imb`; a block that fails is a failing test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s+(\w+)\s*-->")
REASONS = {"network", "token", "gpu", "setup"}


def shell_blocks() -> list[tuple[int, str, str | None]]:
    """(line number, code, skip reason or None) for every ```bash / ```sh block."""
    lines = README.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = re.match(r"^```(bash|sh|shell)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start = i
        marker = next((SKIP.search(lines[j]) for j in range(max(0, i - 2), i) if SKIP.search(lines[j])), None)
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        blocks.append((start + 1, "\n".join(body), marker.group(1) if marker else None))
        i += 1
    return blocks


BLOCKS = shell_blocks()


def test_blocks_are_found_and_skips_say_why():
    assert len(BLOCKS) >= 6
    assert all(reason in REASONS for _, _, reason in BLOCKS if reason), [b for b in BLOCKS if b[2]]
    assert sum(1 for b in BLOCKS if b[2] is None) >= 5  # most of the README really runs


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """What `make demo` leaves: out/demo/{qa,mcqa,tiny-llama}."""
    work = tmp_path_factory.mktemp("readme")
    env = _env(work)
    result = subprocess.run([sys.executable, "-m", "imb_tools.cli", "demo", "--out", "out/demo", "--tiny-model"],
                            cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return work


def _env(work: Path) -> dict:
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               IMB_CACHE_DIR=str(work / ".imb-cache"), HF_DATASETS_CACHE=str(work / ".hf-datasets"),
               TOKENIZERS_PARALLELISM="false")
    return env


def test_readme_blocks_run_in_order_in_one_folder(workdir):
    """Every shell block not marked skip, in README order, in one folder, in this one test (so
    in one worker whatever pytest-xdist does: a later block may use what an earlier one wrote).
    All blocks run; the failures are reported together, each with its line."""
    ran, failures = [], []
    for line, code, reason in BLOCKS:
        if reason:
            continue
        # `. .venv/bin/activate` in a block means "use the installed imb": it already is.
        script = "\n".join(l for l in code.splitlines() if not re.match(r"^\s*(\.|source) \S*activate\b", l))
        started = time.monotonic()
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=workdir, env=_env(workdir),
                                capture_output=True, text=True, timeout=600)
        print(f"README.md:{line}: {time.monotonic() - started:.1f} s")  # shown with pytest -s
        ran.append(line)
        if result.returncode != 0:
            failures.append(f"README.md:{line} failed (exit {result.returncode}):\n{script}\n"
                            f"--- stderr ---\n{result.stderr[-3000:]}")
    assert ran == sorted(ran) and len(ran) == sum(1 for b in BLOCKS if not b[2])
    assert not failures, "\n\n".join(failures)
