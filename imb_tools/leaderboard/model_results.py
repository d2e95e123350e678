"""A model's IMB scores as Hub Eval Results: `.eval_results/<task>.yaml` in the model repo,
opened as a pull request (see imb_tools.hub.eval_results for the format).

One file per task and variant (chat template, few-shot, limit, sample), each holding the
task's headline score (IMB-MCQA accuracy, IMB-QA BERTScore precision) of the latest run of
that variant. `dataset.id` is the published benchmark repo (`--mcqa-repo`, `--qa-repo`, or
the run's data source when it was a Hub id), `dataset.revision` the repo's commit, resolved
at push time and only when the repo's card names the build fingerprint the run was scored
on. Runs on the bundled sample and `--limit` runs are refused unless asked, and then say so
in `notes`.
"""

from __future__ import annotations

import re
from pathlib import Path

from imb_tools.infra.errors import ImbError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def kind_of(benchmark: str) -> str:
    return "mcqa" if benchmark.startswith("imb_mcqa") else "qa"


def _hub_id(value) -> str | None:
    text = "" if value is None else str(value)
    return text if _HUB_ID.match(text) and not Path(text).exists() else None


def _present(value) -> bool:
    try:
        return value is not None and not bool(value != value)
    except (TypeError, ValueError):
        return False


def select_runs(table, model_repo: str):
    """The headline rows of `model_repo`'s runs (the table's only model when it was a local path)."""
    from imb_tools.leaderboard.ranking import HEADLINE

    top = table[(table["task"] == table["benchmark"]) & (table["level"] != "category")
                & (table["filter"] == "none")]
    top = top[[HEADLINE.get(b) == m for b, m in zip(top["benchmark"], top["metric"])]]
    if not len(top):
        raise ImbError("no IMB headline score (imb_mcqa acc, imb_qa bertscore_precision) in "
                       "these results")
    mine = top[top["model"] == model_repo]
    models = sorted(set(top["model"]))
    if not len(mine):
        if len(models) == 1 and _hub_id(models[0]) is None:
            mine = top  # a local path scored as this Hub model
        else:
            raise ImbError(f"--model-repo {model_repo}: no run of that model in these results "
                           f"(models: {', '.join(models)})")
    return mine


def entries(table, model_repo: str, dataset_repos: dict[str, str | None],
            source_url: str | None = None, allow_sample: bool = False,
            allow_limited: bool = False) -> dict[str, dict]:
    """path in the model repo -> {"entries": [...], "dataset": id, "fingerprint": ...}."""
    from imb_tools.hub.eval_results import DATASET_TASKS, file_name, validate_eval_results

    from imb_tools.leaderboard.space_app import unproven

    rows = select_runs(table, model_repo)
    sample = unproven(rows)
    if sample.any() and not allow_sample:
        raise ImbError(f"{rows.loc[sample, 'run_key'].nunique()} task runs were scored on the "
                       "bundled sample or name no data, not on IMB; refusing to push them to a model repo "
                       "(--allow-sample to push anyway, marked in notes)")
    limited = rows["limit"].notna()
    if limited.any() and not allow_limited:
        raise ImbError(f"{rows.loc[limited, 'run_key'].nunique()} task runs used --limit (a "
                       "part of the test split); refusing to push them to a model repo "
                       "(--allow-limited to push anyway, marked in notes)")
    rows = rows.sort_values("date", kind="stable", na_position="first")
    files: dict[str, dict] = {}
    for row, row_unproven in zip(rows.to_dict("records"), unproven(rows).tolist()):
        kind = kind_of(row["benchmark"])
        dataset = dataset_repos.get(kind) or _hub_id(row["data_source"])
        if dataset is None:
            raise ImbError(f"{row['benchmark']} was scored on a local build ({row['data_source']}): "
                           f"name its published repo with --{kind}-repo ORG/NAME")
        if row["benchmark"] not in DATASET_TASKS[f"imb-{kind}"]:
            continue  # a variant task (prompts, cloze) that is not a task of the benchmark
        path = file_name(row["benchmark"], bool(row["chat_template"]), row["n_shot"],
                         row["limit"] if _present(row["limit"]) else None, row_unproven)
        entry = {"dataset": {"id": dataset, "task_id": row["benchmark"]},
                 "value": round(float(row["value"]), 6)}
        date = str(row["date"]) if _present(row["date"]) else None
        if date and re.match(r"^\d{4}-\d{2}-\d{2}", date):
            entry["date"] = date
        if source_url:
            entry["source"] = {"url": source_url, "name": "IMB leaderboard results"}
        entry["notes"] = _notes(row)
        files[path] = {"entries": [entry], "dataset": dataset,
                       "fingerprint": row["data_revision"] if _present(row["data_revision"]) else None}
    for path, item in files.items():
        task = item["entries"][0]["dataset"]["task_id"]
        validate_eval_results(item["entries"], set(DATASET_TASKS[f"imb-{kind_of(task)}"]), what=path)
    return dict(sorted(files.items()))


def _notes(row) -> str:
    bits = [f"lm-evaluation-harness {row['lm_eval_version'] or '?'}", f"{row['benchmark']} {row['metric']}",
            f"{int(row['n_shot']) if _present(row['n_shot']) else 0}-shot",
            "chat template" if row["chat_template"] else "no chat template"]
    if _present(row["data_revision"]):
        bits.append(f"IMB build {row['data_revision']}")
    if _present(row["limit"]):
        bits.append(f"LIMIT {float(row['limit']):g}: part of the test split, not comparable")
    if not _present(row["is_sample"]):
        bits.append("DATA UNKNOWN: the run recorded no data source")
    elif row["is_sample"]:
        bits.append("SAMPLE: the toolkit's bundled sample, not IMB data")
    return "; ".join(bits)


def render(files: dict[str, dict]) -> dict[str, str]:
    from imb_tools.hub.eval_results import dump_yaml

    return {path: dump_yaml(item["entries"]) for path, item in files.items()}


def _revisions(api, files: dict[str, dict]) -> None:
    """Set each entry's dataset.revision to the benchmark repo's head commit, after checking
    that its card names the build the run was scored on."""
    from huggingface_hub import hf_hub_download

    from imb_tools.hub.publish import hub_error, network_errors

    heads: dict[str, tuple[str, str]] = {}
    for item in files.values():
        dataset = item["dataset"]
        if dataset not in heads:
            try:
                sha = api.dataset_info(dataset).sha
                card = Path(hf_hub_download(dataset, "README.md", repo_type="dataset",
                                            revision=sha)).read_text(encoding="utf-8")
            except network_errors() as exc:
                raise hub_error(exc, f"cannot read the benchmark {dataset}") from None
            heads[dataset] = (sha, card)
        sha, card = heads[dataset]
        if item["fingerprint"] and item["fingerprint"] not in card:
            raise ImbError(f"{dataset} does not hold the build the run was scored on "
                           f"({item['fingerprint']}); publish that build there first")
        for entry in item["entries"]:
            entry["dataset"]["revision"] = sha


def push(files: dict[str, dict], model_repo: str, dry_run: str | Path | None = None) -> dict:
    """Open a pull request adding `files` to the model repo; with `dry_run`, write them under
    FOLDER/model/ and return their text (nothing reaches the network)."""
    if model_repo.count("/") != 1:
        raise ImbError(f"--model-repo {model_repo!r}: expected ORG/NAME")
    if dry_run is not None:
        from imb_tools.infra.atomic import atomic_write

        texts = render(files)
        for path, text in texts.items():
            atomic_write(Path(dry_run) / "model" / path,
                         lambda p, text=text: Path(p).write_text(text, encoding="utf-8"))
        return {"files": texts, "folder": str(Path(dry_run) / "model")}
    from huggingface_hub import CommitOperationAdd, HfApi, get_token

    from imb_tools.hub.publish import hub_error, network_errors

    if not get_token():
        raise ImbError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    api = HfApi()
    _revisions(api, files)
    texts = render(files)
    operations = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=text.encode("utf-8"))
                  for path, text in texts.items()]
    try:
        commit = api.create_commit(model_repo, operations=operations, repo_type="model",
                                   create_pr=True,
                                   commit_message=f"IMB evaluation results ({len(texts)} files)",
                                   commit_description="Scores on IMB (Italian Medical Benchmark) "
                                   "from lm-evaluation-harness, added by `imb leaderboard push`.")
    except network_errors() as exc:
        raise hub_error(exc, f"pull request on {model_repo} failed") from None
    return {"files": texts, "pr_url": getattr(commit, "pr_url", None) or str(commit)}
