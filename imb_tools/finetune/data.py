"""Training examples from the built IMB-QA dataset: the 80/20 division, prompts, loss masks, curriculum.

Only the built dataset's `train` split is used, so the benchmark's
`validation`/`test` items never reach a fine-tuned model. The paper divides
its fine-tuning data 80/20 into train/eval; here that division is a pure
function of the record id (like the dataset's own splits), so a record stays
on its side when the data grows or is rebuilt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from imb_tools.data.splits import bucket, id_hash
from imb_tools.infra.errors import ImbError
from imb_tools.evaluation.prompts import format_prompt  # the one IMB-QA prompt

log = logging.getLogger(__name__)

EVAL_FRACTION = 0.2
# A salt of its own: the dataset's splits already used the plain id hash to carve
# out `test`/`validation`, so reusing it would make the eval side start where they end.
_EVAL_SALT = "imb-finetune-eval-v1\x00"

def is_eval_id(record_id: str, fraction: float = EVAL_FRACTION) -> bool:
    """Whether a record of the built `train` split belongs to the fine-tuning eval side."""
    return bucket(_EVAL_SALT + record_id) < fraction


def train_eval_split(ds, fraction: float = EVAL_FRACTION):
    """Divide a `datasets.Dataset` into {"train", "eval"}; eval rows come in hash order.

    Hash order lets `--limit N` on the eval side always take the same N records.
    """
    import datasets

    if not 0.0 < fraction < 1.0:
        raise ImbError(f"--eval-fraction must be strictly between 0 and 1, got {fraction}")
    ids = list(ds["id"])
    train_idx = [i for i, rid in enumerate(ids) if not is_eval_id(rid, fraction)]
    eval_idx = sorted(
        (i for i, rid in enumerate(ids) if is_eval_id(rid, fraction)), key=lambda i: id_hash(ids[i])
    )
    return datasets.DatasetDict(train=ds.select(train_idx), eval=ds.select(eval_idx))


def open_train_split(data: str):
    """The built IMB-QA `train` split (folder or Hub id) and the DataSource naming its build,
    with a one-line error when unusable."""
    from imb_tools.data.provenance import open_build

    dd, source = open_build(data, "qa")
    if "train" not in dd:
        raise ImbError(f"--data {data}: the train split is empty (splits with rows: {', '.join(sorted(dd)) or 'none'})")
    ds = dd["train"]
    missing = {"id", "question", "answer"} - set(ds.column_names)
    if missing:
        raise ImbError(f"{data}: the train split lacks column(s) {sorted(missing)}; is this IMB-QA?")
    if len(ds) == 0:
        raise ImbError(f"--data {data}: the train split is empty")
    return ds, source


def load_train_split(data: str):
    """The built IMB-QA `train` split (folder or Hub id), with a one-line error when unusable."""
    return open_train_split(data)[0]


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def user_messages(question: str) -> list[dict]:
    # The instruction goes in the user turn: some templates (gemma-2) reject a system role.
    return [{"role": "user", "content": format_prompt(question)}]


def render_prompt(tokenizer, question: str) -> str:
    """The text the model sees before its answer, at training and at generation time alike."""
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(
            user_messages(question), add_generation_prompt=True, tokenize=False
        )
    return format_prompt(question)


def prompt_token_ids(tokenizer, prompt: str) -> list[int]:
    # Chat templates write their own BOS; a plain prompt gets the tokenizer's.
    return tokenizer(prompt, add_special_tokens=not has_chat_template(tokenizer))["input_ids"]


def prompt_completion(tokenizer, question: str, answer: str) -> dict:
    """One record in TRL's prompt-completion form: conversational (the model's chat template
    renders it, the answer as the assistant turn) or, for a base model, plain text.

    SFTTrainer tokenizes it and, with completion-only loss, puts the loss on the
    completion tokens alone: the model learns to answer, not to repeat questions.
    """
    if has_chat_template(tokenizer):
        return {"prompt": user_messages(question),
                "completion": [{"role": "assistant", "content": answer.strip()}]}
    return {"prompt": format_prompt(question), "completion": " " + answer.strip()}


@dataclass
class PreparedData:
    """Prompt-completion train/eval sets plus the counts a user needs to trust them."""

    train: object
    eval: object
    stats: dict = field(default_factory=dict)


def _pairs(ds, tokenizer, max_length: int, desc: str):
    """Prompt-completion records of a split; those whose prompt alone fills max_length
    (no answer token would be left to learn from) are counted, then left out."""
    import datasets

    rows = {"prompt": [], "completion": [], "id": []}
    if "difficulty" in ds.column_names:
        rows["difficulty"] = []
    too_long = []
    for rec in ds.select_columns([c for c in ("id", "question", "answer", "difficulty") if c in ds.column_names]):
        prompt = render_prompt(tokenizer, rec["question"])
        if len(prompt_token_ids(tokenizer, prompt)) >= max_length:
            too_long.append(rec["id"])
            continue
        pair = prompt_completion(tokenizer, rec["question"], rec["answer"] or "")
        rows["prompt"].append(pair["prompt"])
        rows["completion"].append(pair["completion"])
        rows["id"].append(rec["id"])
        if "difficulty" in rows:
            rows["difficulty"].append(rec["difficulty"])
    return datasets.Dataset.from_dict(rows), too_long


def prepare(
    ds,
    tokenizer,
    max_length: int = 1024,
    eval_fraction: float = EVAL_FRACTION,
    curriculum: bool = False,
    max_eval_samples: int | None = None,
) -> PreparedData:
    """Split, optionally order easy -> hard, and turn the built train split into TRL's
    prompt-completion records (SFTTrainer tokenizes them)."""
    from imb_tools.finetune.curriculum import order_by_difficulty

    parts = train_eval_split(ds, eval_fraction)
    train_raw, eval_raw = parts["train"], parts["eval"]
    if len(train_raw) == 0:
        raise ImbError(f"the train side of the {1 - eval_fraction:.0%}/{eval_fraction:.0%} division is empty")
    stats = {"records": len(ds), "train_records": len(train_raw), "eval_records": len(eval_raw)}
    if curriculum:
        train_raw, source = order_by_difficulty(train_raw)
        stats["difficulty_source"] = source
    if max_eval_samples is not None:
        eval_raw = eval_raw.select(range(min(max_eval_samples, len(eval_raw))))
    train_tok, train_skipped = _pairs(train_raw, tokenizer, max_length, "train")
    eval_tok, eval_skipped = _pairs(eval_raw, tokenizer, max_length, "eval")
    if train_skipped or eval_skipped:
        log.warning(
            "%d train / %d eval records left out: their prompt alone is longer than --max-length %d "
            "(first ids: %s)", len(train_skipped), len(eval_skipped), max_length,
            ", ".join((train_skipped + eval_skipped)[:5]),
        )
    if len(train_tok) == 0:
        raise ImbError(f"no training record fits in --max-length {max_length}; raise it")
    stats.update(
        train_examples=len(train_tok),
        eval_examples=len(eval_tok),
        skipped_too_long={"train": len(train_skipped), "eval": len(eval_skipped),
                          "first_ids": (train_skipped + eval_skipped)[:20]},
    )
    return PreparedData(train=train_tok, eval=eval_tok, stats=stats)
