"""The two IMB datasets, defined once: features, description, fractions, citation, licence,
the raw reader and normaliser each uses, and the `datasets` builder classes. Pure
definitions: building and loading is data/access.py, above this module.

`imb_qa/` and `imb_mcqa/` only re-export what is here and in data/access.py.
"""

from __future__ import annotations

from imb_tools.data.builder import ImbBuilder
from imb_tools.data.normalize import (mcqa_content_key, mcqa_quarantine_view, normalize_mcqa, normalize_qa,
                                      qa_content_key, qa_quarantine_view, survey_mcqa)
from imb_tools.data.prepare import Kind
from imb_tools.data.schema import (MCQA_ALIASES, MCQA_FEATURES, MCQA_REQUIRED, QA_ALIASES, QA_FEATURES,
                                   QA_REQUIRED)
from imb_tools.data.splits import MCQA_FRACTIONS, QA_FRACTIONS, split_hash
from imb_tools.infra.readers import BLOCK_RECORDS, batches, block_records, iter_mcqa_records, iter_table_blocks

LICENSE = "CC BY-NC-ND 4.0"
HOMEPAGE = "https://huggingface.co/datasets/praiselab-picuslab/IMB"
CITATION = """\
@inproceedings{romano2025imb,
  title     = {IMB: An Italian Medical Benchmark for Question Answering},
  author    = {Romano, Antonio and Riccio, Giuseppe and Barone, Mariano and
               Postiglione, Marco and Moscato, Vincenzo},
  booktitle = {Proceedings of the Eleventh Italian Conference on Computational Linguistics (CLiC-it 2025)},
  address   = {Cagliari, Italy},
  year      = {2025}
}
"""


def _record(item):
    return item


def _mcqa_raw(item):
    return item[1]


def _mcqa_blocks(path):
    return batches(iter_mcqa_records(path), BLOCK_RECORDS)


def _normalize_qa(item, raw, conventions):
    return normalize_qa(raw)


def _normalize_mcqa(item, raw, conventions):
    return normalize_mcqa(item[0], raw, conventions)


def _qa_view(item, raw):
    return qa_quarantine_view(raw)


def _mcqa_view(item, raw):
    return mcqa_quarantine_view(item[0], raw)


# Module-level functions, not lambdas: a Kind is sent to the build's worker processes.
def _qa_split_key(record):
    return split_hash(record["question"])


def _mcqa_split_key(record):
    return split_hash(record["question"], record["options"])


def _qa_order_id(record):
    return record["id"]


def _mcqa_order_id(record):
    return record["source_id"]


QA_KIND = Kind(
    name="imb-qa",
    features=QA_FEATURES,
    iter_blocks=iter_table_blocks,
    block_items=block_records,
    raw_of=_record,
    normalize=_normalize_qa,
    quarantine_view=_qa_view,
    required={f: QA_ALIASES[f] for f in QA_REQUIRED},
    content_key=qa_content_key,
    split_key=_qa_split_key,
    order_id=_qa_order_id,
    eval_splits=tuple(QA_FRACTIONS),
    rest_split="train",
)

MCQA_KIND = Kind(
    name="imb-mcqa",
    features=MCQA_FEATURES,
    iter_blocks=_mcqa_blocks,
    block_items=_record,
    raw_of=_mcqa_raw,
    normalize=_normalize_mcqa,
    quarantine_view=_mcqa_view,
    required={f: MCQA_ALIASES[f] for f in MCQA_REQUIRED},
    content_key=mcqa_content_key,
    split_key=_mcqa_split_key,
    order_id=_mcqa_order_id,
    eval_splits=tuple(MCQA_FRACTIONS),
    rest_split="test",
    survey=survey_mcqa,
)


class _Imb(ImbBuilder):
    CITATION = CITATION
    LICENSE = LICENSE
    HOMEPAGE = HOMEPAGE


class ImbQa(_Imb):
    """`datasets` builder for IMB-QA from the raw JSON array, JSON Lines or CSV file."""

    KIND = QA_KIND
    DEFAULT_FRACTIONS = QA_FRACTIONS
    RAW_FILENAME = "IMB-QA.json"
    DESCRIPTION = (
        "IMB-QA: Italian medical forum questions (MedicItalia, Dica33) with answers by "
        "certified professionals, reformulated by an LLM and anonymized; 77 categories "
        "grouped into 10 macro-categories."
    )


class ImbMcqa(_Imb):
    """`datasets` builder for IMB-MCQA from the raw JSON object keyed by category."""

    KIND = MCQA_KIND
    DEFAULT_FRACTIONS = MCQA_FRACTIONS
    RAW_FILENAME = "IMB-MCQA.json"
    DESCRIPTION = (
        "IMB-MCQA: multiple-choice questions (4-5 options) from Italian medical "
        "specialisation exam simulators (CompitoInClasse.org), with the share of "
        "candidates who answered correctly; 60 categories."
    )


BUILDERS: dict[str, type[ImbBuilder]] = {"imb-qa": ImbQa, "imb-mcqa": ImbMcqa}


def builder_for(kind: str) -> type[ImbBuilder]:
    """The builder class for a dataset name ('imb-qa', 'imb-mcqa', or 'qa', 'mcqa')."""
    return BUILDERS[kind if kind.startswith("imb-") else f"imb-{kind}"]
