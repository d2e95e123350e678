"""Shared metrics: Italian-aware ROUGE/METEOR, BLEU via sacrebleu, cached batched BERTScore.

The code is the task folder's (lm_eval_tasks/imb_common/metrics.py); imb_tools.metrics names
it for the toolkit, with ImbError for its one-line errors. These tests go through that door.
"""

from __future__ import annotations

import math

import pytest

from lm_eval_tasks.imb_common import metrics as task_metrics

from imb_tools.infra.errors import ImbError
from imb_tools.metrics import bertscore, text

PREDS = [
    "Perché è così? La città è già lì.",
    "Le consiglio di rivolgersi al suo medico curante per una visita cardiologica.",
    "Il dolore toracico con febbre richiede una radiografia del torace.",
    "",
]
REFS = [
    "La città è lì, perché è così.",
    "È opportuno rivolgersi al medico curante e fare una visita cardiologica.",
    "In presenza di febbre e dolore al torace serve una radiografia.",
    "Nessuna risposta.",
]


def test_rouge_keeps_accented_italian_words():
    # rouge_score's default tokenizer drops "è", "perché" -> "perch"; ours keeps whole words.
    assert text.tokenize("Perché è così? Dell'anca") == ["perché", "è", "così", "dell", "anca"]
    assert text.rouge(["perché è così"], ["perché è così"]) == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    # Only "è" is shared: 1 unigram of 2 on each side.
    assert text.rouge(["è là"], ["è qui"])["rouge1"] == pytest.approx(0.5)
    per_item = text.rouge_per_item(PREDS, REFS)
    assert per_item["rouge1"][3] == 0.0 and all(0.0 <= v <= 1.0 for v in per_item["rougeL"])


def test_bleu_is_sacrebleu_corpus_bleu_on_0_1_scale():
    import sacrebleu

    expected = sacrebleu.corpus_bleu(PREDS, [REFS]).score / 100
    assert text.bleu(PREDS, REFS)["bleu"] == pytest.approx(expected)
    assert text.bleu(["la città è bella"], ["la città è bella"])["bleu"] == pytest.approx(1.0)


def test_meteor_matches_italian_stems_offline():
    # "malattie"/"malattia" and "cardiache"/"cardiaca" match only through the Italian stemmer.
    stemmed = text.meteor(["malattie cardiache"], ["malattia cardiaca"])["meteor"]
    exact = text.meteor(["malattia cardiaca"], ["malattia cardiaca"])["meteor"]
    unrelated = text.meteor(["osso rotto"], ["malattia cardiaca"])["meteor"]
    assert unrelated == 0.0 < stemmed <= exact
    assert stemmed > 0.4


def test_length_mismatch_is_a_one_line_error():
    with pytest.raises(ImbError, match="2 predictions but 1 references"):
        text.rouge(["a", "b"], ["a"])


def test_batched_bertscore_equals_bert_score_and_loads_once(minilm_path):
    import bert_score

    model = str(minilm_path)
    loads_before = bertscore.LOADS
    ours = bertscore.score(PREDS, REFS, model=model, num_layers=6, batch_size=2)
    # bert_score itself (transformers 5) crashes on the empty prediction; its rule is 0.
    P, R, F = bert_score.score(PREDS[:3], REFS[:3], model_type=model, num_layers=6, batch_size=64)
    P, R, F = P.tolist() + [0.0], R.tolist() + [0.0], F.tolist() + [0.0]
    assert ours["f1_items"] == pytest.approx(F, abs=1e-5)
    assert ours["precision_items"] == pytest.approx(P, abs=1e-5)
    assert ours["recall"] == pytest.approx(sum(R) / 4, abs=1e-5)
    # One document at a time (as lm-eval's meqsum does) gives the same numbers.
    one_by_one = [bertscore.score([p], [r], model=model, num_layers=6)["f1"] for p, r in zip(PREDS, REFS)]
    assert one_by_one == pytest.approx(F, abs=1e-5)
    # ... and the model was loaded once, shared by every call and by BertScorer objects.
    scorer = bertscore.BertScorer(model, 6)
    assert scorer.score(PREDS[:1], REFS[:1])["f1"] == pytest.approx(F[0], abs=1e-5)
    assert bertscore.LOADS - loads_before <= 1
    assert sum(1 for key in task_metrics._MODELS if key[0] == model) == 1


def test_bertscore_empty_and_unknown_layer(minilm_path):
    out = bertscore.score([], [], model=str(minilm_path), num_layers=6)
    assert math.isnan(out["f1"]) and out["f1_items"] == []
    with pytest.raises(ImbError, match="no default layer"):
        bertscore.BertScorer("/some/local/model")


def test_bertscore_layer_must_lie_within_the_model(minilm_path):
    """all-MiniLM-L6-v2 has 6 layers: layer 7 (or 0) fails before anything is loaded, in one line."""
    loads_before = bertscore.LOADS
    for layer in (7, 99, 0, -1):
        with pytest.raises(ImbError) as err:
            bertscore.settings_from_metadata({"bertscore_model": str(minilm_path), "bertscore_layers": layer})
        assert "\n" not in str(err.value) and "bertscore_layers" in str(err.value)
    assert "has 6 layers (give 1-6)" in str(_error(lambda: bertscore.resolve_layers(str(minilm_path), 99)))
    assert bertscore.LOADS == loads_before
    assert bertscore.settings_from_metadata({"bertscore_model": str(minilm_path),
                                             "bertscore_layers": "6"})["bertscore_layers"] == 6


def test_bertscore_model_that_is_not_a_model_is_one_line(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not a model")
    (tmp_path / "a-file.txt").write_text("x")
    for model, why in ((tmp_path / "notes", "not a model (no config.json in it)"),
                       (tmp_path / "a-file.txt", "cannot load BERTScore model"),
                       (tmp_path / "missing", "cannot load BERTScore model")):
        err = _error(lambda: bertscore.get_scorer(str(model), 6))
        assert isinstance(err, ImbError) and why in str(err) and str(model) in str(err)
        assert "\n" not in str(err)


def _error(call):
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return exc
    raise AssertionError("no error")
