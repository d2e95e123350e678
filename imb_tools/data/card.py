"""The dataset card: the Hub's YAML metadata plus a README rendered from dataset_card.md.

The YAML `configs` list a data file pattern per split, so
`load_dataset("ORG/NAME")` and `load_dataset(<built folder>)` need no code.
"""

from __future__ import annotations

from pathlib import Path

TEMPLATE = Path(__file__).parent / "dataset_card.md"  # a link to the top-level dataset_card.md

_TASKS = {
    "imb-qa": (["question-answering", "text-generation"], ["open-domain-qa"]),
    "imb-mcqa": (["multiple-choice", "question-answering"], ["multiple-choice-qa"]),
}
_PRETTY = {"imb-qa": "IMB-QA", "imb-mcqa": "IMB-MCQA"}
_EVAL_TASKS = {"imb-qa": ("imb_qa", "imb_qa_rag"), "imb-mcqa": ("imb_mcqa",)}  # as in eval.yaml


def size_category(n: int) -> str:
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M")):
        if n < bound:
            return label
    return "1M<n<10M"


def render_card(kind: str, report: dict, builder_cls, repo_id: str = "ORG/NAME",
                fingerprint: str | None = None) -> str:
    from huggingface_hub import DatasetCard, DatasetCardData

    splits = {s: n for s, n in report["records_out"].items() if n > 0}
    task_categories, task_ids = _TASKS[kind]
    data = DatasetCardData(
        language=["it"],
        license="cc-by-nc-nd-4.0",
        pretty_name=_PRETTY[kind],
        size_categories=[size_category(report["records_out_total"])],
        task_categories=task_categories,
        task_ids=task_ids,
        source_datasets=["praiselab-picuslab/IMB"],
        tags=["medical", "italian", "benchmark"],
        configs=[{
            "config_name": "default",
            "data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits],
        }],
    )
    card = DatasetCard.from_template(
        data,
        template_path=str(TEMPLATE),
        pretty_name=_PRETTY[kind],
        description=builder_cls.DESCRIPTION,
        kind=kind,
        repo_id=repo_id,
        source_file=report["source_file"],
        is_sample=".sample." in report["source_file"],
        splits=splits,
        fractions=report["split_fractions"],
        records_in=report["records_in"],
        quarantined_total=report["quarantined_total"],
        quarantined=", ".join(f"{k}: {v}" for k, v in report["quarantined"].items()) or "none",
        duplicates_total=report["duplicates_collapsed_total"],
        citation=builder_cls.CITATION.strip(),
        fingerprint=fingerprint,
        tasks=", ".join(f"`{t}`" for t in _EVAL_TASKS[kind]),
    )
    return str(card)


def write_card(folder: Path, kind: str, report: dict, builder_cls, repo_id: str = "ORG/NAME",
               fingerprint: str | None = None) -> Path:
    path = Path(folder) / "README.md"
    path.write_text(render_card(kind, report, builder_cls, repo_id, fingerprint), encoding="utf-8")
    return path
