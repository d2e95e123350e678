"""Topic categorization: BERTopic on the real MiniLM, report against categories and macro-categories."""

from __future__ import annotations

import json
import random

import pytest

from imb_tools.infra.errors import ImbError
from imb_tools.analysis.categorize import categorize, compare_topics, topic_params

# Four forum categories with their own vocabulary; questions mix three terms each.
TOPICS = {
    "Cardiologia": ["palpitazioni", "tachicardia", "pressione arteriosa alta", "dolore al petto",
                    "extrasistoli", "aritmia cardiaca", "elettrocardiogramma", "holter cardiaco",
                    "ecocardiogramma", "infarto", "battito del cuore irregolare"],
    "Dermatologia e venereologia": ["prurito sulla pelle", "macchie rosse sulla pelle", "acne sul viso",
                                    "eczema", "neo che cambia colore", "psoriasi", "dermatite",
                                    "crema al cortisone", "orticaria", "dermatoscopia",
                                    "pelle secca e arrossata"],
    "Odontoiatria e odontostomatologia": ["mal di denti", "gengive che sanguinano", "carie",
                                          "dente del giudizio", "sensibilità dentale", "ascesso dentale",
                                          "otturazione", "devitalizzazione", "apparecchio ai denti",
                                          "ortopanoramica", "dentista"],
    "Psichiatria": ["ansia continua", "attacchi di panico", "depressione", "pensieri negativi",
                    "sbalzi d'umore", "pensieri ossessivi", "psicoterapia", "antidepressivo",
                    "ansiolitico", "psichiatra", "tristezza e apatia"],
}
TEMPLATES = ["{a}, {b} e {c}: cosa può essere?", "Ho {a} e {b}. Serve {c}?",
             "Da mesi {a}, poi {b} e {c}.", "Domanda su {a}, {b}, {c}."]


def _corpus(per_topic: int = 16, seed: int = 0) -> list[dict]:
    rnd = random.Random(seed)
    rows = []
    for cat, words in TOPICS.items():
        for i in range(per_topic):
            a, b, c = rnd.sample(words, 3)
            rows.append({"testo_domanda": TEMPLATES[i % 4].format(a=a, b=b, c=c), "categoria": cat})
    rnd.shuffle(rows)
    return [{"ID": str(i), **r} for i, r in enumerate(rows)]


@pytest.fixture(scope="module")
def categorized(minilm_path, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("HF_HUB_OFFLINE", "1")
    tmp = tmp_path_factory.mktemp("categorize")
    src = tmp / "questions.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _corpus()))
    report = categorize(src, tmp / "out.jsonl", tmp / "report", model=str(minilm_path), progress=False)
    return tmp, report


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_topics_recover_forum_categories(categorized):
    tmp, report = categorized
    cat = report["category"]
    assert cat["texts"] == 64 and cat["labels"] == 4
    assert 3 <= report["topics_found"] <= 8
    assert cat["purity"] >= 0.85 and cat["nmi"] >= 0.6
    assert cat["outlier_share"] <= 0.25
    # Each of the four categories is the majority of some topic.
    assert {t["majority"] for t in cat["per_topic"]} == set(TOPICS)
    macro = report["macro_category"]
    assert macro["labels"] == 4 and macro["purity"] >= cat["purity"]
    assert report["params"]["n_neighbors"] == 15 and report["params"]["min_cluster_size"] == 4


def test_output_table_and_report_files(categorized):
    tmp, report = categorized
    rows = [json.loads(line) for line in (tmp / "out.jsonl").read_text().splitlines()]
    assert [r["ID"] for r in rows] == [str(i) for i in range(64)]
    assert all(isinstance(r["topic"], int) and r["topic_label"].startswith(f"{r['topic']}_") for r in rows)
    table = (tmp / "report" / "contingency_category.csv").read_text().splitlines()
    assert table[0].split(",")[1:] == sorted(TOPICS)
    assert sum(int(x) for line in table[1:] for x in line.split(",")[1:]) == 64
    assert (tmp / "report" / "contingency_macro.csv").exists()
    assert "Topic" in (tmp / "report" / "topics.csv").read_text().splitlines()[0]
    assert json.loads((tmp / "report" / "report.json").read_text())["category"] == report["category"]


def test_compare_topics_counts():
    topics = [0, 0, 0, 1, 1, -1, 2]
    labels = ["a", "a", "b", "b", "b", "a", None]
    rep = compare_topics(topics, labels)
    assert rep["texts"] == 6 and rep["topics"] == 2
    assert rep["outlier_share"] == pytest.approx(1 / 6)
    assert rep["purity"] == pytest.approx(4 / 5)
    assert rep["per_topic"][0] == {"topic": 0, "size": 3, "majority": "a", "majority_share": pytest.approx(2 / 3)}


def test_topic_params_scale_with_corpus_size():
    assert topic_params(5000) == {"n_neighbors": 15, "n_components": 5, "min_cluster_size": 10,
                                  "min_samples": None}
    small = topic_params(30)
    assert small["n_neighbors"] == 7 and small["min_cluster_size"] == 3 and small["n_components"] == 3
    with pytest.raises(ImbError, match="at least 10"):
        topic_params(5)
