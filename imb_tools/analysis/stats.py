"""The paper's Table 4 (overall statistics) and Table 5 (records per macro-category).

Tokens come from spaCy's rule-based Italian tokenizer (`spacy.blank("it")`,
no model download); lengths are in characters, as the paper's averages
(1,056.77 characters per question) imply. For IMB-MCQA the "answer" is the
text of the correct option.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from imb_tools.data.io import load_built

# The paper's Table 5: IMB-QA records per macro-category (782,644 in all), shown beside a
# build's counts so a wrong category-to-macro mapping or a short build shows at once.
PAPER_TABLE5 = {
    "Urology, andrology and male health": 110052,
    "Gastroenterology and digestive health": 104449,
    "Mental health": 103893,
    "General Medicine and General Surgery": 87789,
    "Ophthalmology, otolaryngology, dentistry and pneumology": 83710,
    "Cardiology, circulatory system and hematology": 81232,
    "Gynecology and female health": 65792,
    "Orthopedics and musculoskeletal system": 50283,
    "Dermatology, allergies and aesthetics": 49288,
    "Neurology": 46704,
}


def _texts(dsd, column: str) -> Iterator[str]:
    for split in dsd.values():
        for batch in split.iter(batch_size=2000):
            if column == "correct_option":
                yield from (opts[i] for opts, i in zip(batch["options"], batch["answer_index"]))
            else:
                yield from batch[column]


def _text_stats(nlp, texts: Iterable[str], batch_size: int) -> tuple[dict, set]:
    counter: Counter = Counter()
    tokens = 0
    max_tokens = 0
    vocab: set[str] = set()
    for doc in nlp.pipe(_counted(texts, counter), batch_size=batch_size):
        tokens += len(doc)
        max_tokens = max(max_tokens, len(doc))
        vocab.update(t.text for t in doc)
    n, total_chars, max_chars = counter["n"], counter["chars"], counter["max"]
    return {
        "total_tokens": tokens,
        "unique_vocab": len(vocab),
        "avg_length_tokens": round(tokens / n, 2) if n else 0.0,
        "max_length_tokens": max_tokens,
        "avg_length_chars": round(total_chars / n, 2) if n else 0.0,
        "max_length_chars": max_chars,
    }, vocab


def _counted(texts: Iterable[str], counter: Counter) -> Iterator[str]:
    for text in texts:
        counter["n"] += 1
        counter["chars"] += len(text)
        counter["max"] = max(counter["max"], len(text))
        yield text


def compute_stats(path_or_repo: str, batch_size: int = 1000) -> dict:
    import spacy

    dsd = load_built(path_or_repo)
    first = next(iter(dsd.values()))
    is_qa = "macro_category" in first.features
    nlp = spacy.blank("it")
    q_stats, q_vocab = _text_stats(nlp, _texts(dsd, "question"), batch_size)
    a_stats, a_vocab = _text_stats(nlp, _texts(dsd, "answer" if is_qa else "correct_option"), batch_size)
    categories: Counter = Counter()
    macros: Counter = Counter()
    for split in dsd.values():
        cat_feat = split.features["category"]
        names = cat_feat.names if hasattr(cat_feat, "names") else None
        for value in split["category"]:
            categories[names[value] if names else value] += 1
        if is_qa:
            macro_names = split.features["macro_category"].names
            for value in split["macro_category"]:
                macros[macro_names[value]] += 1
    stats = {
        "dataset": "IMB-QA" if is_qa else "IMB-MCQA",
        "records": sum(len(s) for s in dsd.values()),
        "records_per_split": {name: len(s) for name, s in dsd.items()},
        "categories": len(categories),
        "question": q_stats,
        "answer": a_stats,
        "unique_total_vocab": len(q_vocab | a_vocab),
        "records_per_category": dict(categories.most_common()),
    }
    if is_qa:
        stats["records_per_macro_category"] = dict(macros.most_common())
    return stats


def table5_comparison(per_macro: dict[str, int]) -> list[tuple[str, int, int, int, float]]:
    """(macro-category, built, paper, built - paper, built / paper) for every macro-category
    of the paper and any the build has that the paper does not."""
    rows = []
    for name in list(PAPER_TABLE5) + [m for m in per_macro if m not in PAPER_TABLE5]:
        built, paper = per_macro.get(name, 0), PAPER_TABLE5.get(name, 0)
        rows.append((name, built, paper, built - paper, built / paper if paper else float("nan")))
    return rows


def format_stats(stats: dict) -> str:
    """Table 4 (token counts in spaCy tokens, as the paper; lengths in tokens and, labelled,
    in characters) and Table 5 beside the paper's counts."""
    q, a = stats["question"], stats["answer"]
    rows = [
        ("# Questions and Answers", stats["records"]),
        ("# Categories", stats["categories"]),
        ("Tot. Answer Tokens", a["total_tokens"]),
        ("Unique Answer Vocab.", a["unique_vocab"]),
        ("Tot. Question Tokens", q["total_tokens"]),
        ("Unique Question Vocab.", q["unique_vocab"]),
        ("Unique Total Vocab.", stats["unique_total_vocab"]),
        ("Avg. Answer Length (tokens)", a.get("avg_length_tokens", 0.0)),
        ("Max. Answer Length (tokens)", a.get("max_length_tokens", 0)),
        ("Avg. Question Length (tokens)", q.get("avg_length_tokens", 0.0)),
        ("Max. Question Length (tokens)", q.get("max_length_tokens", 0)),
        ("Avg. Answer Length (characters)", a["avg_length_chars"]),
        ("Max. Answer Length (characters)", a["max_length_chars"]),
        ("Avg. Question Length (characters)", q["avg_length_chars"]),
        ("Max. Question Length (characters)", q["max_length_chars"]),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"Table 4 ({stats['dataset']}; tokens from spaCy's Italian tokenizer)",
             f"{'Statistic':<{width}}  Value"]
    lines += [f"{name:<{width}}  {value:,}" if isinstance(value, int) else f"{name:<{width}}  {value:,.2f}"
              for name, value in rows]
    if "records_per_macro_category" in stats:
        table = table5_comparison(stats["records_per_macro_category"])
        mwidth = max(len(r[0]) for r in table)
        lines += ["", "Table 5 (records per macro-category): this build beside the paper",
                  f"{'Macro-category':<{mwidth}}  {'built':>9}  {'paper':>9}  {'difference':>10}  "
                  f"{'built/paper':>11}"]
        for name, built, paper, diff, ratio in table:
            shown = f"{ratio:.4f}" if ratio == ratio else "-"
            lines.append(f"{name:<{mwidth}}  {built:>9,}  {paper:>9,}  {diff:>+10,}  {shown:>11}")
        total = sum(r[1] for r in table)
        lines.append(f"{'Total':<{mwidth}}  {total:>9,}  {sum(PAPER_TABLE5.values()):>9,}  "
                     f"{total - sum(PAPER_TABLE5.values()):>+10,}")
    return "\n".join(lines)
