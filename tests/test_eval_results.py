"""Hub Eval Results for a model: `imb leaderboard push --model-repo` through the real CLI,
against a local fake of the Hub (create_commit with create_pr, the benchmark repo's card).
The runs are lm-eval-shaped results written by leaderboard_fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from imb_tools.infra.errors import ImbError

TEMPLATE = {"config": {"model": "hf", "batch_size": "1"}, "lm_eval_version": "0.4.13",
            "configs": {}, "versions": {}}
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture()
def runs(tmp_path):
    from leaderboard_fixtures import write_run

    out = tmp_path / "runs"
    write_run(out, TEMPLATE, "org/model-7B", 7e9, "2026-02-01T00-00-01", 0.8, 0.7, seed=1)
    write_run(out, TEMPLATE, "org/model-7B", 7e9, "2026-02-01T00-00-02", 0.7, 0.6, chat=True,
              n_shot=5, seed=2)
    return out


class FakeHub:
    def __init__(self, fingerprints: dict[str, str]):
        self.commits, self.fingerprints = [], fingerprints

    def install(self, monkeypatch, tmp_path):
        import huggingface_hub
        from types import SimpleNamespace

        monkeypatch.setenv("HF_TOKEN", "hf_fake_for_test")

        def download(repo_id, filename, repo_type=None, revision=None, **kwargs):
            assert filename == "README.md" and repo_type == "dataset" and revision == SHA
            path = tmp_path / "hub" / repo_id / filename
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"Build fingerprint: `{self.fingerprints[repo_id]}`\n", encoding="utf-8")
            return str(path)

        def create_commit(api, repo_id, operations, repo_type=None, create_pr=False, **kwargs):
            self.commits.append({"repo_id": repo_id, "repo_type": repo_type, "create_pr": create_pr,
                                 "files": {op.path_in_repo: op.path_or_fileobj.decode("utf-8")
                                           for op in operations}})
            return SimpleNamespace(pr_url=f"https://huggingface.co/{repo_id}/discussions/1")

        monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
        monkeypatch.setattr(huggingface_hub.HfApi, "create_commit", create_commit)
        monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info",
                            lambda api, repo_id, **kw: SimpleNamespace(sha=SHA))


def _args(runs, *extra):
    return ["leaderboard", "push", str(runs), "--model-repo", "org/model-7B",
            "--mcqa-repo", "org/imb-mcqa", "--qa-repo", "org/imb-qa", *extra]


def test_pull_request_with_eval_results_files(runs, tmp_path, monkeypatch, capsys):
    from imb_tools.cli import main
    from imb_tools.hub.eval_results import validate_eval_results

    hub = FakeHub({"org/imb-mcqa": "content-mcqa000000000000", "org/imb-qa": "content-qa00000000000000"})
    hub.install(monkeypatch, tmp_path)
    assert main(_args(runs)) == 0
    (commit,) = hub.commits
    assert commit["repo_id"] == "org/model-7B" and commit["repo_type"] == "model" and commit["create_pr"]
    # one file per task and variant
    assert sorted(commit["files"]) == [".eval_results/imb_mcqa.yaml", ".eval_results/imb_mcqa_chat_5shot.yaml",
                                       ".eval_results/imb_qa.yaml", ".eval_results/imb_qa_chat_5shot.yaml"]
    mcqa = yaml.safe_load(commit["files"][".eval_results/imb_mcqa.yaml"])
    validate_eval_results(mcqa, {"imb_mcqa"})
    (entry,) = mcqa
    assert entry["dataset"] == {"id": "org/imb-mcqa", "task_id": "imb_mcqa", "revision": SHA}
    assert 0.7 < entry["value"] < 0.9 and entry["date"].startswith("2026-")
    assert "0-shot" in entry["notes"] and "no chat template" in entry["notes"]
    assert "lm-evaluation-harness 0.4.13" in entry["notes"] and "LIMIT" not in entry["notes"]
    chat = yaml.safe_load(commit["files"][".eval_results/imb_qa_chat_5shot.yaml"])[0]
    assert chat["dataset"]["task_id"] == "imb_qa" and "5-shot" in chat["notes"] and "chat template" in chat["notes"]
    out = capsys.readouterr().out
    assert "discussions/1" in out and "hf_fake_for_test" not in out


def test_dry_run_prints_the_files_and_reaches_nothing(runs, tmp_path, monkeypatch, capsys):
    import huggingface_hub

    from imb_tools.cli import main

    def no_network(*a, **k):
        raise AssertionError("a dry run must not reach the Hub")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_commit", no_network)
    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", no_network)
    assert main(_args(runs, "--repo-id", "org/imb-board", "--dry-run", str(tmp_path / "dry"))) == 0
    out = capsys.readouterr().out
    assert "--- org/model-7B: .eval_results/imb_mcqa.yaml" in out and "task_id: imb_mcqa" in out
    written = yaml.safe_load((tmp_path / "dry" / "model" / ".eval_results" / "imb_mcqa.yaml").read_text())
    assert written[0]["source"]["url"] == "https://huggingface.co/datasets/org/imb-board"
    assert "revision" not in written[0]["dataset"]  # known only from the Hub


def test_sample_and_limit_runs_refused_unless_forced(tmp_path, monkeypatch, capsys):
    from leaderboard_fixtures import write_run

    from imb_tools.cli import main

    sample, limited = tmp_path / "sample", tmp_path / "limited"
    write_run(sample, TEMPLATE, "org/model-7B", 7e9, "2026-02-01T00-00-03", 0.8, 0.7, is_sample=True, seed=3)
    write_run(limited, TEMPLATE, "org/model-7B", 7e9, "2026-02-01T00-00-04", 0.8, 0.7, limit=10,
              n_mcqa=10, n_qa=10, seed=4)
    hub = FakeHub({"org/imb-mcqa": "content-mcqa000000000000", "org/imb-qa": "content-qa00000000000000"})
    hub.install(monkeypatch, tmp_path)
    assert main(_args(sample)) == 2
    assert "bundled sample" in capsys.readouterr().err
    assert main(_args(limited)) == 2
    assert "--allow-limited" in capsys.readouterr().err
    assert hub.commits == []
    assert main(_args(sample, "--allow-sample")) == 0 and main(_args(limited, "--allow-limited")) == 0
    sample_file = yaml.safe_load(hub.commits[0]["files"][".eval_results/imb_mcqa_sample.yaml"])
    assert "SAMPLE" in sample_file[0]["notes"]
    limit_file = yaml.safe_load(hub.commits[1]["files"][".eval_results/imb_mcqa_limit10.yaml"])
    assert "LIMIT 10" in limit_file[0]["notes"]


def test_a_benchmark_repo_holding_another_build_is_refused(runs, tmp_path, monkeypatch, capsys):
    from imb_tools.cli import main

    hub = FakeHub({"org/imb-mcqa": "content-ffffffffffffffff", "org/imb-qa": "content-qa00000000000000"})
    hub.install(monkeypatch, tmp_path)
    assert main(_args(runs)) == 2
    err = capsys.readouterr().err
    assert "does not hold the build the run was scored on" in err and hub.commits == []


def test_a_local_build_needs_its_published_repo(runs, capsys):
    from imb_tools.cli import main

    assert main(["leaderboard", "push", str(runs), "--model-repo", "org/model-7B",
                 "--dry-run", "unused"]) == 2
    assert "--mcqa-repo ORG/NAME" in capsys.readouterr().err


def test_eval_results_validator_refuses_bad_files():
    from imb_tools.hub.eval_results import validate_eval_results

    good = [{"dataset": {"id": "org/imb-mcqa", "task_id": "imb_mcqa"}, "value": 0.5}]
    validate_eval_results(good, {"imb_mcqa"})
    for bad, where in [
        ([{"dataset": {"id": "org/imb-mcqa"}, "value": 0.5}], "task_id"),
        ([{"dataset": {"id": "org/imb-mcqa", "task_id": "imb_mcqa"}, "value": "high"}], "value"),
        ([{"dataset": {"id": "org/imb-mcqa", "task_id": "imb_mcqa"}, "value": 0.5,
           "source": {"name": "no url"}}], "url"),
        ([{"dataset": {"id": "org/imb-mcqa", "task_id": "imb_mcqa"}, "value": 0.5, "date": "yesterday"}], "date"),
        ([{"dataset": {"id": "org/imb-mcqa", "task_id": "other"}, "value": 0.5}], "not a task"),
        ([], "top level"),
    ]:
        with pytest.raises(ImbError, match=where):
            validate_eval_results(bad, {"imb_mcqa"})
