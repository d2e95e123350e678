"""`imb finetune`: train a LoRA adapter on IMB-QA (default), `eval` it against its base, `merge` it."""

from __future__ import annotations

import argparse
import os

from imb_tools.cli_options import (lr_scheduler, seed, deprecated_alias, existing_folder, fraction, input_option, local_or_hub,
                                   nonempty_text, nonnegative_int, open_fraction, output_option,
                                   positive_float, positive_int)
from imb_tools.data.options import add_data_option
from imb_tools.metrics.bertscore import DEFAULT_MODEL as BERTSCORE_MODEL

EPILOG = """\
examples:
  imb finetune train --model meta-llama/Llama-3.2-1B-Instruct --data out/demo/qa --out out/ft/llama1b
  imb finetune train --model ... --data ... --out ... --curriculum --max-steps 500
  imb finetune eval --adapter out/ft/llama1b --data out/demo/qa --limit 200
  imb finetune merge --adapter out/ft/llama1b --out out/ft/llama1b-merged
  imb eval --model-args pretrained=meta-llama/Llama-3.2-1B-Instruct,peft=out/ft/llama1b/adapter ...

Rerunning the same command after a kill resumes from the last checkpoint in --out.
Multi-GPU (DDP, one model copy per GPU; unsloth is skipped under DDP):
  accelerate launch --multi_gpu --num_processes 4 -m imb_tools.cli finetune train --model ... --data ... --out ...
  torchrun --nproc_per_node 4 -m imb_tools.cli finetune train ...      (also works on CPU, gloo)
"""


def _train_options() -> argparse.ArgumentParser:
    """The training options, declared once: the parent parser of `imb finetune` and of
    `imb finetune train` alike."""
    p = argparse.ArgumentParser(add_help=False)
    input_option(p, "--model", required=True, type=local_or_hub, help="base model: Hub id or local path")
    add_data_option(p, "built IMB-QA folder or Hub id (its `train` split is used)")
    output_option(p, "--out", required=True, metavar="DIR", help="output folder: checkpoints and the final adapter/")
    p.add_argument("--epochs", type=positive_float, default=6.0, help="default 6 (paper)")
    p.add_argument("--lr", type=positive_float, default=2.97e-4, help="default 2.97e-4 (paper)")
    p.add_argument("--lr-scheduler", type=lr_scheduler, default="constant",
                   help="transformers scheduler name; default constant (the paper's fixed rate)")
    p.add_argument("--warmup-steps", type=nonnegative_int, default=0, help="steps of linear warm-up before --lr")
    p.add_argument("--max-steps", type=positive_int, default=None,
                   help="stop after N optimizer steps (overrides --epochs; may grow on resume)")
    p.add_argument("--batch-size", type=positive_int, default=4, help="per device (default 4)")
    p.add_argument("--grad-accum", type=positive_int, default=4, help="gradient accumulation steps (default 4)")
    p.add_argument("--max-length", type=positive_int, default=1024,
                   help="tokens per example; longer answers are cut at the end (default 1024)")
    p.add_argument("--lora-r", type=positive_int, default=16, help="LoRA rank")
    p.add_argument("--lora-alpha", type=positive_int, default=32, help="LoRA scaling (alpha / r multiplies the update)")
    p.add_argument("--lora-dropout", type=fraction, default=0.05, help="dropout on the LoRA input")
    p.add_argument("--target-modules", type=nonempty_text, default="all-linear",
                   help="'all-linear' or comma-separated module names (e.g. q_proj,v_proj)")
    p.add_argument("--save-steps", type=positive_int, default=200, help="checkpoint every N steps")
    p.add_argument("--save-total-limit", type=positive_int, default=2, help="checkpoints kept")
    p.add_argument("--logging-steps", type=positive_int, default=10, help="log the loss every N steps")
    p.add_argument("--eval-fraction", type=open_fraction, default=0.2,
                   help="held-out share of train, by id hash (0.2)")
    p.add_argument("--max-eval-samples", type=positive_int, default=200,
                   help="eval records for the final eval loss (hash order; default 200)")
    p.add_argument("--curriculum", action="store_true",
                   help="no shuffling: train easy -> hard by the difficulty index")
    p.add_argument("--no-resume", dest="resume", action="store_false",
                   help="start over even if --out holds checkpoints (they are removed). A resume must use "
                        "the same data and settings; --max-steps/--epochs, --save-steps, --save-total-limit, "
                        "--logging-steps, --max-eval-samples and --gradient-checkpointing may change")
    p.add_argument("--seed", type=seed, default=42, help="random seed (initialisation, shuffling)")
    p.add_argument("--quantization", choices=["auto", "4bit", "none"], default="auto",
                   help="CUDA only: auto = QLoRA 4-bit when bitsandbytes/unsloth is installed")
    p.add_argument("--unsloth", choices=["auto", "yes", "no"], default="auto",
                   help="CUDA only: auto = use unsloth's FastLanguageModel when installed (not under DDP)")
    p.add_argument("--precision", choices=["auto", "fp16", "bf16", "fp32"], default="auto",
                   help="auto = fp16 on CUDA (paper), fp32 on CPU")
    p.add_argument("--gradient-checkpointing", action="store_true", help="less GPU memory, slower")
    return p


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "finetune",
        help="fine-tune a small LM on IMB-QA with LoRA/QLoRA; eval; merge",
        description="Fine-tune on the built IMB-QA train split (80/20 train/eval by id hash, loss on "
                    "answer tokens only), evaluate the adapter against its base, merge it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="finetune_action", metavar="ACTION", required=True)

    t = actions.add_parser("train", parents=[_train_options()], help="train a LoRA adapter",
                           description="Train a LoRA adapter on the built IMB-QA train split; rerunning the "
                                       "same command after a kill resumes from the last checkpoint.")
    t.set_defaults(func=run_train)

    e = actions.add_parser("eval", help="base vs fine-tuned on the held-out 20%%: the paper's Table 8 metrics",
                           description="Generate answers to the held-out 20% with the base model and with the "
                                       "adapter, and score both (ROUGE, BLEU, METEOR, BERTScore). Resumable.")
    _adapter_arg(e)
    add_data_option(e, "the built IMB-QA folder used for training")
    input_option(e, "--model", type=local_or_hub, help="base model (default: the one recorded in the adapter)")
    e.add_argument("--limit", type=positive_int, default=200, help="eval items, hash order (default 200)")
    e.add_argument("--max-new-tokens", type=positive_int, default=256, help="token budget per answer")
    e.add_argument("--llm-batch-size", dest="batch_size", metavar="N", type=positive_int, default=8,
                   help="questions per generation batch")
    deprecated_alias(e, "--batch-size", "--llm-batch-size", dest="batch_size", type=positive_int)
    input_option(e, "--bertscore-model", default=BERTSCORE_MODEL, type=local_or_hub,
                 help="paper's model by default; a local path works offline")
    e.add_argument("--bertscore-layers", type=positive_int, help="needed for models bert_score does not know")
    output_option(e, "--report", metavar="FILE",
                  help="JSON report path (default: next to the adapter, eval_table8.json)")
    e.add_argument("--allow-other-build", action="store_true",
                   help="evaluate on another build than the adapter was trained on (its eval side may then "
                        "hold training items); recorded in the report")
    e.set_defaults(func=run_eval)

    m = actions.add_parser("merge", help="fold the adapter into its base model (one plain model folder)",
                           description="Merge the LoRA weights into the base model and save a plain model "
                                       "folder that any tool (lm-eval, vLLM) loads without peft.")
    _adapter_arg(m)
    output_option(m, "--out", required=True, metavar="DIR", help="folder for the merged model")
    input_option(m, "--model", type=local_or_hub, help="base model (default: the one recorded in the adapter)")
    m.add_argument("--dtype", choices=["auto", "fp32", "fp16", "bf16"], default="auto",
                   help="weights of the merged model (auto: the base model's)")
    m.set_defaults(func=run_merge)


def _adapter_arg(p) -> None:
    input_option(p, "--adapter", required=True, type=existing_folder, metavar="DIR",
                 help="the --out folder of `imb finetune train` or its adapter/")


def config_from_args(args):
    from imb_tools.finetune.train import TrainConfig

    return TrainConfig(
        model=args.model, data=args.data, out=args.out, epochs=args.epochs, learning_rate=args.lr,
        lr_scheduler=args.lr_scheduler, warmup_steps=args.warmup_steps,
        max_steps=args.max_steps if args.max_steps is not None else -1,
        batch_size=args.batch_size, grad_accum=args.grad_accum, max_length=args.max_length,
        lora_r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
        target_modules=args.target_modules, save_steps=args.save_steps,
        save_total_limit=args.save_total_limit, logging_steps=args.logging_steps,
        eval_fraction=args.eval_fraction, max_eval_samples=args.max_eval_samples,
        curriculum=args.curriculum, resume=args.resume, seed=args.seed,
        quantization=args.quantization, unsloth=args.unsloth, precision=args.precision,
        gradient_checkpointing=args.gradient_checkpointing,
    )


def run_train(args) -> int:
    from imb_tools.finetune.train import train

    summary = train(config_from_args(args))
    if int(os.environ.get("RANK", "0")) != 0:  # under DDP, one process reports
        return 0
    curve = summary["loss_curve"]
    data = summary["data"]
    print(f"trained {summary['global_step']} steps on {data['train_examples']} examples "
          f"({data['eval_examples']} held out) on {summary['plan']['device']}"
          + (f", resumed from {summary['resumed_from']}" if summary["resumed_from"] else ""))
    if "difficulty_source" in data:
        print(f"curriculum order: {data['difficulty_source']}")
    if curve:
        print("loss: " + "  ".join(f"{e['step']}:{e['loss']:.3f}" for e in curve[:: max(1, len(curve) // 10)]))
    if "eval_loss" in summary["eval"]:
        print(f"eval loss: {summary['eval']['eval_loss']:.4f}")
    print(f"adapter: {args.out}/adapter")
    return 0


def run_eval(args) -> int:
    from imb_tools.finetune.evaluate import evaluate

    result = evaluate(
        adapter=args.adapter, data=args.data, model=args.model, limit=args.limit,
        max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
        bertscore_model=args.bertscore_model, bertscore_layers=args.bertscore_layers, report=args.report,
        allow_other_build=args.allow_other_build,
    )
    print(f"{result['items']} held-out items, BERTScore model {result['bertscore_model']}")
    print(result["table"])
    print(f"report: {result['report']}")
    return 0


def run_merge(args) -> int:
    from imb_tools.finetune.merge import merge

    out = merge(args.adapter, args.out, model=args.model, dtype=args.dtype)
    print(f"merged model: {out}  (imb eval --model-args pretrained={out} ...)")
    return 0
