"""imb publish against a local fake of the Hub: stale shards are deleted in the same commit,
and a build of the bundled sample is refused unless --allow-sample."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from imb_tools.infra.errors import ImbError


class _FakeRepo:
    """upload_folder as the Hub applies it: delete_patterns remove matching repo files that
    the upload does not re-add, then the folder's files are written."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir()
        self.calls = []

    def upload_folder(self, api, folder_path, repo_id, repo_type, commit_message,
                      delete_patterns=None, **kwargs):
        from huggingface_hub.utils import filter_repo_objects

        self.calls.append(delete_patterns)
        existing = [str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file()]
        for name in filter_repo_objects(existing, allow_patterns=delete_patterns or []):
            (self.root / name).unlink()
        shutil.copytree(folder_path, self.root, dirs_exist_ok=True)
        return "commit"

    def files(self, under: str = "data") -> list[str]:
        return sorted(p.name for p in (self.root / under).glob("*"))


def _resharded(built: Path, out: Path, shards: int) -> Path:
    """A copy of a built folder with each split's rows cut into `shards` Parquet files."""
    import pyarrow.parquet as pq

    from imb_tools.data.built import MARKER, content_fingerprint
    from imb_tools.data.io import built_split_files

    shutil.copytree(built, out)
    for split, files in built_split_files(out).items():
        table = pq.read_table(files)
        for f in files:
            Path(f).unlink()
        step = -(-table.num_rows // shards)
        for i in range(shards):
            pq.write_table(table.slice(i * step, step),
                           out / "data" / f"{split}-{i:05d}-of-{shards:05d}.parquet")
    # a build written with that many shards records their fingerprint (publish checks it)
    marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
    (out / MARKER).write_text(json.dumps({**marker, "fingerprint": content_fingerprint(out)}), encoding="utf-8")
    return out


def test_republish_with_fewer_shards_leaves_no_stale_file(sample_qa_raw, tmp_path, monkeypatch):
    import datasets
    import huggingface_hub

    from imb_tools.data.io import built_split_files
    from imb_tools.hub.publish import publish

    repo = _FakeRepo(tmp_path / "repo")
    monkeypatch.setenv("HF_TOKEN", "hf_fake_for_test")
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda *a, **k: None)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder",
                        lambda api, **kw: repo.upload_folder(api, **kw))
    from imb_tools.data.access import build

    build("qa", str(sample_qa_raw), tmp_path / "built", {"test": 0.3, "validation": 0.1}, progress=False)
    many = _resharded(tmp_path / "built", tmp_path / "many", 3)
    few = _resharded(tmp_path / "built", tmp_path / "few", 2)
    assert sum(map(len, built_split_files(many).values())) > sum(map(len, built_split_files(few).values()))

    with pytest.raises(ImbError, match="bundled sample.*--allow-sample"):
        publish(many, "org/imb-qa")
    assert repo.calls == []
    publish(many, "org/imb-qa", allow_sample=True)
    publish(few, "org/imb-qa", allow_sample=True)
    assert repo.files() == sorted(p.name for ps in built_split_files(few).values() for p in map(Path, ps))
    loaded = datasets.load_dataset(str(repo.root), cache_dir=str(tmp_path / "cache"))
    expected = datasets.load_dataset(str(few), cache_dir=str(tmp_path / "cache2"))
    assert {k: len(v) for k, v in loaded.items()} == {k: len(v) for k, v in expected.items()}


# --- eval.yaml, the allow-list, dry run = push without the network ---------------------------

def test_eval_yaml_validator_refuses_what_the_hub_refuses():
    from imb_tools.hub.eval_results import eval_yaml, validate_eval_yaml

    good = eval_yaml("imb-mcqa", "content-0123456789abcdef")
    validate_eval_yaml(good)
    assert good["evaluation_framework"] == "inspect-ai"
    assert good["tasks"] == [{"id": "imb_mcqa", "config": "default", "split": "test"}]
    bad_cases = [
        ({**good, "evaluation_framework": "lm-evaluation-harness"}, "evaluation_framework"),
        ({k: v for k, v in good.items() if k != "description"}, "description"),
        ({**good, "tasks": []}, "tasks"),
        ({**good, "tasks": [{"id": "imb_mcqa", "config": "default"}]}, "split"),
        ({**good, "tasks": [good["tasks"][0], good["tasks"][0]]}, "repeat"),
        ({**good, "name": ""}, "name"),
    ]
    for document, where in bad_cases:
        with pytest.raises(ImbError, match=where):
            validate_eval_yaml(document)


def test_dry_run_is_the_push_without_the_network(built_qa, tmp_path, monkeypatch):
    """The same checks in the same order: the sample refusal comes before any staging."""
    import yaml

    from imb_tools.hub.eval_results import validate_eval_yaml
    from imb_tools.hub.publish import publish

    staged = tmp_path / "staged"
    with pytest.raises(ImbError, match="bundled sample.*--allow-sample"):
        publish(built_qa, "org/imb-qa", dry_run=staged)
    assert not staged.exists()  # refused before anything was staged
    with pytest.raises(ImbError, match="ORG/NAME"):
        publish(built_qa, "not-a-repo", dry_run=staged, allow_sample=True)
    files = publish(built_qa, "org/imb-qa", dry_run=staged, allow_sample=True)
    # exactly the allow-list: shards, card, report, eval.yaml
    assert set(files) == {"README.md", "report.json", "eval.yaml"} | {
        f"data/{Path(p).name}" for p in (built_qa / "data").glob("*.parquet")}
    document = yaml.safe_load((staged / "eval.yaml").read_text(encoding="utf-8"))
    validate_eval_yaml(document)
    assert [t["id"] for t in document["tasks"]] == ["imb_qa", "imb_qa_rag"]
    card = (staged / "README.md").read_text(encoding="utf-8")
    assert "rights holder" in card and "CC BY-NC-ND 4.0" in card and "license: cc-by-nc-nd-4.0" in card
    from imb_tools.data.built import read_build

    assert read_build(built_qa).fingerprint in card


def test_a_column_outside_the_features_is_refused(built_mcqa, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from imb_tools.hub.publish import publish

    copy = tmp_path / "mcqa"
    shutil.copytree(built_mcqa, copy)
    shard = sorted((copy / "data").glob("test-*.parquet"))[0]
    table = pq.read_table(shard)
    pq.write_table(table.append_column("notes", pa.array(["x"] * table.num_rows)), shard)
    with pytest.raises(ImbError, match="not the imb-mcqa features; not features: notes"):
        publish(copy, "org/imb-mcqa", dry_run=tmp_path / "staged", allow_sample=True)
    pq.write_table(table.append_column("autore_risposta", pa.array(["x"] * table.num_rows)), shard)
    with pytest.raises(ImbError, match="must never be released: autore_risposta"):
        publish(copy, "org/imb-mcqa", dry_run=tmp_path / "staged2", allow_sample=True)
    pq.write_table(table.drop_columns(["percentage_correct"]), shard)
    with pytest.raises(ImbError, match="missing: percentage_correct"):
        publish(copy, "org/imb-mcqa", dry_run=tmp_path / "staged3", allow_sample=True)


@pytest.mark.parametrize("env, message", [
    ({"HF_HUB_OFFLINE": "1"}, "the Hub is not reachable (HF_HUB_OFFLINE is set)"),
    ({"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"}, "cannot reach the Hub"),
])
def test_publish_without_network_is_one_line(built_qa, env, message):
    import os
    import subprocess
    import sys

    full = dict(os.environ, HF_TOKEN="hf_fake_for_test", **env)
    proc = subprocess.run([sys.executable, "-m", "imb_tools.cli", "publish", "--data", str(built_qa),
                           "--repo-id", "org/imb-qa", "--allow-sample"],
                          capture_output=True, text=True, env=full, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("imb: error: upload to org/imb-qa failed") and message in proc.stderr
    assert "hf_fake_for_test" not in proc.stderr + proc.stdout


def test_published_files_are_the_allow_list(sample_qa_raw, tmp_path, monkeypatch):
    import huggingface_hub

    from imb_tools.data.access import build
    from imb_tools.hub.publish import publish

    repo = _FakeRepo(tmp_path / "repo")
    monkeypatch.setenv("HF_TOKEN", "hf_fake_for_test")
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda *a, **k: None)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder",
                        lambda api, **kw: repo.upload_folder(api, **kw))
    build("qa", str(sample_qa_raw), tmp_path / "built", {"test": 0.3, "validation": 0.1}, progress=False)
    publish(tmp_path / "built", "org/imb-qa", allow_sample=True)
    uploaded = sorted(str(p.relative_to(repo.root)) for p in repo.root.rglob("*") if p.is_file())
    assert [f for f in uploaded if not f.startswith("data/")] == ["README.md", "eval.yaml", "report.json"]
    assert all(f.endswith(".parquet") for f in uploaded if f.startswith("data/"))
    assert "quarantine.jsonl" not in uploaded
