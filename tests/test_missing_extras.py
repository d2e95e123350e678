"""Every command whose optional dependency is missing says so in one line, naming the extra
and an install command that works from where imb was installed (never a traceback)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# A meta-path finder that makes the named top-level modules look uninstalled.
HIDE = """
import sys
class _Hide:
    def __init__(self, names): self.names = set(names)
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError("No module named " + repr(name), name=name)
        return None
sys.meta_path.insert(0, _Hide(HIDDEN))
from imb_tools.cli import main
sys.exit(main(ARGV))
"""


def run_hidden(hidden: list[str], argv: list[str], cwd):
    code = HIDE.replace("HIDDEN", repr(hidden)).replace("ARGV", repr([str(a) for a in argv]))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("extras") / "t.jsonl"
    rows = [{"testo_domanda": f"Domanda numero {i} sul mal di testa che non passa",
             "testo_risposta": f"Risposta {i} del dottor Rossi", "categoria": "Neurologia"} for i in range(4)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


CASES = [
    ("matplotlib", "preprocess", lambda t, d, o: ["difficulty", "--in", t, "--report-dir", o]),
    ("presidio_analyzer", "preprocess",
     lambda t, d, o: ["anonymize", "--in", t, "--column", "testo_risposta", "--out", o / "a.jsonl"]),
    ("faiss", "rag", lambda t, d, o: ["rag", "index", "--data", d / "qa", "--out", o / "idx", "--size", "10"]),
    ("lm_eval", "eval", lambda t, d, o: ["eval", "--model", "hf", "--model-args", "pretrained=x",
                                         "--tasks", "imb_mcqa", "--data-dir", d, "--output", o / "ev"]),
    ("peft", "finetune", lambda t, d, o: ["finetune", "--model", "x", "--data", d / "qa", "--out", o / "ft"]),
]


@pytest.mark.parametrize("module,extra,argv", CASES, ids=[c[0] for c in CASES])
def test_missing_dependency_is_one_line(module, extra, argv, table, demo_dir, tmp_path):
    result = run_hidden([module], argv(table, demo_dir, tmp_path), cwd=tmp_path)
    lines = [line for line in result.stderr.splitlines() if line.strip() and "warning" not in line.lower()
             and not line.startswith(("building", "\r"))]
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert lines[-1].startswith("imb: error: ") and f"'{module}'" in lines[-1]
    assert f"[{extra}]'" in lines[-1] and "pip install '" in lines[-1]


def test_hint_names_the_local_checkout_when_installed_from_one():
    from importlib import metadata

    from imb_tools.infra.errors import install_hint

    direct = json.loads(metadata.distribution("imb-toolkit").read_text("direct_url.json") or "{}")
    hint = install_hint("eval")
    if direct.get("url", "").startswith("file://"):
        assert "imb-toolkit[" not in hint and hint.endswith("[eval]'")
    else:
        assert hint == "pip install 'imb-toolkit[eval]'"
