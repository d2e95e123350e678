"""Local-looking paths never reach the Hub; offline Hub ids fail in one line, at once."""

from __future__ import annotations

import time

import pytest

from imb_tools.infra.locate import check_reference, looks_local
from imb_tools.infra.errors import ImbError


def test_what_looks_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    assert looks_local("out/nope") and looks_local("./x") and looks_local("/abs/x") and looks_local("a/b/c")
    assert looks_local("~/data") and looks_local(tmp_path / "anything")
    assert not looks_local("org/name")  # no local folder 'org': a Hub id
    assert not looks_local("bert-base-multilingual-cased")


def test_missing_local_folder_is_one_line_and_instant(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.monotonic()
    with pytest.raises(ImbError, match=r"out/nope: no such built dataset folder \(a local path"):
        check_reference("out/nope", "built dataset folder", "--data", "dataset")
    assert time.monotonic() - start < 1.0


def test_offline_hub_id_not_cached_fails_at_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ImbError, match="not in the local Hugging Face cache.*--model"):
        check_reference("some-org/some-model", "model", "--model")


def test_existing_local_folder_passes(tmp_path):
    assert check_reference(tmp_path, "model", "--model") == str(tmp_path)
