"""What a fine-tuning run records in its marker, and which changes a resume accepts.

A checkpoint is the state of one training trajectory: the data, the model, the
optimizer settings, the LoRA shape and the plan (device, precision, quantization).
Resuming it with anything else would give an adapter trained half on one thing and
half on another, labelled as neither, so `imb finetune` refuses, in one line, a resume
whose data (the build's fingerprint) or settings differ from the checkpoint's run.

May change on resume (README, "Fine-tuning"):
- where to stop, `--max-steps` and `--epochs`, while the learning-rate schedule does not
  depend on them (the paper's `constant`, or `constant_with_warmup`); `--max-steps`
  never below the checkpoint's step (the run would end with nothing trained on);
- how often to save and log (`--save-steps`, `--save-total-limit`, `--logging-steps`),
  the final eval's size (`--max-eval-samples`), `--gradient-checkpointing` (memory only);
- the paths: `--data` may move if its build is the same, `--out` is the run itself.
Everything else is part of the trajectory and must match.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from imb_tools.infra.errors import ImbError

# TrainConfig fields a resume may change freely (see the module docstring).
FREE_ON_RESUME = ("out", "data", "resume", "save_steps", "save_total_limit", "logging_steps",
                  "max_eval_samples", "gradient_checkpointing")
STOP_SETTINGS = ("max_steps", "epochs")  # free only under a schedule that ignores them
SCHEDULE_FREE_OF_STOP = ("constant", "constant_with_warmup")
FLAGS = {"learning_rate": "--lr"}  # other fields are spelled --<field-with-dashes>


def _flag(field: str) -> str:
    return FLAGS.get(field, "--" + field.replace("_", "-"))


def run_record(cfg, plan, source) -> dict:
    """What the marker keeps: the data's build record and every setting of the run."""
    settings = dataclasses.asdict(cfg)
    local = Path(cfg.model).expanduser()
    settings["model"] = str(local.resolve()) if local.exists() else cfg.model  # a folder by its real path
    return {"data": source.record(), "settings": settings, "plan": dataclasses.asdict(plan)}


def checkpoint_step(checkpoint: str | Path) -> int:
    try:
        state = json.loads((Path(checkpoint) / "trainer_state.json").read_text(encoding="utf-8"))
        return int(state.get("global_step", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def check_resume(previous: dict | None, current: dict, checkpoint: str, out: str) -> None:
    """Refuse (one line) resuming `checkpoint` with other data or settings than its run's."""
    name = Path(checkpoint).name
    fresh = "use the same data and settings, another --out, or --no-resume to start over"
    if not isinstance(previous, dict) or not isinstance(previous.get("settings"), dict):
        raise ImbError(f"--out {out} holds {name} of a run that recorded neither its data nor its settings "
                       f"(made before this check): pass --no-resume to start over, or use another --out")
    old_data, new_data = previous.get("data") or {}, current["data"]
    if old_data.get("fingerprint") != new_data["fingerprint"]:
        raise ImbError(f"--out {out} holds {name}, trained on other data ({old_data.get('fingerprint')}) than "
                       f"--data {current['settings']['data']} ({new_data['fingerprint']}): {fresh}")
    old, new = previous["settings"], current["settings"]
    stop_free = new.get("lr_scheduler") in SCHEDULE_FREE_OF_STOP
    changed = [f for f in new if f not in FREE_ON_RESUME and old.get(f) != new[f]
               and not (stop_free and f in STOP_SETTINGS)]
    if previous.get("plan") != current["plan"]:
        changed.append("plan")
    if changed:
        shown = ", ".join("the plan (device, precision, quantization: "
                          f"{previous.get('plan')} -> {current['plan']})" if f == "plan"
                          else f"{_flag(f)} {old.get(f)!r} -> {new[f]!r}" for f in changed[:3])
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        why = "" if stop_free or not set(changed) & set(STOP_SETTINGS) else \
            f" (--max-steps/--epochs may change only with a constant --lr-scheduler)"
        raise ImbError(f"--out {out} holds {name} of a run with other settings: {shown}{more}{why}; {fresh}")
    step = checkpoint_step(checkpoint)
    if new.get("max_steps", -1) > 0 and new["max_steps"] < step:
        raise ImbError(f"--max-steps {new['max_steps']} is below the step of {name} in {out} ({step}): "
                       f"give at least {step}, or --no-resume to start over")


def drop_checkpoints(out: str | Path) -> list[str]:
    """Remove the checkpoint-* folders of an earlier run in `out` (a folder claimed as ours):
    a run started over must never be resumed, or rotated away, as if it were the old one."""
    removed = []
    for folder in sorted(Path(out).glob("checkpoint-*")):
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder)
            removed.append(folder.name)
    return removed
