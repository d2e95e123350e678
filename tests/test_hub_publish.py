"""imb publish against a local fake of the Hub: stale shards are deleted in the same commit,
and a build of the bundled sample is refused unless --allow-sample."""

from __future__ import annotations

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
    return out


def test_republish_with_fewer_shards_leaves_no_stale_file(sample_qa_raw, tmp_path, monkeypatch):
    import datasets
    import huggingface_hub

    from imb_tools.data.io import built_split_files
    from imb_tools.hub.publish import publish

    repo = _FakeRepo(tmp_path / "repo")
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda *a, **k: None)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder",
                        lambda api, **kw: repo.upload_folder(api, **kw))
    from imb_tools.data.access import build

    build("qa", str(sample_qa_raw), tmp_path / "built", progress=False)
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
