"""Question difficulty, as in the paper's Figures 2 (IMB-QA) and 3 (IMB-MCQA).

IMB-QA (open questions): a text index from length, terminology and syntax,
the paper's three ingredients. For each text (spaCy's rule-based Italian
tokenizer and sentencizer, no model download):

- ``length``: log(1 + words); the log keeps a few very long posts from
  dominating;
- ``term_density``: share of words that are medical terms, by the project's
  list `medical_terms.txt` (exact words, suffixes such as -ite, -ectomia,
  prefixes such as cardio-, and exclusions for everyday words they catch);
- ``sentence_length``: mean words per sentence;
- ``subordination``: subordinate-clause markers (che, perché, sebbene,
  qualora, cui...) per sentence.

Each component becomes a z-score over the analysed corpus (mean 0, standard
deviation 1; a constant component scores 0) and the index is their mean,
with equal weights. A question is above average when its index exceeds the
corpus mean of the index.

IMB-MCQA: difficulty is 1 - percentage_correct (the share of exam takers who
got it wrong); above average when it exceeds the mean over questions that
have a percentage. Questions without one are counted as missing, not
dropped. Raw percentages like "49%" or 49 are read as 0.49.

The report gives, per category and per macro-category, the share of
questions above average, as CSV tables and bar charts (PNG).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from imb_tools.data.schema import MCQA_ALIASES
from imb_tools.infra.errors import ImbError

TERMS_FILE = Path(__file__).with_name("medical_terms.txt")
MIN_AFFIX_REST = 4  # letters a suffix/prefix match must leave, so "vite" is not "-ite"

SUBORDINATE_MARKERS = frozenset({
    "che", "perché", "poiché", "giacché", "siccome", "sebbene", "benché", "nonostante",
    "malgrado", "affinché", "purché", "qualora", "laddove", "allorché", "finché",
    "cosicché", "quando", "mentre", "se", "cui", "quale", "quali", "dove", "ove",
})
COMPONENTS = ("length", "term_density", "sentence_length", "subordination")
# The built column first, then every raw spelling the build itself accepts.
PERCENT_COLUMNS = ("percentage_correct", *(a for a in MCQA_ALIASES["percentage"] if a != "percentage_correct"))


@dataclass(frozen=True)
class MedicalTerms:
    """The term list: exact words, suffixes, prefixes and exclusions."""

    words: frozenset
    suffixes: tuple
    prefixes: tuple
    exclude: frozenset

    def __contains__(self, word: str) -> bool:
        w = word.lower()
        if w in self.exclude:
            return False
        if w in self.words:
            return True
        return any(w.endswith(s) and len(w) - len(s) >= MIN_AFFIX_REST for s in self.suffixes) or any(
            w.startswith(p) and len(w) - len(p) >= MIN_AFFIX_REST for p in self.prefixes
        )


def load_terms(path: str | Path | None = None) -> MedicalTerms:
    """Read a term list in the format documented at the top of medical_terms.txt."""
    return _load_terms(str(path or TERMS_FILE))


@lru_cache(maxsize=4)
def _load_terms(path: str) -> MedicalTerms:
    words, suffixes, prefixes, exclude = set(), [], [], set()
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ImbError(f"cannot read term list {path}: {exc.strerror}") from None
    for line in lines:
        entry = line.strip().lower()
        if not entry or entry.startswith("#"):
            continue
        if entry.startswith("!"):
            exclude.add(entry[1:])
        elif entry.startswith("-"):
            suffixes.append(entry[1:])
        elif entry.endswith("-"):
            prefixes.append(entry[:-1])
        else:
            words.add(entry)
    return MedicalTerms(frozenset(words), tuple(suffixes), tuple(prefixes), frozenset(exclude))


_WORD = re.compile(r"[^\W\d_]", re.UNICODE)


@lru_cache(maxsize=1)
def _nlp():
    import spacy

    nlp = spacy.blank("it")
    nlp.add_pipe("sentencizer")
    return nlp


def text_features(texts, terms: MedicalTerms | None = None, batch_size: int = 256,
                  progress: bool = False) -> list[dict]:
    """The raw (un-normalized) components of each text, plus word and sentence counts."""
    from tqdm.auto import tqdm

    terms = terms or load_terms()
    rows = []
    docs = _nlp().pipe(("" if t is None else str(t) for t in texts), batch_size=batch_size)
    for doc in tqdm(docs, total=len(texts), desc="difficulty", unit="text", disable=not progress):
        words = [t.text.lower() for t in doc if _WORD.search(t.text)]
        n_words = len(words)
        n_sent = sum(1 for s in doc.sents if any(_WORD.search(t.text) for t in s)) or 1
        rows.append({
            "words": n_words,
            "sentences": n_sent if n_words else 0,
            "length": math.log1p(n_words),
            "term_density": sum(w in terms for w in words) / n_words if n_words else 0.0,
            "sentence_length": n_words / n_sent,
            "subordination": sum(w in SUBORDINATE_MARKERS for w in words) / n_sent,
        })
    return rows


def text_difficulty(texts, terms: MedicalTerms | None = None, progress: bool = False):
    """A DataFrame: components, their z-scores, `difficulty_index` and `above_average`."""
    import pandas as pd

    df = pd.DataFrame(text_features(texts, terms, progress=progress),
                      columns=["words", "sentences", *COMPONENTS])
    for comp in COMPONENTS:
        std = df[comp].std(ddof=0)
        df[f"z_{comp}"] = (df[comp] - df[comp].mean()) / std if std > 0 else 0.0
    df["difficulty_index"] = df[[f"z_{c}" for c in COMPONENTS]].mean(axis=1)
    df["above_average"] = df["difficulty_index"] > df["difficulty_index"].mean()
    return df


def parse_percentage(value) -> float | None:
    """A share in [0, 1] by the build's one rule (data.normalize.parse_percentage); None when
    missing or unreadable, because a difficulty table scores what it can and counts the rest."""
    from imb_tools.data.normalize import parse_percentage as parse

    try:
        return parse(value)
    except (TypeError, ValueError):
        return None


def accuracy_difficulty(percentages):
    """A DataFrame: `difficulty_index` = 1 - share correct, and `above_average` (None when missing)."""
    import pandas as pd

    shares = [parse_percentage(v) for v in percentages]
    df = pd.DataFrame({"percentage_correct": pd.array(shares, dtype="Float64")})
    df["difficulty_index"] = 1 - df["percentage_correct"]
    mean = df["difficulty_index"].mean()
    df["above_average"] = (df["difficulty_index"] > mean).astype("boolean")
    df.loc[df["difficulty_index"].isna(), "above_average"] = pd.NA
    return df


def share_above_average(groups, above) -> "pd.DataFrame":  # noqa: F821
    """Per group: questions, questions above average, their share in %, sorted by share."""
    import pandas as pd

    df = pd.DataFrame({"group": list(groups), "above": pd.array(list(above), dtype="boolean")})
    df = df.dropna()
    table = df.groupby("group")["above"].agg(questions="size", above_average="sum").reset_index()
    table["share_above_average"] = 100 * table["above_average"] / table["questions"]
    return table.sort_values(["share_above_average", "group"], ascending=[False, True]).reset_index(drop=True)


def plot_shares(table, path: str | Path, title: str, overall: float | None = None) -> Path:
    """A horizontal bar chart of `share_above_average` per group, written atomically as PNG."""
    import matplotlib

    from imb_tools.infra.atomic import atomic_path

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    rows = table.iloc[::-1]
    labels = [f"{g} (n={n})" for g, n in zip(rows["group"], rows["questions"])]
    fig, ax = plt.subplots(figsize=(10, max(2.5, 0.3 * len(rows) + 1.4)))
    bars = ax.barh(labels, rows["share_above_average"], color="#4C72B0")
    ax.bar_label(bars, fmt="%.1f%%", padding=2, fontsize=7)
    if overall is not None:
        ax.axvline(overall, color="#C44E52", linestyle="--", label=f"all questions: {overall:.1f}%")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("% of questions above average difficulty")
    ax.set_xlim(0, 105)
    ax.tick_params(axis="y", labelsize=7 if len(rows) > 20 else 9)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120, format="png")
    finally:
        plt.close(fig)
    return path


def difficulty(
    in_path,
    report_dir,
    out_path=None,
    column: str | None = None,
    category_column: str | None = None,
    split: str | None = None,
    mode: str = "auto",
    terms_path=None,
    progress: bool = True,
) -> dict:
    """Score every question, write per-category shares (CSV + PNG) and report.json.

    ``mode`` is "text" (IMB-QA index), "accuracy" (IMB-MCQA, from
    percentage_correct) or "auto" (accuracy when that column exists).
    """
    from imb_tools.analysis.corpus import (
        CATEGORY_COLUMNS, MACRO_COLUMNS, TEXT_COLUMNS, load_corpus, macro_of, pick_column,
    )
    from imb_tools.infra.atomic import atomic_path, write_json_atomic
    from imb_tools.infra.tables import write_table

    if mode not in ("auto", "text", "accuracy"):
        raise ImbError(f"unknown difficulty mode {mode!r}: use auto, text or accuracy")
    ds = load_corpus(in_path, split)
    pct_col = pick_column(ds, None, PERCENT_COLUMNS, in_path)
    if mode == "auto":
        mode = "accuracy" if pct_col else "text"
    if mode == "accuracy":
        if not pct_col:
            raise ImbError(f"{in_path}: no percentage column (tried {', '.join(PERCENT_COLUMNS)})")
        scores = accuracy_difficulty(ds[pct_col])
        source = pct_col
    else:
        source = pick_column(ds, column, TEXT_COLUMNS, in_path)
        if source is None:
            raise ImbError(f"{in_path}: no question column (tried {', '.join(TEXT_COLUMNS)}); use --column")
        terms = load_terms(terms_path) if terms_path else load_terms()
        scores = text_difficulty(ds[source], terms, progress=progress)

    from imb_tools.infra.ownership import claim_output_folder, refuse_overwriting_input

    refuse_overwriting_input(in_path, out_path)
    # Only a folder of difficulty reports is written into (a build's report.json was overwritten).
    report_dir = claim_output_folder(report_dir, ".imb-difficulty-report.json",
                                     ("report.json", "difficulty_by_*.csv", "difficulty_by_*.png"),
                                     {"kind": "difficulty-report"})
    scored = scores["difficulty_index"].notna()
    above = scores["above_average"]
    overall = float(100 * above[scored].astype(bool).mean()) if scored.any() else None
    report = {
        "input": str(in_path), "mode": mode, "source_column": source,
        "questions": len(scores), "scored": int(scored.sum()),
        "missing": int((~scored).sum()),
        "mean_index": float(scores.loc[scored, "difficulty_index"].mean()) if scored.any() else None,
        "share_above_average": overall,
        "tables": {},
    }
    if mode == "text":
        report["mean_components"] = {c: float(scores[c].mean()) for c in COMPONENTS}

    cat_col = pick_column(ds, category_column, CATEGORY_COLUMNS, in_path)
    groupings = {}
    if cat_col:
        cats = [None if c is None else str(c) for c in ds[cat_col]]
        groupings["category"] = cats
        macro_col = pick_column(ds, None, MACRO_COLUMNS, in_path)
        macros = list(ds[macro_col]) if macro_col else (macro_of(cats) if mode == "text" else [])
        if any(m is not None for m in macros):
            groupings["macro_category"] = macros
    dataset_name = "IMB-MCQA" if mode == "accuracy" else "IMB-QA"
    for name, groups in groupings.items():
        table = share_above_average(groups, above)
        csv_path = report_dir / f"difficulty_by_{name}.csv"
        with atomic_path(csv_path) as tmp:
            table.to_csv(tmp, index=False)
        png = plot_shares(table, report_dir / f"difficulty_by_{name}.png",
                          f"{dataset_name}: questions above average difficulty by "
                          f"{name.replace('_', '-')}", overall)
        report["tables"][name] = {"csv": str(csv_path), "png": str(png),
                                  "rows": table.to_dict(orient="records")}
    write_json_atomic(report_dir / "report.json", report)

    if out_path:
        import pandas as pd

        from imb_tools.infra.tables import set_column

        index = [None if pd.isna(v) else float(v) for v in scores["difficulty_index"]]
        flags = [None if pd.isna(v) else bool(v) for v in scores["above_average"]]
        ds = set_column(set_column(ds, "difficulty_index", index), "difficulty_above_average", flags)
        write_table(ds, out_path)
    return report
