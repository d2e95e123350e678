"""A task set for one build: per-category stubs, written with yaml.dump (the mmlu way).

The shipped YAMLs are hand-written and score every test item whatever categories a build
holds. A build's categories are known only once it is built, so per-category groups are
made for one build: `imb_mcqa_by_category` (one subtask per category), `imb_qa_by_macro`
and `imb_qa_rag_by_macro` (one per macro-category). Each stub includes the shipped
template by its absolute path (so its functions are the shipped folder's) and names the
build (`generated_data_dir`); the complete tasks get a stub too, so the whole set defaults
to that build. A set records its categories in `categories.json`: pointed at data whose
categories differ, its subtasks stop with one line naming them, so a group score is never
a mean over a subset.

Run it with `python lm_eval_tasks/make_category_tasks.py --data DIR --out OUT`, or through
the IMB toolkit (`imb tasks path --data DIR`, which caches the set).
"""

from __future__ import annotations

import json
from pathlib import Path

from . import TaskError, data

HEADER = "# Made by lm_eval_tasks/make_category_tasks.py for one build; do not edit by hand.\n"
CATEGORIES_FILE = "categories.json"
TEMPLATE = "_default_template_yaml"  # lm-eval's name for a shared, non-task YAML
# The folders of the shipped set, the column their subtasks split by, and the group made.
MCQA_BY_CATEGORY = ("imb_mcqa_by_category", "imb_mcqa_cat")
QA_FOLDERS = ("imb_qa", "imb_qa_rag")
# The paper's ten macro-categories (Table 5) and the short names of their subtasks.
MACRO_TASK_NAMES = {
    "Urology, andrology and male health": "urology",
    "Gastroenterology and digestive health": "gastroenterology",
    "Mental health": "mental_health",
    "General Medicine and General Surgery": "general_medicine",
    "Ophthalmology, otolaryngology, dentistry and pneumology": "ophthalmology_ent_dentistry_pneumology",
    "Cardiology, circulatory system and hematology": "cardiology",
    "Gynecology and female health": "gynecology",
    "Orthopedics and musculoskeletal system": "orthopedics",
    "Dermatology, allergies and aesthetics": "dermatology",
    "Neurology": "neurology",
}
ACC_METRICS = ("acc", "acc_norm")
# Metrics whose group value is exactly the size-weighted mean of its subtasks' (per-item
# means); corpus BLEU is not, so a by-macro group reports no BLEU of its own.
QA_DECOMPOSABLE = ("rouge1", "rouge2", "rougeL", "meteor", "bertscore_precision",
                   "bertscore_recall", "bertscore_f1")


def by_macro(folder: str) -> tuple[str, str]:
    """The by-macro group and subtask prefix of a QA folder (imb_qa, imb_qa_rag)."""
    return f"{folder}_by_macro", f"{folder}_macro"


def task_slug(name: str) -> str:
    """A task-name-safe slug: ascii lower case, words joined by underscores."""
    return data.fold_text(name).replace(" ", "_")


def _unique_names(names: list[str], prefix: str, fixed: dict[str, str] | None = None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in names:
        slug = f"{prefix}_{(fixed or {}).get(name) or task_slug(name)}"
        if slug == f"{prefix}_" or slug in out.values():
            raise TaskError(f"category '{name}' gives an empty or duplicate task name '{slug}'")
        out[name] = slug
    return out


def _yaml_loader():
    """A YAML loader that reads `!function x.y` as its text: enough to tell tasks from groups."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))
    return Loader


def _read_yaml(path: Path) -> dict:
    import yaml

    value = yaml.load(path.read_text(encoding="utf-8"), Loader=_yaml_loader())  # noqa: S506 (SafeLoader)
    return value if isinstance(value, dict) else {}


def _dump(value: dict) -> str:
    import yaml

    return HEADER + yaml.dump(value, sort_keys=False, allow_unicode=True, width=1000)


def categories_of(build: Path, column: str) -> list[str]:
    """The values of `column` in the build's test split, sorted."""
    test = data.labels_to_names(data.load(_kind(build), {"data_dir": str(build)})["test"], [column])
    return sorted({str(v) for v in test[column] if v is not None})


def _kind(build: Path) -> str:
    return (data.read_marker(build) or {})["dataset"].removeprefix("imb-")


def _version(shipped: Path, folder: str) -> object:
    return (_read_yaml(shipped / folder / TEMPLATE).get("metadata") or {}).get("version")


def _complete_task_stubs(shipped: Path, folder: str, build: Path) -> dict[str, str]:
    """The shipped folder's tasks defaulting to `build`; its groups as they are."""
    files = {}
    for path in sorted((shipped / folder).glob("*.yaml")):
        cfg = _read_yaml(path)
        if "group" in cfg:
            files[path.name] = HEADER + path.read_text(encoding="utf-8")
        elif "task" in cfg:
            files[path.name] = _dump({"include": str(path.resolve()),
                                      "dataset_kwargs": {"generated_data_dir": str(build)}})
    return files


def _group(name: str, alias: str, tasks: list[str], metrics, version) -> str:
    return _dump({
        "group": name,
        "group_alias": alias,
        "task": tasks,
        "aggregate_metric_list": [{"metric": m, "aggregation": "mean", "weight_by_size": True}
                                  for m in metrics],
        "metadata": {"version": version},
    })


def _category_stubs(shipped: Path, out: Path, folder: str, build: Path, column: str,
                    names: dict[str, str]) -> dict[str, str]:
    template = str((shipped / folder / TEMPLATE).resolve())
    categories = str((out / folder / CATEGORIES_FILE).resolve())
    return {f"{task}.yaml": _dump({
        "include": template,
        "task": task,
        "task_alias": name,
        "dataset_kwargs": {column: name, "categories_file": categories,
                           "generated_data_dir": str(build)},
    }) for name, task in names.items()}


def render(shipped: str | Path, data_dir: str | Path, out: str | Path) -> dict[str, dict[str, str]]:
    """folder -> {file name: text} of the task set for the build(s) in `data_dir` (a build, or a
    parent of qa/ and mcqa/), to be written into `out`."""
    shipped, out = Path(shipped).resolve(), Path(out).resolve()
    builds = {k: data.find_build(data_dir, k) for k in data.DATASETS}
    if not any(builds.values()):
        raise TaskError(f"{data_dir}: not a built IMB-QA or IMB-MCQA folder, nor a parent of qa/ or "
                        f"mcqa/ (no {data.MARKER} written by 'imb build')")
    rendered: dict[str, dict[str, str]] = {}
    if builds["mcqa"] is not None:
        build = builds["mcqa"].resolve()
        cats = categories_of(build, "category")
        if not cats:
            raise TaskError(f"{build}: no IMB-MCQA test items, so no categories to make tasks for")
        group, prefix = MCQA_BY_CATEGORY
        names = _unique_names(cats, prefix)
        files = _complete_task_stubs(shipped, "imb_mcqa", build)
        files.update(_category_stubs(shipped, out, "imb_mcqa", build, "category", names))
        files[f"_{group}.yaml"] = _group(group, "IMB-MCQA by category", list(names.values()),
                                        ACC_METRICS, _version(shipped, "imb_mcqa"))
        files[CATEGORIES_FILE] = json.dumps({"kind": "mcqa", "categories": cats},
                                            ensure_ascii=False, indent=1) + "\n"
        rendered["imb_mcqa"] = files
    if builds["qa"] is not None:
        build = builds["qa"].resolve()
        present = categories_of(build, "macro_category")
        if not present:
            raise TaskError(f"{build}: no IMB-QA test items, so no macro-categories to make tasks for")
        known = [m for m in MACRO_TASK_NAMES if m in present] + [m for m in present if m not in MACRO_TASK_NAMES]
        for folder in QA_FOLDERS:
            group, prefix = by_macro(folder)
            names = _unique_names(known, prefix, MACRO_TASK_NAMES)
            files = _complete_task_stubs(shipped, folder, build)
            files.update(_category_stubs(shipped, out, folder, build, "macro_category", names))
            alias = _read_yaml(shipped / folder / f"{folder}.yaml").get("task_alias", folder)
            files[f"_{group}.yaml"] = _group(group, f"{alias} by macro-category", list(names.values()),
                                            QA_DECOMPOSABLE, _version(shipped, folder))
            files[CATEGORIES_FILE] = json.dumps({"kind": "qa", "categories": sorted(known)},
                                                ensure_ascii=False, indent=1) + "\n"
            rendered[folder] = files
    return rendered


def _is_ours(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return text.startswith(HEADER) or (path.name == CATEGORIES_FILE and text.startswith('{\n "kind"'))


def write(rendered: dict[str, dict[str, str]], out: str | Path) -> Path:
    """Write the set into `out`/<folder>/, each file through a temporary name and a rename (lm-eval
    never reads half a YAML); files an earlier run wrote that the set no longer has are removed,
    and a file this module did not write is never replaced."""
    import os
    import tempfile

    out = Path(out)
    for folder, files in rendered.items():
        target = out / folder
        target.mkdir(parents=True, exist_ok=True)
        for old in target.iterdir():
            if old.is_file() and old.name not in files and _is_ours(old):
                old.unlink()
        for name, text in files.items():
            path = target / name
            if path.exists() and not _is_ours(path) and path.read_text(encoding="utf-8") != text:
                raise TaskError(f"{path}: not written by make_category_tasks.py; choose an empty --out")
            if path.exists() and path.read_text(encoding="utf-8") == text:
                continue  # unchanged files keep their mtimes (lm-eval's caches stay valid)
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=target)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
    return out
