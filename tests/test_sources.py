"""One way to the real data: the gated raw file fetched (from a local fake of the Hub
download) and built once into the cache, reused while the revision and builder are unchanged."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from imb_tools.infra.errors import ImbError

REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """hf_hub_download serving the bundled sample as the gated repo's raw files, from a
    snapshot folder named by a commit, as huggingface_hub's cache lays them out."""
    import huggingface_hub

    from imb_tools.sample_data import MCQA_SAMPLE, QA_SAMPLE

    snapshot = tmp_path / "hub" / "datasets--praiselab-picuslab--IMB" / "snapshots" / REVISION
    snapshot.mkdir(parents=True)
    shutil.copy(MCQA_SAMPLE, snapshot / "IMB-MCQA.json")
    shutil.copy(QA_SAMPLE, snapshot / "IMB-QA.json")
    calls = []

    def download(repo_id, filename, repo_type=None, **kwargs):
        calls.append((repo_id, filename, repo_type))
        return str(snapshot / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    monkeypatch.setenv("IMB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("IMB_MCQA_REPO", raising=False)
    monkeypatch.delenv("IMB_QA_REPO", raising=False)
    monkeypatch.delenv("IMB_DATA_DIR", raising=False)
    return calls


def test_fetch_and_build_once_into_the_cache(fake_hub, tmp_path, monkeypatch):
    from imb_tools.data import builder
    from imb_tools.data.io import load_built
    from imb_tools.data import sources
    from imb_tools.evaluation.task_data import load_for_tasks, resolve_source

    builds = []
    real_build = builder.build_to_folder
    monkeypatch.setattr(builder, "build_to_folder", lambda *a, **k: builds.append(a) or real_build(*a, **k))
    first = sources.cached_build("mcqa", progress=False)
    assert fake_hub == [("praiselab-picuslab/IMB", "IMB-MCQA.json", "dataset")]
    assert first.parent == tmp_path / "cache" / "data" and REVISION[:12] in first.name
    assert (first / ".complete").is_file() and len(load_built(first, split="test")) > 0
    again = sources.cached_build("mcqa", progress=False)
    assert again == first and len(builds) == 1  # reused, not rebuilt
    # the tasks with no data folder read the same build
    assert resolve_source("mcqa", {}) == str(first)
    assert len(load_for_tasks("mcqa", {})["test"]) == len(load_built(first, split="test"))
    info = sources.describe(first)
    assert info["data_source"] == "praiselab-picuslab/IMB" and info["data_revision"] == REVISION
    # a published built repo given by environment takes precedence
    monkeypatch.setenv("IMB_MCQA_REPO", "someone/imb-mcqa")
    assert resolve_source("mcqa", {}) == "someone/imb-mcqa"
    assert sources.data_source("mcqa") == "someone/imb-mcqa"
    assert sources.data_source("mcqa", "elsewhere/x") == "elsewhere/x"


def test_a_new_builder_means_a_new_build(fake_hub, monkeypatch):
    from imb_tools.data import sources

    first = sources.cached_build("mcqa", progress=False)
    monkeypatch.setattr(sources, "builder_version", lambda: "changed000")
    second = sources.cached_build("mcqa", progress=False)
    assert second != first and second.name.endswith("-bchanged000")


def test_no_access_is_one_line_saying_how_to_get_it(tmp_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub.errors import GatedRepoError

    from imb_tools.data import sources

    def gated(*args, **kwargs):
        import httpx

        response = httpx.Response(403, request=httpx.Request("GET", "https://huggingface.co/x"))
        raise GatedRepoError("403 Client Error: access to this repo is restricted", response=response)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", gated)
    monkeypatch.setenv("IMB_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ImbError) as err:
        sources.cached_build("qa", progress=False)
    message = str(err.value)
    assert "\n" not in message and "accept its terms" in message and "hf auth login" in message
    assert not (tmp_path / "cache" / "data").exists() or not any((tmp_path / "cache" / "data").iterdir())


def test_load_with_no_argument_fetches_builds_once_and_is_strict_about_kind(fake_hub, tmp_path, monkeypatch):
    """imb_qa.load() / imb_mcqa.load(): the gated files built into the cache; the other dataset's
    folder is refused; a missing local folder never reaches the Hub."""
    import imb_mcqa
    import imb_qa
    from imb_tools.data import builder

    builds = []
    real_build = builder.build_to_folder
    monkeypatch.setattr(builder, "build_to_folder",
                        lambda *a, **k: builds.append(a[0].KIND.name.removeprefix("imb-")) or real_build(*a, **k))
    qa = imb_qa.load()
    assert "train" in qa and "macro_category" in qa["train"].column_names
    mc = imb_mcqa.load(split="test")
    assert "options" in mc.column_names and len(mc) > 0
    assert [f for _, f, _ in fake_hub] == ["IMB-QA.json", "IMB-MCQA.json"] and builds == ["qa", "mcqa"]
    imb_qa.load()  # reused: huggingface_hub's cached file, no new build
    assert builds == ["qa", "mcqa"]
    built_qa = next((tmp_path / "cache" / "data").glob("qa-*"))
    built_mcqa = next((tmp_path / "cache" / "data").glob("mcqa-*"))
    with pytest.raises(ImbError, match=r"holds IMB-QA, not IMB-MCQA.*imb_qa\.load"):
        imb_mcqa.load(built_qa)
    with pytest.raises(ImbError, match=r"holds IMB-MCQA, not IMB-QA"):
        imb_qa.load(built_mcqa)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    with pytest.raises(ImbError, match=r"out/nope: no such built dataset folder \(a local path"):
        imb_qa.load("out/nope")


def test_offline_errors_name_the_way_out_in_the_callers_terms(tmp_path, monkeypatch, capsys):
    """No network and nothing cached: a Python caller is told what to call (imb_qa.build /
    imb_qa.load / ImbQa(raw_path=...)), never a CLI option; `imb build` and `imb eval` name
    their options, with a command that runs (`imb build qa --raw FILE --out DIR`)."""
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    import imb_mcqa
    import imb_qa
    from imb_tools.cli import main
    from imb_tools.data import sources

    def offline(*args, **kwargs):
        raise LocalEntryNotFoundError("offline and not in the cache")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    monkeypatch.setenv("IMB_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("IMB_QA_REPO", "IMB_MCQA_REPO", "IMB_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    python_calls = {
        "imb_qa.build('path/to/IMB-QA.json', 'out/qa') and load the folder with imb_qa.load('out/qa')": imb_qa.load,
        "imb_mcqa.build('path/to/IMB-MCQA.json', 'out/mcqa')": imb_mcqa.load,
        f"imb_qa.build('path/to/IMB-QA.json', {str(tmp_path / 'qa')!r})":
            lambda: imb_qa.build(None, tmp_path / "qa"),
        "ImbQa(raw_path='path/to/IMB-QA.json')": lambda: imb_qa.ImbQa().download_and_prepare(),
    }
    for wanted, call in python_calls.items():
        with pytest.raises(ImbError) as err:
            call()
        message = str(err.value)
        assert wanted in message and "\n" not in message, message
        assert "--" not in message and "imb build" not in message and "IMB_DATA_DIR" not in message, message
    with pytest.raises(ImbError, match=r"imb build mcqa --raw FILE --out DIR.*--data DIR or IMB_DATA_DIR"):
        sources.cached_build("mcqa", progress=False)  # what `imb eval` and the tasks fall back to
    capsys.readouterr()
    assert main(["build", "qa", "--out", str(tmp_path / "cli-qa")]) == 2
    assert "pass a local file with --raw PATH" in capsys.readouterr().err
