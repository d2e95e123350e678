"""Topic categorization with BERTopic, as in the paper, and a report against the known categories.

The paper embedded texts with `paraphrase-multilingual-MiniLM-L12-v2`, reduced
them with UMAP and clustered them with HDBSCAN to find semantic groupings,
from which the 10 macro-categories came. Here any sentence-transformers model
(Hub id or local folder) can embed; UMAP and HDBSCAN keep BERTopic's defaults
(n_neighbors 15, 5 components, min_dist 0, cosine; min_cluster_size 10) on
large corpora and shrink them on small ones (see `topic_params`), so a
60-text test still finds topics. Topic words come from a CountVectorizer with
spaCy's Italian stopwords.

The report says how topics line up with the existing categories and with the
project's macro-categories: contingency tables (topic x category), purity
(share of clustered texts in their topic's majority category), NMI and ARI on
the clustered texts, and the share HDBSCAN left as outliers (topic -1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from imb_tools.infra.tables import set_column
from imb_tools.infra.errors import ImbError, require

log = logging.getLogger(__name__)

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2"


def topic_params(n: int, min_topic_size: int | None = None) -> dict:
    """UMAP/HDBSCAN settings for `n` texts: BERTopic's defaults, scaled down for small corpora."""
    if n < 10:
        raise ImbError(f"topic modelling needs at least 10 texts, got {n}")
    size = min_topic_size or max(3, min(10, n // 15))
    return {
        "n_neighbors": max(2, min(15, n // 4)),
        "n_components": max(2, min(5, n // 10)),
        "min_cluster_size": size,
        "min_samples": None if min_topic_size or n >= 150 else max(1, size // 2),
    }


@dataclass
class TopicResult:
    topics: list[int]
    labels: dict[int, str]
    topic_info: object  # pandas.DataFrame from BERTopic.get_topic_info()
    params: dict = field(default_factory=dict)


def fit_topics(
    texts: list[str],
    model: str = DEFAULT_EMBEDDING_MODEL,
    min_topic_size: int | None = None,
    seed: int = 42,
    batch_size: int = 32,
    progress: bool = True,
    embedder=None,
) -> TopicResult:
    """Embed `texts`, fit BERTopic (UMAP + HDBSCAN) and return each text's topic (-1 = outlier)."""
    bertopic = require("bertopic", "preprocess")
    st = require("sentence_transformers", "preprocess")
    from hdbscan import HDBSCAN
    from sklearn.feature_extraction.text import CountVectorizer
    from spacy.lang.it.stop_words import STOP_WORDS
    from umap import UMAP

    params = topic_params(len(texts), min_topic_size)
    if embedder is None:
        from imb_tools.infra.locate import check_reference

        model = check_reference(model, "embedding model", "--model")
        try:
            embedder = st.SentenceTransformer(model)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ImbError(f"cannot load embedding model {model!r}: {first}") from None
    embeddings = embedder.encode(texts, batch_size=batch_size, show_progress_bar=progress,
                                 convert_to_numpy=True)
    umap_model = UMAP(n_neighbors=params["n_neighbors"], n_components=params["n_components"],
                      min_dist=0.0, metric="cosine", random_state=seed)
    hdbscan_model = HDBSCAN(min_cluster_size=params["min_cluster_size"],
                            min_samples=params["min_samples"], metric="euclidean",
                            cluster_selection_method="eom", prediction_data=True)
    vectorizer = CountVectorizer(stop_words=sorted(STOP_WORDS), token_pattern=r"(?u)\b[^\W\d_]{3,}\b")
    topic_model = bertopic.BERTopic(
        embedding_model=embedder, umap_model=umap_model, hdbscan_model=hdbscan_model,
        vectorizer_model=vectorizer, verbose=False,
    )
    topics, _ = topic_model.fit_transform(texts, embeddings)
    info = topic_model.get_topic_info()
    labels = {int(t): str(name) for t, name in zip(info["Topic"], info["Name"])}
    params = {**params, "model": model, "seed": seed}
    return TopicResult([int(t) for t in topics], labels, info, params)


def compare_topics(topics: list[int], labels: list[str | None]) -> dict:
    """How topics line up with known labels: purity, NMI, ARI, outliers, majority per topic."""
    import pandas as pd
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    df = pd.DataFrame({"topic": topics, "label": labels}).dropna()
    clustered = df[df["topic"] != -1]
    report = {
        "texts": int(len(df)),
        "outlier_share": float((df["topic"] == -1).mean()) if len(df) else 0.0,
        "topics": int(clustered["topic"].nunique()),
        "labels": int(df["label"].nunique()),
    }
    if clustered.empty:
        return {**report, "purity": None, "nmi": None, "ari": None, "per_topic": []}
    table = pd.crosstab(clustered["topic"], clustered["label"])
    report["purity"] = float(table.max(axis=1).sum() / table.values.sum())
    report["nmi"] = float(normalized_mutual_info_score(clustered["label"], clustered["topic"]))
    report["ari"] = float(adjusted_rand_score(clustered["label"], clustered["topic"]))
    report["per_topic"] = [
        {"topic": int(t), "size": int(row.sum()), "majority": str(row.idxmax()),
         "majority_share": float(row.max() / row.sum())}
        for t, row in table.iterrows()
    ]
    return report


def contingency(topics: list[int], labels: list[str | None]):
    """Topic x label counts (pandas DataFrame), outliers included as topic -1."""
    import pandas as pd

    df = pd.DataFrame({"topic": topics, "label": labels}).dropna()
    return pd.crosstab(df["topic"], df["label"])


def categorize_dataset(
    ds,
    report_dir,
    column: str | None = None,
    category_column: str | None = None,
    model: str = DEFAULT_EMBEDDING_MODEL,
    min_topic_size: int | None = None,
    seed: int = 42,
    progress: bool = True,
    source="input",
):
    """Add `topic` and `topic_label` to a Dataset; write the comparison report. Returns (ds, report).

    ``report_dir`` receives report.json, topics.csv (BERTopic's topic info) and
    contingency_category.csv / contingency_macro.csv when categories are known.
    """
    from imb_tools.analysis.corpus import (
        CATEGORY_COLUMNS, MACRO_COLUMNS, TEXT_COLUMNS, macro_of, pick_column,
    )
    from imb_tools.infra.atomic import atomic_path
    from imb_tools.infra.atomic import write_json_atomic

    column = pick_column(ds, column, TEXT_COLUMNS, source)
    if column is None:
        raise ImbError(f"{source}: no text column found (tried {', '.join(TEXT_COLUMNS)}); use --column")
    cat_col = pick_column(ds, category_column, CATEGORY_COLUMNS, source)
    texts = ["" if t is None else str(t) for t in ds[column]]
    empty = sum(not t.strip() for t in texts)
    if empty:
        log.warning("%d empty texts in column %r are embedded as empty strings", empty, column)

    result = fit_topics(texts, model=model, min_topic_size=min_topic_size, seed=seed, progress=progress)

    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    report: dict = {"input": str(source), "column": column, "params": result.params,
                    "topics_found": len([t for t in result.labels if t != -1])}
    tables = {}
    if cat_col:
        cats = [None if c is None else str(c) for c in ds[cat_col]]
        macro_col = pick_column(ds, None, MACRO_COLUMNS, source)
        macros = list(ds[macro_col]) if macro_col else macro_of(cats)
        report["category"] = compare_topics(result.topics, cats)
        report["macro_category"] = compare_topics(result.topics, macros)
        tables = {"category": contingency(result.topics, cats),
                  "macro": contingency(result.topics, macros)}
    else:
        log.warning("no category column: topics are reported without comparison")

    with atomic_path(report_dir / "topics.csv") as tmp:
        result.topic_info.to_csv(tmp, index=False)
    for name, table in tables.items():
        with atomic_path(report_dir / f"contingency_{name}.csv") as tmp:
            table.to_csv(tmp)
    write_json_atomic(report_dir / "report.json", report)

    ds = set_column(ds, "topic", result.topics)
    ds = set_column(ds, "topic_label", [result.labels.get(t, str(t)) for t in result.topics])
    return ds, report


def categorize(in_path, out_path, report_dir, split: str | None = None, **kwargs) -> dict:
    """`imb categorize`: read a table or built dataset, add topics, write table and report."""
    from imb_tools.analysis.corpus import load_corpus
    from imb_tools.infra.ownership import claim_output_folder, refuse_overwriting_input
    from imb_tools.infra.tables import table_format, write_table

    if out_path:
        table_format(out_path)  # a bad extension fails before the model runs
        refuse_overwriting_input(in_path, out_path)
    # Only a folder of topic reports is written into (a build's report.json could be overwritten).
    claim_output_folder(report_dir, ".imb-topics-report.json", ("report.json", "topics.csv", "contingency_*.csv"),
                        {"kind": "topics-report"})
    ds, report = categorize_dataset(load_corpus(in_path, split), report_dir, source=in_path, **kwargs)
    if out_path:
        write_table(ds, out_path)
    return report
