"""Hub Eval Results: the benchmark's `eval.yaml` and a model's `.eval_results/*.yaml`.

What the Hub documents (hub-docs `docs/hub/eval-results.md`, late 2026; a work-in-progress
feature): a benchmark dataset repo carries `eval.yaml` at its root with `name`,
`description`, `evaluation_framework` and `tasks` (each `{id, config, split}`), validated at
push time; a model's scores are `.eval_results/<name>.yaml` files in the model repo, each a
list of `{dataset: {id, task_id, revision}, value, date, source: {url, name, user}, notes}`
(`dataset.id`, `dataset.task_id` and `value` required; `task_id` one of the benchmark's
`tasks`), usually opened as a pull request.

`evaluation_framework` must be one of the Hub's list (`EVALUATION_FRAMEWORKS` in
huggingface.js `packages/tasks/src/eval.ts`; a value outside it fails validation: "Invalid
input at evaluation_framework"). The list has no lm-evaluation-harness entry. We declare
`inspect-ai`, the framework the format is based on and the docs' own example; the scores
themselves come from lm-evaluation-harness, which every `.eval_results` entry says in its
`notes`. The validators below check the documented schema with `jsonschema`.
"""

from __future__ import annotations

import re

from imb_tools.infra.errors import ImbError

# huggingface.js packages/tasks/src/eval.ts, EVALUATION_FRAMEWORKS (as read in late 2026).
EVALUATION_FRAMEWORKS = (
    "exgentic", "inspect-ai", "math-arena", "mteb", "olmocr-bench", "harbor", "archipelago",
    "apex-evals", "screenspot-pro", "swe-bench", "swe-bench-pro", "nemo-evaluator", "yc-bench",
    "open-asr-leaderboard", "mdpbench", "parsebench", "video-mme-v2", "claw-eval",
    "wildclawbench",
)
EVALUATION_FRAMEWORK = "inspect-ai"

_TEXT = {"type": "string", "minLength": 1}
EVAL_YAML_SCHEMA = {
    "type": "object",
    "required": ["name", "description", "evaluation_framework", "tasks"],
    "properties": {
        "name": _TEXT,
        "description": _TEXT,
        "evaluation_framework": {"enum": list(EVALUATION_FRAMEWORKS)},
        "tasks": {
            "type": "array", "minItems": 1,
            "items": {
                "type": "object", "required": ["id", "config", "split"],
                "properties": {"id": _TEXT, "config": _TEXT, "split": _TEXT},
            },
        },
    },
}
_REPO_ID = r"^[A-Za-z0-9][\w.-]*/[\w.-]+$"
EVAL_RESULTS_SCHEMA = {
    "type": "array", "minItems": 1,
    "items": {
        "type": "object", "required": ["dataset", "value"],
        "additionalProperties": False,
        "properties": {
            "dataset": {
                "type": "object", "required": ["id", "task_id"], "additionalProperties": False,
                "properties": {"id": {"type": "string", "pattern": _REPO_ID}, "task_id": _TEXT,
                               "revision": {"type": "string", "pattern": "^[0-9a-f]{40}$"}},
            },
            "value": {"type": "number"},
            "verifyToken": _TEXT,
            "date": {"type": "string",
                     "pattern": r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"},
            "source": {
                "type": "object", "required": ["url"], "additionalProperties": False,
                "properties": {"url": {"type": "string", "pattern": "^https?://"},
                               "name": _TEXT, "user": _TEXT, "org": _TEXT},
            },
            "notes": _TEXT,
        },
    },
}


def _check(document, schema, what: str) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.absolute_path) or "(top level)"
        raise ImbError(f"{what}: invalid at {where}: {first.message}")


def validate_eval_yaml(document, what: str = "eval.yaml") -> None:
    """Refuse (one-line ImbError) an `eval.yaml` the Hub would refuse: the documented fields,
    an evaluation framework from the Hub's list, unique task ids."""
    _check(document, EVAL_YAML_SCHEMA, what)
    ids = [t["id"] for t in document["tasks"]]
    if len(set(ids)) != len(ids):
        raise ImbError(f"{what}: invalid at tasks: task ids repeat ({', '.join(ids)})")


def validate_eval_results(entries, task_ids: set[str] | None = None,
                          what: str = ".eval_results file") -> None:
    """Refuse a `.eval_results/*.yaml` list the Hub would refuse; with `task_ids`, also a
    task id that is not one of the benchmark's `eval.yaml` tasks."""
    _check(entries, EVAL_RESULTS_SCHEMA, what)
    if task_ids is not None:
        for entry in entries:
            if entry["dataset"]["task_id"] not in task_ids:
                raise ImbError(f"{what}: task_id {entry['dataset']['task_id']!r} is not a task "
                               f"of the benchmark ({', '.join(sorted(task_ids))})")


# The lm-eval tasks that score each dataset's test split, as the eval.yaml tasks.
DATASET_TASKS = {"imb-mcqa": ["imb_mcqa"], "imb-qa": ["imb_qa", "imb_qa_rag"]}
_PRETTY = {"imb-qa": "IMB-QA", "imb-mcqa": "IMB-MCQA"}
_WHAT = {
    "imb-mcqa": "Italian medical multiple-choice questions; accuracy (lm-eval task imb_mcqa).",
    "imb-qa": "Italian medical open questions; BERTScore precision with "
              "bert-base-multilingual-cased as in the IMB paper (lm-eval tasks imb_qa, and "
              "imb_qa_rag with retrieval).",
}


def eval_yaml(dataset: str, fingerprint: str) -> dict:
    """The benchmark description of a built dataset (validated)."""
    document = {
        "name": _PRETTY[dataset],
        "description": (f"{_PRETTY[dataset]}, part of IMB, the Italian Medical Benchmark: "
                        f"{_WHAT[dataset]} Scored with lm-evaluation-harness and the task "
                        f"folders of the IMB toolkit; build {fingerprint}."),
        "evaluation_framework": EVALUATION_FRAMEWORK,
        "tasks": [{"id": task, "config": "default", "split": "test"}
                  for task in DATASET_TASKS[dataset]],
    }
    validate_eval_yaml(document)
    return document


def dump_yaml(document) -> str:
    import yaml

    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def file_name(task: str, chat_template: bool, n_shot, limit, is_sample: bool) -> str:
    """`.eval_results/<task>[_chat][_<n>shot][_limit<n>][_sample].yaml`: one file per variant."""
    name = task
    if chat_template:
        name += "_chat"
    if n_shot not in (None, 0, "0"):
        name += f"_{int(n_shot)}shot"
    if limit is not None:
        name += f"_limit{float(limit):g}"
    if is_sample:
        name += "_sample"
    return f".eval_results/{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.yaml"
