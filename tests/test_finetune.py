"""Fine-tuning on CPU with the tiny Llama: masking, split, curriculum, loss, adapter, resume, CLI."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("peft")

QUESTIONS = [
    "Ho mal di testa da tre giorni, cosa devo fare?",
    "Mio figlio ha la febbre alta e tosse secca da ieri sera.",
    "Dopo la corsa sento un dolore al ginocchio destro.",
    "Il medico mi ha prescritto un antibiotico ma ho nausea.",
    "Ho una macchia sulla pelle che prude da settimane.",
    "Soffro di insonnia e ansia, posso prendere una camomilla?",
    "La pressione arteriosa è 150/95, devo preoccuparmi?",
    "Ho dolore toracico quando salgo le scale.",
    "Da un mese ho bruciore di stomaco dopo i pasti.",
    "La vista si è abbassata e vedo delle mosche volanti.",
    "Ho il ciclo irregolare da alcuni mesi.",
    "Sento formicolio alle mani di notte.",
]
ANSWERS = [
    "Gentile utente, le consiglio di rivolgersi al suo medico curante.",
    "Gentile utente, la febbre va controllata; senta il pediatra.",
    "Potrebbe essere un sovraccarico: riposo e ghiaccio, poi una visita ortopedica.",
    "Prenda il farmaco a stomaco pieno e ne parli con il medico curante.",
    "Serve una visita dermatologica per valutare la lesione.",
    "Una camomilla non fa male, ma l'ansia va valutata da uno specialista.",
    "Valori da ricontrollare: misuri la pressione per una settimana e senta il medico.",
    "Il dolore toracico da sforzo richiede una visita cardiologica.",
    "Può trattarsi di reflusso: eviti pasti abbondanti e senta il gastroenterologo.",
    "Le mosche volanti sono spesso benigne, ma serve un controllo oculistico.",
    "Un ciclo irregolare va valutato dal ginecologo con esami ormonali.",
    "Il formicolio notturno può dipendere dal tunnel carpale: senta un neurologo.",
]


@pytest.fixture()
def qa_ds():
    """Rows shaped like the built IMB-QA train split; ids chosen so 3 of 12 fall on the eval side."""
    import datasets

    return datasets.Dataset.from_dict(
        {"id": [f"imb-qa-{i}" for i in range(len(QUESTIONS))], "question": QUESTIONS, "answer": ANSWERS}
    )


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Two CPU threads on a loaded 2-core machine make each tiny step ~10x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_it(tmp_path_factory):
    """The tiny Llama with a tokenizer that knows these texts (short sequences) and a 10x
    embedding scale: at the default init (std 0.02) a 32-wide model's logits stay near
    uniform whatever LoRA does, so the loss could barely move."""
    import torch
    from transformers import AutoModelForCausalLM

    from imb_tools.evaluation.prompts import format_prompt
    from imb_tools.tiny_model import make_tiny_llama

    texts = (QUESTIONS + ANSWERS + [format_prompt(q) for q in QUESTIONS]) * 10
    path = make_tiny_llama(tmp_path_factory.mktemp("ft") / "tiny-it", texts=texts)
    model = AutoModelForCausalLM.from_pretrained(path)
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(10.0)
    model.save_pretrained(path)
    return path


@pytest.fixture()
def tok(tiny_llama):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_llama)


def _cfg(model, out, **kw):
    from imb_tools.finetune.train import TrainConfig

    base = dict(model=str(model), out=str(out), batch_size=4, grad_accum=1, learning_rate=1e-2,
                logging_steps=1, save_steps=100, max_length=512, max_eval_samples=4, seed=0)
    base.update(kw)
    return TrainConfig(**base)


def test_eval_division_is_a_function_of_the_id(qa_ds):
    from imb_tools.finetune.data import is_eval_id, train_eval_split

    parts = train_eval_split(qa_ds)
    train_ids, eval_ids = set(parts["train"]["id"]), set(parts["eval"]["id"])
    assert train_ids.isdisjoint(eval_ids) and train_ids | eval_ids == set(qa_ds["id"])
    shuffled = train_eval_split(qa_ds.shuffle(seed=1))
    assert set(shuffled["eval"]["id"]) == eval_ids and list(shuffled["eval"]["id"]) == list(parts["eval"]["id"])
    share = sum(is_eval_id(f"rec-{i}") for i in range(4000)) / 4000
    assert 0.18 < share < 0.22


def _sft_example(model_dir, ds, out, record_id, **cfg):
    """The collated example TRL's SFTTrainer trains on for one record (ids, labels), or None."""
    from imb_tools.finetune.train import build_trainer

    trainer, prepared, _ = build_trainer(_cfg(model_dir, out, **cfg), ds)
    rows = [r for r in trainer.train_dataset if r["id"] == record_id]
    if not rows:
        return None, prepared
    keep = {k: v for k, v in rows[0].items() if k in ("input_ids", "labels", "completion_mask")}
    batch = trainer.data_collator([keep])
    return {"input_ids": batch["input_ids"][0].tolist(), "labels": batch["labels"][0].tolist()}, prepared


@pytest.fixture(scope="module")
def tiny_plain(tiny_it, tmp_path_factory):
    """The tiny model with no chat template: a base model, prompted with plain text."""
    import shutil

    from transformers import AutoTokenizer

    path = tmp_path_factory.mktemp("plain") / "tiny-plain"
    shutil.copytree(tiny_it, path)
    tok = AutoTokenizer.from_pretrained(path)
    tok.chat_template = None
    for leftover in path.glob("chat_template*"):
        leftover.unlink()
    tok.save_pretrained(path)
    assert not getattr(AutoTokenizer.from_pretrained(path), "chat_template", None)
    return path


@pytest.mark.parametrize("chat", [True, False])
def test_only_answer_tokens_carry_loss(tiny_it, tiny_plain, qa_ds, tmp_path, chat):
    """What SFTTrainer really trains on: prompt tokens masked, the answer and its end marker learned."""
    from transformers import AutoTokenizer

    from imb_tools.evaluation.prompts import format_prompt
    from imb_tools.finetune.data import is_eval_id, prompt_token_ids, render_prompt

    model_dir = tiny_it if chat else tiny_plain
    tok = AutoTokenizer.from_pretrained(model_dir)
    i = next(i for i in range(len(QUESTIONS)) if not is_eval_id(f"imb-qa-{i}"))
    q, a, rid = QUESTIONS[i], ANSWERS[i], f"imb-qa-{i}"
    prompt = render_prompt(tok, q)
    # the one IMB-QA prompt, inside the chat template's user turn or alone for a base model
    assert ("<|assistant|>" in prompt) == chat and (format_prompt(q) in prompt)
    assert (prompt == format_prompt(q)) != chat
    n_prompt = len(prompt_token_ids(tok, prompt))

    ex, _ = _sft_example(model_dir, qa_ds, tmp_path / "a", rid, max_length=512)
    labels, ids = ex["labels"], ex["input_ids"]
    assert labels[:n_prompt] == [-100] * n_prompt
    assert labels[n_prompt:] == ids[n_prompt:] and -100 not in labels[n_prompt:]
    answer_text = tok.decode(labels[n_prompt:])
    assert answer_text.strip().startswith(a) and tok.eos_token in answer_text
    assert tok.decode(ids[:n_prompt]) == prompt or not chat
    # too long: the answer's end is cut; a prompt that fills max_length leaves no example
    cut, _ = _sft_example(model_dir, qa_ds, tmp_path / "b", rid, max_length=n_prompt + 3)
    assert len(cut["input_ids"]) == n_prompt + 3 and sum(x != -100 for x in cut["labels"]) == 3
    gone, prepared = _sft_example(model_dir, qa_ds, tmp_path / "c", rid, max_length=n_prompt)
    assert gone is None and rid in prepared.stats["skipped_too_long"]["first_ids"]


def test_curriculum_follows_difficulty_without_shuffling(tiny_it, qa_ds, tmp_path):
    from torch.utils.data import SequentialSampler

    from imb_tools.finetune.train import build_trainer

    scores = [float((7 * i) % len(qa_ds)) for i in range(len(qa_ds))]  # a scrambled order
    ds = qa_ds.add_column("difficulty", scores)
    trainer, prepared, _ = build_trainer(_cfg(tiny_it, tmp_path, curriculum=True, batch_size=1), ds)
    order = list(prepared.train["difficulty"])
    assert order == sorted(order) and len(set(order)) == len(order) > 5
    assert prepared.stats["difficulty_source"] == "the dataset's difficulty column"
    assert isinstance(trainer._get_train_sampler(), SequentialSampler)
    seen = [batch["input_ids"][0].tolist() for batch in trainer.get_train_dataloader()]
    assert seen == list(trainer.train_dataset["input_ids"])
    assert list(trainer.train_dataset["id"]) == list(prepared.train["id"])  # TRL kept the order


def test_curriculum_scores_records_with_the_difficulty_index(qa_ds):
    from imb_tools.finetune.curriculum import order_by_difficulty
    from imb_tools.analysis.difficulty import text_difficulty

    ordered, source = order_by_difficulty(qa_ds)
    assert "text_difficulty" in source
    index = dict(zip(qa_ds["id"], text_difficulty(list(qa_ds["question"]))["difficulty_index"]))
    assert [index[i] for i in ordered["id"]] == sorted(index.values())
    assert list(ordered["difficulty"]) == sorted(index.values())


def test_loss_falls_and_adapter_saves_and_loads(tiny_it, qa_ds, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from imb_tools.finetune.train import train

    out = tmp_path / "run"
    handful = qa_ds.select([0, 1, 2, 7])  # 3 to train on (one full batch per step), 1 held out
    summary = train(_cfg(tiny_it, out, max_steps=30), handful)
    assert summary["data"]["train_examples"] == 3 and summary["data"]["eval_examples"] == 1
    losses = [e["loss"] for e in summary["loss_curve"]]
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5

    adapter = out / "adapter"
    run = json.loads((adapter / "run.json").read_text())
    assert run["global_step"] == 30 and run["loss_curve"] == summary["loss_curve"]
    assert "eval_loss" in run["eval"]
    ex, _ = _sft_example(tiny_it, handful, tmp_path / "probe", "imb-qa-0", max_length=512)
    batch = {k: torch.tensor([v]) for k, v in ex.items()}
    base = AutoModelForCausalLM.from_pretrained(tiny_it)
    with torch.no_grad():
        base_loss = base(**batch).loss.item()
        tuned = PeftModel.from_pretrained(base, adapter).eval()
        tuned_loss = tuned(**batch).loss.item()
    assert tuned_loss < base_loss - 0.5


class _KillAt:
    """Stands in for a kill: raises once training reaches `step`."""

    def __init__(self, step):
        self.step = step

    def __getattr__(self, name):  # every other TrainerCallback hook: no-op
        return lambda *a, **k: None

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt("killed")


class _Steps:
    def __init__(self):
        self.steps = []

    def __getattr__(self, name):
        return lambda *a, **k: None

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


def test_resume_continues_from_the_checkpoint(tiny_it, qa_ds, tmp_path):
    from imb_tools.finetune.train import train

    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tiny_it, out, max_steps=4, save_steps=2), qa_ds, callbacks=[_KillAt(3)])
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]
    assert not (out / "adapter").exists()

    steps = _Steps()
    summary = train(_cfg(tiny_it, out, max_steps=6, save_steps=2), qa_ds, callbacks=[steps])
    assert summary["resumed_from"].endswith("checkpoint-2")
    assert steps.steps == [3, 4, 5, 6] and summary["global_step"] == 6
    assert [e["step"] for e in summary["loss_curve"]] == [1, 2, 3, 4, 5, 6]
    # the same command again: the run is finished, nothing is trained (no step 7)
    again = _Steps()
    summary = train(_cfg(tiny_it, out, max_steps=6, save_steps=2), qa_ds, callbacks=[again])
    assert again.steps == [] and summary["global_step"] == 6
    assert not any(int(p.name.split("-")[1]) > 6 for p in out.glob("checkpoint-*"))


@pytest.mark.parametrize("cut", ["optimizer.pt", "adapter_model.safetensors", "trainer_state.json"])
def test_a_cut_last_checkpoint_falls_back_to_the_one_before(tiny_it, qa_ds, tmp_path, cut):
    """A kill or a full disk while checkpoint-4 was being saved: resuming uses checkpoint-2."""
    from imb_tools.finetune.train import last_checkpoint, train

    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tiny_it, out, max_steps=6, save_steps=2, save_total_limit=3), qa_ds, callbacks=[_KillAt(5)])
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert last_checkpoint(out).endswith("checkpoint-4")
    victim = out / "checkpoint-4" / cut
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    assert last_checkpoint(out).endswith("checkpoint-2")

    summary = train(_cfg(tiny_it, out, max_steps=6, save_steps=2, save_total_limit=3), qa_ds)
    assert summary["resumed_from"].endswith("checkpoint-2") and summary["global_step"] == 6


def test_cli_train_eval_merge(tiny_it, built_qa, minilm_path, tmp_path, capsys):
    """The built demo dataset end to end: train (curriculum), Table 8 eval, merge."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from imb_tools.cli import main

    data, out, merged = built_qa, tmp_path / "ft", tmp_path / "merged"
    assert main(["finetune", "--model", str(tiny_it), "--data", str(data), "--out", str(out),
                 "--max-steps", "3", "--batch-size", "2", "--grad-accum", "1", "--lr", "1e-2",
                 "--logging-steps", "1", "--max-length", "256", "--curriculum"]) == 0
    text = capsys.readouterr().out
    assert "trained 3 steps" in text and "curriculum order: imb_tools.analysis.difficulty" in text
    run = json.loads((out / "adapter" / "run.json").read_text())
    assert run["data"]["train_records"] + run["data"]["eval_records"] == run["data"]["records"]

    assert main(["finetune", "eval", "--adapter", str(out), "--data", str(data), "--limit", "2",
                 "--max-new-tokens", "6", "--bertscore-model", str(minilm_path),
                 "--bertscore-layers", "6"]) == 0
    text = capsys.readouterr().out
    assert "BERTScore F1" in text and "Yes" in text and "No" in text
    report = json.loads((out / "eval_table8.json").read_text())
    assert report["items"] == 2
    from bert_score import BERTScorer

    direct = BERTScorer(model_type=str(minilm_path), num_layers=6)  # not through imb_tools.metrics
    refs = [ex["reference"] for ex in report["examples"]]
    for row in ("base", "finetuned"):
        assert set(report["scores"][row]) >= {"rouge1", "rouge2", "rougeL", "bleu", "meteor", "bertscore_f1"}
        preds = [ex[row] for ex in report["examples"]]
        kept = [i for i, p in enumerate(preds) if p.strip()]  # bert_score's rule: an empty text scores 0
        f1 = direct.score([preds[i] for i in kept], [refs[i] for i in kept])[2].tolist() if kept else []
        assert report["scores"][row]["bertscore_f1"] == pytest.approx(sum(f1) / len(preds), abs=1e-4)

    assert main(["finetune", "merge", "--adapter", str(out), "--out", str(merged)]) == 0
    ids = torch.tensor([[1, 40, 41, 42, 43]])
    with torch.no_grad():
        want = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_it), out / "adapter")(ids).logits
        got = AutoModelForCausalLM.from_pretrained(merged)(ids).logits
    assert torch.allclose(want, got, atol=1e-4)


def test_cli_bad_input_is_one_line_error(tiny_llama, tmp_path, capsys):
    from imb_tools.cli import main

    assert main(["finetune", "--model", str(tiny_llama), "--data", str(tmp_path / "nope"),
                 "--out", str(tmp_path / "o")]) == 2
    assert main(["finetune", "--data", str(tmp_path)]) == 2
    assert main(["finetune", "eval", "--adapter", str(tmp_path), "--data", str(tmp_path)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("imb: error:")]
    assert len(errors) == 3 and "nope" in errors[0] and "--model" in errors[1] and "adapter" in errors[2]


def test_cli_refuses_settings_that_would_train_something_else(tiny_llama, built_qa, tmp_path, capsys):
    """--max-steps 0 trained one step; a module name the model lacks was a peft traceback."""
    from imb_tools.cli import main

    base = ["finetune", "--model", str(tiny_llama), "--data", str(built_qa), "--out", str(tmp_path / "o")]
    for bad in (["--max-steps", "0"], ["--max-steps", "-1"], ["--eval-fraction", "1"], ["--lr", "nan"],
                ["--warmup-steps", "-2"], ["--lora-dropout", "1.5"], ["--target-modules", " "]):
        assert main([*base, *bad]) == 2, bad
        assert f"argument {bad[0]}" in capsys.readouterr().err, bad
    assert main([*base, "--target-modules", "q_proj,nonexistent", "--max-steps", "1"]) == 2
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("imb: error:")]
    assert "'nonexistent'" in line and "q_proj" in line and "all-linear" in line
    assert not list((tmp_path / "o").glob("checkpoint-*"))


def test_resume_refuses_other_data_or_settings(tiny_it, built_qa, sample_qa_raw, tmp_path, capsys):
    """Issue 19's shape: a run on build A resumed with --data B is refused in one line naming
    both; so is a resume with other training settings. Where to stop (--max-steps) may grow,
    and --no-resume starts over on B, its old checkpoints gone."""
    from imb_tools.cli import main
    from imb_tools.data.built import require_build

    other = tmp_path / "other"
    assert main(["build", "qa", "--raw", str(sample_qa_raw), "--out", str(other), "--no-progress",
                 "--test-fraction", "0.02", "--validation-fraction", "0.02"]) == 0
    a, b = require_build(built_qa, "qa").fingerprint, require_build(other, "qa").fingerprint
    assert a != b
    out = tmp_path / "ft"
    base = ["finetune", "--model", str(tiny_it), "--out", str(out), "--batch-size", "2", "--grad-accum", "1",
            "--max-length", "256", "--save-steps", "2", "--logging-steps", "1"]
    assert main([*base, "--data", str(built_qa), "--max-steps", "2"]) == 0
    marker = json.loads((out / ".imb-finetune.json").read_text())
    assert marker["run"]["data"] == {"dataset": "imb-qa", "fingerprint": a}
    assert marker["run"]["settings"]["max_steps"] == 2 and marker["run"]["settings"]["learning_rate"] == 2.97e-4
    capsys.readouterr()

    refused = {
        "other data": (["--data", str(other), "--max-steps", "4"], [a, b, "checkpoint-2", "--no-resume"]),
        "other lr": (["--data", str(built_qa), "--max-steps", "4", "--lr", "0.01"], ["--lr 0.000297 -> 0.01"]),
        "other schedule": (["--data", str(built_qa), "--max-steps", "4", "--lr-scheduler", "linear"],
                           ["--lr-scheduler 'constant' -> 'linear'"]),
        "below the checkpoint": (["--data", str(built_qa), "--max-steps", "1"], ["below the step of checkpoint-2"]),
    }
    for name, (args, words) in refused.items():
        assert main([*base, *args]) == 2, name
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("imb: error:")]
        assert len(errors) == 1 and all(w in errors[0] for w in words), (name, errors)
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]  # nothing touched

    assert main([*base, "--data", str(built_qa), "--max-steps", "4", "--save-total-limit", "3"]) == 0
    assert "trained 4 steps" in capsys.readouterr().out
    run = json.loads((out / "adapter" / "run.json").read_text())
    assert run["resumed_from"].endswith("checkpoint-2") and run["build"]["fingerprint"] == a
    assert [e["step"] for e in run["loss_curve"]] == [1, 2, 3, 4]

    assert main([*base, "--data", str(other), "--max-steps", "2", "--no-resume"]) == 0
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]  # checkpoint-4 of A is gone
    assert json.loads((out / ".imb-finetune.json").read_text())["run"]["data"]["fingerprint"] == b
    run = json.loads((out / "adapter" / "run.json").read_text())
    assert run["resumed_from"] is None and run["build"]["fingerprint"] == b
    # Evaluated on another build than it was trained on: refused before any model loads.
    capsys.readouterr()
    assert main(["finetune", "eval", "--adapter", str(out), "--data", str(built_qa), "--limit", "1"]) == 2
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("imb: error:")]
    assert b in line and a in line and "--allow-other-build" in line
