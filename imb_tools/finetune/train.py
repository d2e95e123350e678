"""LoRA fine-tuning on IMB-QA with the transformers Trainer; QLoRA (+ unsloth) on CUDA.

Paper settings (Section 5): 6 epochs, a fixed learning rate of 2.97e-4,
fp16, cross-entropy, curriculum learning, Unsloth on a T4. Here:
- CPU: plain LoRA through peft, fp32; unsloth and bitsandbytes are never imported.
- CUDA: 4-bit QLoRA; through unsloth's FastLanguageModel when it is installed,
  else transformers + bitsandbytes; plain LoRA when neither is wanted/installed.
- Checkpoints every `save_steps`; a rerun with the same `--out` resumes from
  the last one (optimizer, scheduler, RNG and data position included).
- Multi-GPU: `accelerate launch -m imb_tools.cli finetune ...` (Trainer does DDP).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from imb_tools.infra.errors import ImbError, require
from imb_tools.infra.atomic import atomic_dir, write_json_atomic
from imb_tools.finetune.artifacts import ADAPTER_DIR, RUN_FILE

log = logging.getLogger(__name__)

# Linear layers of Llama/Gemma/Qwen blocks; unsloth wants names, not "all-linear".
_DECODER_LINEARS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class TrainConfig:
    model: str
    out: str
    data: str | None = None
    epochs: float = 6.0  # paper
    learning_rate: float = 2.97e-4  # paper
    lr_scheduler: str = "constant"  # paper: "a fixed learning rate"
    warmup_steps: int = 0
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = 4
    grad_accum: int = 4
    max_length: int = 1024
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: str = "all-linear"
    save_steps: int = 200
    save_total_limit: int = 2
    logging_steps: int = 10
    eval_fraction: float = 0.2  # paper: 80/20 train/eval
    max_eval_samples: int | None = 200
    curriculum: bool = False
    resume: bool = True
    seed: int = 42
    quantization: str = "auto"  # auto | 4bit | none (CUDA only; auto = 4bit when possible)
    unsloth: str = "auto"  # auto | yes | no (CUDA only)
    precision: str = "auto"  # auto (fp16 on CUDA, fp32 on CPU) | fp16 | bf16 | fp32
    gradient_checkpointing: bool = False


@dataclass
class Plan:
    """What this machine will actually run, decided once and recorded in run.json."""

    device: str
    quant_4bit: bool
    unsloth: bool
    precision: str


def make_plan(cfg: TrainConfig) -> Plan:
    import torch

    cuda = torch.cuda.is_available()
    if not cuda:
        if cfg.quantization == "4bit":
            raise ImbError("--quantization 4bit needs a CUDA GPU (bitsandbytes); use --quantization none on CPU")
        if cfg.unsloth == "yes":
            raise ImbError("--unsloth yes needs a CUDA GPU; leave it at auto on CPU")
        if cfg.precision in ("fp16", "bf16"):
            raise ImbError(f"--precision {cfg.precision} needs a CUDA GPU; CPU training runs in fp32")
        return Plan("cpu", False, False, "fp32")
    has_unsloth = importlib.util.find_spec("unsloth") is not None
    has_bnb = importlib.util.find_spec("bitsandbytes") is not None
    if cfg.unsloth == "yes" and not has_unsloth:
        require("unsloth", "gpu")
    if cfg.quantization == "4bit" and not (has_bnb or has_unsloth):
        require("bitsandbytes", "gpu")
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    use_unsloth = cfg.unsloth == "yes" or (cfg.unsloth == "auto" and has_unsloth and not distributed)
    quant = cfg.quantization == "4bit" or (cfg.quantization == "auto" and (has_bnb or use_unsloth))
    precision = "fp16" if cfg.precision == "auto" else cfg.precision
    return Plan("cuda", quant, use_unsloth, precision)


def torch_dtype(precision: str):
    """fp16 / bf16 / fp32 -> the torch dtype."""
    import torch

    return {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[precision]


def _lora_config(cfg: TrainConfig):
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=cfg.target_modules if cfg.target_modules == "all-linear" else cfg.target_modules.split(","),
        task_type="CAUSAL_LM",
    )


def check_target_modules(model, cfg: TrainConfig) -> None:
    """Every name in --target-modules must be a module of the model (peft matches a name
    against the last part of a module's path), or a one-line error listing its linear layers."""
    if cfg.target_modules == "all-linear":
        return
    import torch

    wanted = [t.strip() for t in cfg.target_modules.split(",")]
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules() if n}
    missing = [t for t in wanted if not t or t not in names]
    if missing:
        linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                         if isinstance(m, torch.nn.Linear) and n})
        raise ImbError(f"--target-modules {cfg.target_modules}: no module named {', '.join(repr(m) for m in missing)} "
                       f"in {cfg.model} (its linear layers: {', '.join(linear) or 'none'}; or 'all-linear')")


def _load_unsloth(cfg: TrainConfig, plan: Plan):
    """unsloth's fast path (CUDA only); imported here so that CPU runs never touch it."""
    from unsloth import FastLanguageModel  # noqa: I001 - must come before transformers' patches apply

    dtype = torch_dtype(plan.precision)
    model, tok = FastLanguageModel.from_pretrained(
        model_name=cfg.model, max_seq_length=cfg.max_length, dtype=dtype, load_in_4bit=plan.quant_4bit
    )
    targets = _DECODER_LINEARS if cfg.target_modules == "all-linear" else cfg.target_modules.split(",")
    check_target_modules(model, cfg)
    model = FastLanguageModel.get_peft_model(
        model,
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=targets,
        use_gradient_checkpointing="unsloth" if cfg.gradient_checkpointing else False,
        random_state=cfg.seed,
    )
    return model, tok


def _load_transformers(cfg: TrainConfig, plan: Plan):
    """transformers + peft: the CPU path, and CUDA without unsloth (bitsandbytes 4-bit when asked)."""
    import torch
    from peft import get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch_dtype(plan.precision)
    kwargs: dict = {"dtype": dtype}
    if plan.quant_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype if dtype != torch.float32 else torch.float16,
        )
        # One full copy per process under DDP (accelerate launch): pin it to this rank's GPU.
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    from imb_tools.infra.locate import check_reference

    check_reference(cfg.model, "model", "--model")
    try:
        tok = AutoTokenizer.from_pretrained(cfg.model)
        model = AutoModelForCausalLM.from_pretrained(cfg.model, **kwargs)
    except OSError as exc:
        raise ImbError(f"cannot load model '{cfg.model}': {str(exc).splitlines()[0]}") from None
    check_target_modules(model, cfg)
    if plan.quant_4bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    elif cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    return get_peft_model(model, _lora_config(cfg)), tok


def load_for_training(cfg: TrainConfig, plan: Plan):
    model, tok = _load_unsloth(cfg, plan) if plan.unsloth else _load_transformers(cfg, plan)
    if tok.pad_token is None:  # Llama-3 ships none; padded positions are masked anyway
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    return model, tok


def training_arguments(cfg: TrainConfig, plan: Plan):
    """TRL's SFTConfig (TrainingArguments plus the SFT settings), every default that matters
    set here: TRL's own would turn gradient checkpointing and bf16 on by themselves."""
    from trl import SFTConfig

    return SFTConfig(
        completion_only_loss=True,  # loss on the answer tokens only
        max_length=cfg.max_length,  # longer examples lose the end of their answer
        truncation_mode="keep_start",
        packing=False,
        gradient_checkpointing=cfg.gradient_checkpointing,
        pad_to_multiple_of=8 if plan.device == "cuda" else None,
        output_dir=cfg.out,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_steps,
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        eval_strategy="no",  # eval loss is computed once at the end; Table 8 metrics by `imb finetune eval`
        # Curriculum: keep the easy -> hard order instead of shuffling.
        train_sampling_strategy="sequential" if cfg.curriculum else "random",
        fp16=plan.precision == "fp16",
        bf16=plan.precision == "bf16",
        use_cpu=plan.device == "cpu",
        dataloader_pin_memory=plan.device == "cuda",
        ddp_find_unused_parameters=False,
        seed=cfg.seed,
        report_to="none",
        save_only_model=False,  # optimizer/scheduler/RNG are what makes resuming exact
    )


def checkpoint_problem(folder: Path) -> str | None:
    """Why a checkpoint folder cannot be resumed from (a kill mid-save leaves one cut), or None.

    Checks what resuming reads: the trainer state parses, every safetensors file opens with
    its full header, and every torch file (optimizer, scheduler, RNG) is a complete zip.
    """
    import zipfile

    state = folder / "trainer_state.json"
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "trainer_state.json missing or cut"
    for file in folder.glob("*.safetensors"):
        try:
            from safetensors import safe_open

            with safe_open(str(file), framework="pt") as handle:
                names = list(handle.keys())
            size = file.stat().st_size
            with open(file, "rb") as fh:
                header = int.from_bytes(fh.read(8), "little")
            if not names or size < 8 + header:
                return f"{file.name} is cut"
        except Exception:  # noqa: BLE001 - any failure to open means it cannot be resumed
            return f"{file.name} does not open"
    for file in list(folder.glob("*.pt")) + list(folder.glob("*.pth")) + list(folder.glob("*.bin")):
        if not zipfile.is_zipfile(file):
            return f"{file.name} is cut"
        try:
            with zipfile.ZipFile(file) as archive:
                if archive.testzip() is not None:
                    return f"{file.name} is corrupt"
        except (zipfile.BadZipFile, OSError):
            return f"{file.name} is corrupt"
    return None


def last_checkpoint(out: str | Path) -> str | None:
    """The newest checkpoint in `out` that can really be resumed from; a cut one (a kill during
    saving, a full disk) is skipped with a warning and the one before it is used."""
    import re

    out = Path(out)
    if not out.is_dir():
        return None
    found = []
    for folder in out.iterdir():
        m = re.fullmatch(r"checkpoint-(\d+)", folder.name)
        if m and folder.is_dir():
            found.append((int(m.group(1)), folder))
    for _, folder in sorted(found, reverse=True):
        problem = checkpoint_problem(folder)
        if problem is None:
            return str(folder)
        log.warning("skipping %s: %s; resuming from an earlier checkpoint", folder, problem)
    return None


RUN_MARKER = ".imb-finetune.json"
RUN_FILES = ("checkpoint-*/*", f"{ADAPTER_DIR}/*", "eval_table8*", "runs/*",
             "README.md", "training_args.bin")  # TRL writes a model card at the top


def _is_main_process() -> bool:
    """Rank 0 under DDP (torchrun/accelerate set RANK), the only process when alone."""
    return int(os.environ.get("RANK", "0")) == 0


def claim_run_folder(out: str | Path) -> Path:
    """--out holds only what fine-tuning writes (checkpoints, adapter, eval reports)."""
    from imb_tools.infra.ownership import claim_output_folder

    if not out:
        raise ImbError("give --out DIR (checkpoints and the adapter go there)")
    return claim_output_folder(out, RUN_MARKER, RUN_FILES, {"kind": "finetune"},
                               legacy_file=f"{ADAPTER_DIR}/{RUN_FILE}")


def build_trainer(cfg: TrainConfig, dataset=None, callbacks=()):
    """Load the model, prepare the data, and return (trainer, prepared data, plan), untrained.

    `dataset` (a `datasets.Dataset` shaped like the built `train` split) lets
    callers skip the built folder; a `difficulty` column in it, when present,
    is the curriculum's order.
    """
    from imb_tools.infra.ownership import read_marker

    plan = make_plan(cfg)
    previous = read_marker(cfg.out, RUN_MARKER) if cfg.out else None
    new_folder = bool(cfg.out) and not Path(cfg.out).exists()
    claim_run_folder(cfg.out)  # a user's folder is refused before anything is loaded
    try:
        return _build_trainer(cfg, plan, previous, dataset, callbacks)
    except BaseException:
        out = Path(cfg.out)
        if new_folder and out.is_dir() and [p.name for p in out.iterdir()] == [RUN_MARKER]:
            (out / RUN_MARKER).unlink()  # nothing but the claim's marker: leave no folder behind
            out.rmdir()
        raise


def _build_trainer(cfg: TrainConfig, plan: Plan, previous: dict | None, dataset, callbacks):
    from imb_tools.data.provenance import DataSource, rows_fingerprint
    from imb_tools.finetune.data import open_train_split, prepare
    from imb_tools.finetune.resume import check_resume, drop_checkpoints, run_record
    from imb_tools.infra.ownership import write_marker

    if previous and _is_main_process():  # the claim rewrote the marker: keep the run it recorded
        write_marker(cfg.out, RUN_MARKER, previous)
    if dataset is None:  # bad data fails before a multi-GB model load
        if not cfg.data:
            raise ImbError("give --data DIR (a built IMB-QA folder or Hub id)")
        dataset, source = open_train_split(cfg.data)
    else:
        source = DataSource("imb-qa", rows_fingerprint(dataset), "in-memory rows")
    run = run_record(cfg, plan, source)
    checkpoint = last_checkpoint(cfg.out) if cfg.resume else None
    if checkpoint:  # a resume: same data, same trajectory, or a one-line refusal
        check_resume((previous or {}).get("run"), run, checkpoint, cfg.out)
    if _is_main_process():
        if not cfg.resume:
            drop_checkpoints(cfg.out)
        write_marker(cfg.out, RUN_MARKER, {"written_by": "imb", "kind": "finetune", "run": run})
    model, tok = load_for_training(cfg, plan)  # first transformers import: unsloth's path imports it first

    from transformers import set_seed
    from trl import SFTTrainer

    set_seed(cfg.seed)
    prepared = prepare(
        dataset, tok, max_length=cfg.max_length, eval_fraction=cfg.eval_fraction,
        curriculum=cfg.curriculum, max_eval_samples=cfg.max_eval_samples,
    )
    prepared.stats["build"] = source.record()
    has_eval = len(prepared.eval) > 0
    # The field's standard SFT loop, for the CPU path and unsloth's alike: TRL tokenizes the
    # prompt-completion records with the model's chat template and masks the prompt.
    trainer = SFTTrainer(
        model=model,
        args=training_arguments(cfg, plan),
        train_dataset=prepared.train,
        eval_dataset=prepared.eval if has_eval else None,
        processing_class=tok,
        callbacks=list(callbacks),
    )
    return trainer, prepared, plan


def _finished_run(cfg: TrainConfig, checkpoint) -> dict | None:
    """The recorded summary when `checkpoint` already ends the run asked for (its step reached
    --max-steps, or the total its own run planned when training by epochs), else None. The
    settings are the same as the checkpoint's: check_resume refused otherwise."""
    if not checkpoint:
        return None
    try:
        state = json.loads((Path(checkpoint) / "trainer_state.json").read_text(encoding="utf-8"))
        summary = json.loads((Path(cfg.out) / ADAPTER_DIR / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    target = cfg.max_steps if cfg.max_steps > 0 else state.get("max_steps")
    step = state.get("global_step")
    if not isinstance(step, int) or not isinstance(target, int) or step < target:
        return None
    return summary if summary.get("global_step") == step else None


def train(cfg: TrainConfig, dataset=None, callbacks=()) -> dict:
    """Fine-tune (resuming from the last checkpoint in `cfg.out`), save `OUT/adapter`, return run.json's content."""
    trainer, prepared, plan = build_trainer(cfg, dataset, callbacks)
    resume_from = last_checkpoint(cfg.out) if cfg.resume else None
    finished = _finished_run(cfg, resume_from)
    if finished is not None:  # rerunning a finished run: nothing to train (transformers would add a step)
        log.warning("%s already holds the %s steps asked for; nothing to train", resume_from,
                    finished["global_step"])
        return {**finished, "resumed_from": resume_from}
    if resume_from:
        log.warning("resuming from %s", resume_from)
    trainer.train(resume_from_checkpoint=resume_from)
    eval_metrics = trainer.evaluate() if trainer.eval_dataset is not None else {}

    summary = {
        "config": dataclasses.asdict(cfg),
        "build": prepared.stats.get("build"),
        "plan": dataclasses.asdict(plan),
        "data": prepared.stats,
        "resumed_from": resume_from,
        "global_step": trainer.state.global_step,
        "loss_curve": [
            {"step": e["step"], "loss": e["loss"]} for e in trainer.state.log_history if "loss" in e
        ],
        "eval": eval_metrics,
    }
    if trainer.is_world_process_zero():
        with atomic_dir(Path(cfg.out) / ADAPTER_DIR) as tmp:
            trainer.model.save_pretrained(tmp)
            trainer.processing_class.save_pretrained(tmp)
            write_json_atomic(tmp / RUN_FILE, summary)
    return summary
