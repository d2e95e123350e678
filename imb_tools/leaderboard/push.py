"""Merge a leaderboard table into a Hub dataset repo, idempotently, with a dataset card.

The repo holds `data/results.parquet` (the tidy table, the card's default
config), `data/summary.parquet`, `leaderboard.md` and `plots/*.png`. Rows are
keyed by run, so pushing the same results again uploads nothing. The token
comes from `HF_TOKEN` or the login cache (huggingface_hub finds it) and is
never printed or written.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from imb_tools.infra.atomic import atomic_write
from imb_tools.infra.errors import ImbError
from imb_tools.leaderboard import collect, plots

TABLE_IN_REPO = "data/results.parquet"
ITEMS_IN_REPO = "data/items.parquet"
SUMMARY_IN_REPO = "data/summary.parquet"
SCORES_IN_REPO = "data/scores.parquet"
PAIRS_IN_REPO = "data/pairs.parquet"
RESULTS_LICENSE = "cc-by-4.0"
SPACE_REQUIREMENTS = ["gradio>=6", "pandas>=2", "pyarrow>=15", "huggingface_hub>=0.30"]


def card_text(table, repo_id: str) -> str:
    """README.md: YAML front matter whose `configs` make `load_dataset(repo_id)` work, and a summary."""
    from huggingface_hub import DatasetCard, DatasetCardData

    data = DatasetCardData(
        pretty_name="IMB leaderboard",
        # the scores and settings of the runs (no IMB text): CC BY 4.0
        license=RESULTS_LICENSE,
        language=["it"],
        tags=["leaderboard", "evaluation", "medical", "lm-evaluation-harness"],
        configs=[
            {"config_name": "default", "data_files": [{"split": "train", "path": TABLE_IN_REPO}]},
            {"config_name": "summary", "data_files": [{"split": "train", "path": SUMMARY_IN_REPO}]},
        ],
    )
    body = f"""
# IMB leaderboard

Results of language models on IMB, the Italian Medical Benchmark (IMB-QA and IMB-MCQA),
scored with lm-evaluation-harness and collected by `imb leaderboard build` (imb-toolkit).

```python
from datasets import load_dataset
results = load_dataset("{repo_id}", split="train")          # one row per run, task, metric
summary = load_dataset("{repo_id}", "summary", split="train")
```

`{TABLE_IN_REPO}` columns: {", ".join(f"`{c}`" for c in collect.COLUMNS)}.
A row is identified by (`run_key`, `metric`, `filter`); `run_key` hashes the model, its
arguments, the task, n-shot, the lm-eval version and the run's date, so adding the same
results again changes nothing. `category` is empty for a benchmark's or group's own score.
Models: {table["model"].nunique()}; task runs: {table["run_key"].nunique()}.

Add results: `imb leaderboard push --repo-id {repo_id} RESULTS...`.
`{SCORES_IN_REPO}` and `{PAIRS_IN_REPO}` hold the ranked view (one row per model run and
score, with its uncertainty; the paired tests between runs) that the leaderboard page shows.

License: {RESULTS_LICENSE} for these scores. They hold no IMB text; IMB itself is
CC BY-NC-ND 4.0.

{collect.markdown(table).replace("# IMB leaderboard", "## Scores", 1)}
"""
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n{body}").content


_LOCAL_PATH = re.compile(r"(?<![\w.:/~-])(?:~|/)[^\s,;'\"]+")


def path_free(table):
    """`table` as it may leave this machine: every absolute local path in a text column (a model
    folder, a build, a BERTScore model in site-packages, `pretrained=` in model_args) becomes
    `local:<its last part>`, so no user name or folder layout is published; Hub ids and URLs
    stay. Identity is kept by run_key and the fingerprints, computed before."""
    def strip(text):
        if not isinstance(text, str):
            return text
        return _LOCAL_PATH.sub(lambda m: "local:" + (m.group(0).rstrip("/").rsplit("/", 1)[-1] or "/"), text)

    table = table.copy()
    for column in table.columns:
        if table[column].dtype == object or str(table[column].dtype).startswith("string"):
            table[column] = table[column].map(strip, na_action="ignore")
    return table


def stage(table, folder: str | Path, repo_id: str, plot_options: dict | None = None,
          items=None) -> list[str]:
    """Write every file the repo gets into `folder`; returns the relative paths written."""
    from imb_tools.leaderboard import ranking

    folder = Path(folder)
    table = path_free(table)
    wide = collect.summary(table)
    scores, pairs = ranking.board(table, items)
    atomic_write(folder / TABLE_IN_REPO, lambda p: table.to_parquet(p, index=False))
    if items is not None:
        atomic_write(folder / ITEMS_IN_REPO, lambda p: items.to_parquet(p, index=False))
    atomic_write(folder / SCORES_IN_REPO, lambda p: scores.to_parquet(p, index=False))
    atomic_write(folder / PAIRS_IN_REPO, lambda p: pairs.to_parquet(p, index=False))
    atomic_write(folder / SUMMARY_IN_REPO, lambda p: wide.to_parquet(p, index=False))
    atomic_write(folder / "leaderboard.md",
                         lambda p: Path(p).write_text(collect.markdown(table, wide), "utf-8"))
    atomic_write(folder / "README.md",
                         lambda p: Path(p).write_text(card_text(table, repo_id), "utf-8"))
    plots.plot_table(table, folder / "plots", **(plot_options or {}))
    written = [p.relative_to(folder) for p in folder.rglob("*") if p.is_file()]
    return sorted(str(p) for p in written if p.parts[0] != "space")  # a dry run's Space files


def _existing_table(repo_id: str, revision: str | None = None, name: str = TABLE_IN_REPO):
    """The repo's table (or `name`) at `revision`, None for a new or empty repo; Hub errors
    in one line."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (EntryNotFoundError, HfHubHTTPError,
                                        RepositoryNotFoundError)

    try:
        path = hf_hub_download(repo_id, name, repo_type="dataset", revision=revision)
    except (RepositoryNotFoundError, EntryNotFoundError):
        return None
    except HfHubHTTPError as exc:
        raise ImbError(f"cannot read {repo_id} from the Hub: {str(exc).splitlines()[0]}") from None
    except OSError as exc:
        from imb_tools.hub.publish import hub_error

        raise hub_error(exc, f"cannot read {repo_id} from the Hub") from None
    if name == ITEMS_IN_REPO:
        return collect.read_items(Path(path).parent)
    return collect.read_table(path)


def refuse_sample(table, allow_sample: bool) -> None:
    """Results computed on the bundled sample are not IMB scores: never pushed unless asked."""
    from imb_tools.leaderboard.space_app import unproven

    if allow_sample or not len(table):
        return
    sample = unproven(table)
    if sample.any():
        runs = table.loc[sample, "run_key"].nunique()
        raise ImbError(f"{runs} task runs were scored on the bundled sample or name no data (no provenance "
                       "recorded), not on IMB; refusing to push them (--allow-sample to push anyway)")


def _conflict(exc) -> bool:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status in (409, 412) or "parent_commit" in str(exc).lower()


def push(table, repo_id: str, dry_run: str | Path | None = None, private: bool = False,
         plot_options: dict | None = None, allow_sample: bool = False, retries: int = 8,
         items=None) -> dict:
    """Merge `table` into the repo's table and upload; with `dry_run`, only write the files.

    The upload names the commit its table was read at (`parent_commit`); when another
    push got in between, the Hub refuses it and the read-merge-write starts again, so
    concurrent pushes never lose rows. A dry run makes no network call: it merges with
    the table a previous dry run left in the same folder (as if it were the repo).
    """
    if repo_id.count("/") != 1:
        raise ImbError(f"--repo-id {repo_id!r}: expected ORG/NAME")
    refuse_sample(table, allow_sample)  # a dry run makes the same checks as the push
    if dry_run is not None:
        folder = Path(dry_run)
        previous = folder / TABLE_IN_REPO
        existing = collect.read_table(previous) if previous.is_file() else None
        before = 0 if existing is None else len(existing)
        merged = collect.merge_tables(existing, table)
        merged_items = collect.items_frame(None if items is None else items.to_dict("records"),
                                           collect.read_items(folder / "data"))
        return {"repo_id": repo_id, "rows_before": before, "rows_after": len(merged),
                "rows_added": len(merged) - before, "folder": str(dry_run),
                "files": stage(merged, dry_run, repo_id, plot_options, merged_items)}

    from huggingface_hub import HfApi, get_token
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    from imb_tools.hub.publish import hub_error, network_errors

    if not get_token():
        raise ImbError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    except network_errors() as exc:
        raise hub_error(exc, f"cannot create {repo_id}") from None
    for attempt in range(retries):
        try:
            head = api.repo_info(repo_id, repo_type="dataset").sha
        except (RepositoryNotFoundError, *network_errors()) as exc:
            raise hub_error(exc, f"cannot read {repo_id} from the Hub") from None
        existing = _existing_table(repo_id, revision=head)
        before = 0 if existing is None else len(existing)
        merged = collect.merge_tables(existing, table)
        merged_items = collect.items_frame(
            None if items is None else items.to_dict("records"),
            _existing_table(repo_id, revision=head, name=ITEMS_IN_REPO) if existing is not None else None)
        result = {"repo_id": repo_id, "rows_before": before, "rows_after": len(merged),
                  "rows_added": len(merged) - before, "attempts": attempt + 1}
        if existing is not None and result["rows_added"] == 0:
            result["files"] = []
            return result  # nothing new: no empty commit
        with tempfile.TemporaryDirectory(prefix="imb-leaderboard-") as tmp:
            result["files"] = stage(merged, tmp, repo_id, plot_options, merged_items)
            try:
                commit = api.upload_folder(
                    repo_id=repo_id, repo_type="dataset", folder_path=tmp, parent_commit=head,
                    commit_message=f"Leaderboard: {result['rows_added']} new rows "
                                   f"({merged['model'].nunique()} models)",
                )
            except network_errors() as exc:
                if isinstance(exc, HfHubHTTPError) and _conflict(exc):
                    continue  # someone pushed since we read: read, merge and write again
                raise hub_error(exc, f"upload to {repo_id} failed") from None
        result["commit_url"] = str(getattr(commit, "commit_url", commit))
        return result
    raise ImbError(f"{repo_id}: the repo kept changing during {retries} attempts; "
                   "nothing was pushed, try again")


def stage_space(folder: str | Path, repo_id: str) -> list[str]:
    """A Gradio Space showing `repo_id`: space_app.py as app.py, requirements, a card."""
    import gradio

    from imb_tools.leaderboard import space_app

    folder = Path(folder)
    app = Path(space_app.__file__).read_text(encoding="utf-8")
    card = f"""---
title: IMB leaderboard
emoji: 🩺
colorFrom: blue
colorTo: green
sdk: gradio
sdk_version: {gradio.__version__}
app_file: app.py
pinned: false
---

Leaderboard of the Italian Medical Benchmark (IMB-QA, IMB-MCQA). The table and plots come from
the dataset repo [{repo_id}](https://huggingface.co/datasets/{repo_id}) (Space variable
`IMB_LEADERBOARD_REPO`); add results with `imb leaderboard push --repo-id {repo_id} RESULTS...`.
For a private dataset repo, add a read token as the Space secret `HF_TOKEN`.
"""
    files = {"app.py": app, "requirements.txt": "\n".join(SPACE_REQUIREMENTS) + "\n",
             "README.md": card}
    for name, text in files.items():
        atomic_write(folder / name, lambda p, text=text: Path(p).write_text(text, "utf-8"))
    return sorted(files)


def push_space(space_id: str, repo_id: str, dry_run: str | Path | None = None) -> dict:
    """Create or update the Space that shows the leaderboard of `repo_id`."""
    if space_id.count("/") != 1:
        raise ImbError(f"--space-id {space_id!r}: expected ORG/NAME")
    if dry_run is not None:
        return {"space_id": space_id, "files": stage_space(dry_run, repo_id)}
    from huggingface_hub import HfApi, get_token

    from imb_tools.hub.publish import hub_error, network_errors

    if not get_token():
        raise ImbError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    api = HfApi()
    with tempfile.TemporaryDirectory(prefix="imb-space-") as tmp:
        files = stage_space(tmp, repo_id)
        try:
            api.create_repo(space_id, repo_type="space", space_sdk="gradio", exist_ok=True)
            api.add_space_variable(space_id, "IMB_LEADERBOARD_REPO", repo_id)
            commit = api.upload_folder(repo_id=space_id, repo_type="space", folder_path=tmp,
                                       commit_message="IMB leaderboard app")
        except network_errors() as exc:
            raise hub_error(exc, f"upload to Space {space_id} failed") from None
    return {"space_id": space_id, "files": files,
            "commit_url": str(getattr(commit, "commit_url", commit))}
