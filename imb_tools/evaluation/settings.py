"""What one `imb eval` run is asked to do, checked before anything is loaded.

`EvalSettings.from_args` turns the command's options (and lm-eval's own spellings of them,
passed through: `--num_fewshot`, `--gen_kwargs`...) into one frozen object; run.run_eval
takes it and never sees argparse. Every value is checked here, so a bad one is one
`imb: error:` line before the model loads: counts and limits in range, generation
overrides of the right type, a local model folder that holds a model, the data folders.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from imb_tools.infra.errors import ImbError

IMB_TASKS_HINT = ("imb_mcqa, imb_mcqa_mp, imb_mcqa_cloze, imb_qa, imb_qa_rag; with --data DIR also "
                  "imb_mcqa_by_category, imb_qa_by_macro, imb_qa_rag_by_macro")
# Generation overrides whose type lm-eval only finds out after the model loaded.
_GEN_INTS = {"max_gen_toks": 1, "max_new_tokens": 1, "top_k": 0, "num_beams": 1}
_GEN_FLOATS = {"temperature": (0.0, None), "top_p": (0.0, 1.0), "repetition_penalty": (0.0, None)}


def kind_of(task: str) -> str | None:
    """'mcqa' or 'qa' for an IMB task or group name, else None."""
    if task.startswith("imb_mcqa"):
        return "mcqa"
    if task.startswith("imb_qa"):
        return "qa"
    return None


@dataclass(frozen=True)
class EvalSettings:
    model: str
    model_args: str
    tasks: tuple[str, ...]
    out: Path
    metadata: dict  # the tasks' metadata: --metadata, data_dir, qa_max_items, bertscore_*
    num_fewshot: int | None = None
    batch_size: str = "1"
    device: str | None = None
    limit: float | None = None
    gen_kwargs: dict | None = None
    apply_chat_template: bool = False
    fewshot_as_multiturn: bool = False
    system_instruction: str | None = None
    include_path: str | None = None
    seed: int = 0
    redo: bool = False
    verbose: bool = False
    lm_eval_options: dict = field(default_factory=dict)  # other simple_evaluate keywords

    @property
    def kinds(self) -> list[str]:
        return sorted({k for t in self.tasks if (k := kind_of(t))})

    @property
    def data_dir(self) -> str | None:
        return self.metadata.get("data_dir")

    def model_arguments(self) -> dict:
        return parse_model_args(self.model_args)

    def inputs(self) -> list[tuple[str, str]]:
        """(option, local path) of everything the run reads, as the command declares them."""
        from imb_tools.data.options import built_data_paths

        named = [("--data", p) for p in built_data_paths(self.data_dir)]
        named += [("--model-args", p) for p in model_args_paths(self.model_args)]
        named += [("--metadata", p) for p in metadata_paths(self.metadata)]
        named += [("--include-path", self.include_path)] if self.include_path else []
        return named

    @classmethod
    def from_args(cls, args) -> EvalSettings:
        values = dict(vars(args))
        extra = lm_eval_options(values.pop("lm_eval_args", None) or [])
        # lm-eval's spelling of an option imb eval has (--gen_kwargs, --num_fewshot, --batch_size...)
        # means that option: one value, never a keyword given twice to simple_evaluate.
        for key in [k for k in extra if k in values and k not in ("func", "seed")]:  # --seed is imb eval's own
            values[key] = extra.pop(key)
        out = values.get("out") or extra.pop("output_path", None)
        extra.pop("output_path", None)
        for key in ("model_args", "model", "tasks", "include_path", "log_samples", "metadata", "seed",
                    "func"):
            extra.pop(key, None)
        if not out or str(out) == ".":
            raise ImbError("--out FOLDER is required (results, samples and imb_summary.json go there)")
        tasks = tuple(t for t in str(values.get("tasks") or "").split(",") if t)
        if not tasks:
            raise ImbError("--tasks: give at least one task (" + IMB_TASKS_HINT + ")")
        settings = cls(
            model=str(values.get("model") or "hf"),
            model_args=str(values.get("model_args") or ""),
            tasks=tasks,
            out=Path(str(out)),
            metadata=task_metadata(values, tasks),
            num_fewshot=_count(values.get("num_fewshot"), "--num-fewshot", least=0),
            batch_size=_batch_size(values.get("batch_size")),
            device=values.get("device"),
            limit=_limit(values.get("limit")),
            gen_kwargs=parse_gen_kwargs(values.get("gen_kwargs")),
            apply_chat_template=bool(values.get("apply_chat_template")),
            fewshot_as_multiturn=bool(values.get("fewshot_as_multiturn")),
            system_instruction=values.get("system_instruction"),
            include_path=values.get("include_path"),
            seed=int(values.get("seed") or 0),
            redo=bool(values.get("redo")),
            verbose=bool(values.get("verbose")),
            lm_eval_options=extra,
        )
        settings.check_model()
        if not values.get("out"):  # --out is checked at the door (cli_options.check_io); lm-eval's spelling here
            from imb_tools.infra.ownership import refuse_outputs_on_inputs

            refuse_outputs_on_inputs(settings.inputs(), [("--output_path", str(settings.out))])
        settings.check_scoring()
        return settings

    def check_scoring(self) -> None:
        """The BERTScore model's layer, within the model, before anything is generated."""
        if "qa" in self.kinds:
            from imb_tools.metrics.bertscore import settings_from_metadata

            settings_from_metadata(self.metadata)

    def check_model(self) -> None:
        """A local `pretrained=` (or `tokenizer=`, `peft=`) that is not a model fails now, in one line,
        not after lm-eval's loader printed a traceback."""
        from imb_tools.infra.locate import looks_local

        args = self.model_arguments()
        for key in ("pretrained", "tokenizer", "peft"):
            value = args.get(key)
            if not isinstance(value, str) or not value or not looks_local(value):
                continue
            path = Path(value).expanduser()
            if not path.exists():
                raise ImbError(f"--model-args {key}={value}: no such folder (a local path: nothing "
                               "was looked up on the Hub)")
            if key == "peft":
                wanted = ("adapter_config.json",)
            elif key == "tokenizer":
                wanted = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.txt")
            else:
                wanted = ("config.json",)
            if path.is_dir() and any((path / w).is_file() for w in wanted) or \
                    (key == "pretrained" and path.is_file() and path.suffix == ".gguf"):
                continue
            what = "a model" if key == "pretrained" else ("a tokenizer" if key == "tokenizer" else "a PEFT adapter")
            raise ImbError(f"--model-args {key}={value}: not {what} (no {' or '.join(wanted)} in it)")


def model_args_paths(value) -> list[str]:
    """The local folders `--model-args` names (pretrained=, tokenizer=, peft=); Hub ids are not paths."""
    if value and "=" not in str(value):  # not key=value pairs: the value itself
        return [str(value)]
    found = []
    for pair in str(value or "").split(","):
        key, _, path = pair.partition("=")
        if key.strip() in ("pretrained", "tokenizer", "peft") and path.strip() \
                and Path(path.strip()).expanduser().exists():
            found.append(path.strip())
    return found


def metadata_paths(value) -> list[str]:
    """The local inputs task metadata names: the builds in data_dir (and qa_/mcqa_data_dir), the
    RAG index, the BERTScore model folder."""
    from imb_tools.data.options import built_data_paths

    if not isinstance(value, dict):  # not parsed (yet): the value itself, if it names a path
        return [str(value)] if value else []
    found = [p for key in ("data_dir", "qa_data_dir", "mcqa_data_dir") if value.get(key)
             for p in built_data_paths(str(value[key]))]
    found += [str(value[k]) for k in ("rag_index", "bertscore_model")
              if isinstance(value.get(k), str) and Path(value[k]).expanduser().exists()]
    return found


def lm_eval_options(extra: list[str]) -> dict:
    """lm-eval's own flags given to `imb eval` (e.g. --use_cache DB), parsed by lm-eval's parser,
    as simple_evaluate keyword arguments; an unknown one is a one-line error."""
    if not extra:
        return {}
    import argparse
    import contextlib
    import io

    from imb_tools.infra.errors import require

    require("lm_eval", "eval")
    from lm_eval._cli.run import Run

    parser = argparse.ArgumentParser(prog="imb eval", add_help=False)
    Run.create(parser.add_subparsers(dest="command"))
    run = parser._subparsers._group_actions[0].choices["run"]
    defaults = vars(run.parse_args(["--tasks", "x"]))
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            given = vars(run.parse_args(list(extra) + ["--tasks", "x"]))
    except SystemExit:
        line = err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else str(extra)
        raise ImbError(f"lm-eval option: {line.split('error: ')[-1]}") from None
    changed = {k: v for k, v in given.items() if v != defaults.get(k) and k not in ("tasks", "func")}
    options: dict = {}
    for key, value in changed.items():
        if key == "cache_requests":
            from lm_eval._cli.utils import request_caching_arg_to_dict

            options.update(request_caching_arg_to_dict(value))
        else:
            options[key] = value
    return options


def task_metadata(values: dict, tasks: tuple[str, ...]) -> dict:
    """Task metadata from the options; explicit options win over --metadata keys."""
    raw = values.get("metadata") or "{}"
    if isinstance(raw, dict):
        metadata = dict(raw)
    else:
        try:
            metadata = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ImbError(f"--metadata is not valid JSON: {exc}") from None
    if not isinstance(metadata, dict):
        raise ImbError("--metadata must be a JSON object")
    data = values.get("data")
    local = data if data and Path(data).exists() else None
    if data and local is None:
        if str(data).count("/") != 1:
            raise ImbError(f"--data {data}: no such folder, and not a Hub repo id ORG/NAME")
        kinds = {kind_of(t) for t in tasks} - {None}
        if len(kinds) != 1:
            raise ImbError(f"--data {data}: a published repo holds one dataset; with both "
                           "IMB-QA and IMB-MCQA tasks give --metadata "
                           "'{\"qa_repo\": ..., \"mcqa_repo\": ...}' (or IMB_QA_REPO / IMB_MCQA_REPO)")
        metadata.setdefault(f"{kinds.pop()}_repo", data)
    if local is not None:
        from imb_tools.evaluation.tasks import builds_in

        builds_in(local)  # a folder that is no build fails here, naming --data
        metadata["data_dir"] = str(Path(local).resolve())
    for key, value in (("qa_max_items", values.get("qa_max_items")),
                       ("bertscore_model", values.get("bertscore_model")),
                       ("bertscore_layers", values.get("bertscore_layers"))):
        if value is not None:
            metadata[key] = value
    return metadata


def _count(value, option: str, least: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value))
        except ValueError:
            raise ImbError(f"{option} {value}: expected a whole number") from None
    if value < least:
        raise ImbError(f"{option} {value}: must be {least} or more")
    return value


def _limit(value) -> float | None:
    """lm-eval's --limit: a number of documents per task, or (below 1) a fraction of them."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ImbError(f"--limit {value}: expected a number") from None
    if not number > 0 or number != number or number == float("inf"):
        raise ImbError(f"--limit {value}: must be above 0 (documents per task, or a fraction below 1)")
    return number


def _batch_size(value) -> str:
    text = str(value if value is not None else "1")
    if text == "auto" or text.startswith("auto:") and text[5:].isdigit():
        return text
    if text.isdigit() and int(text) >= 1:
        return text
    raise ImbError(f"--batch-size {text}: a whole number of at least 1, 'auto' or 'auto:N'")


def parse_model_args(text: str) -> dict:
    """lm-eval's `key=value,...` model args as a dict (values typed as lm-eval types them)."""
    if not text:
        return {}
    from lm_eval.utils import simple_parse_args_string

    bare = [pair.strip() for pair in text.split(",") if pair.strip() and "=" not in pair]
    if bare:  # lm-eval would pass `dtype` on as a key with no value, and the model load would fail
        raise ImbError(f"--model-args {text}: '{bare[0]}' has no value; expected key=value pairs separated by commas")
    try:
        return simple_parse_args_string(text)
    except (ValueError, TypeError) as exc:
        raise ImbError(f"--model-args {text}: expected key=value pairs separated by commas ({exc})") from None


def parse_gen_kwargs(value) -> dict | None:
    """Generation overrides as one canonical dict, however they were spelled (`--gen-kwargs
    max_gen_toks=16` or lm-eval's `--gen_kwargs`), the ones lm-eval would trip on checked now."""
    if value in (None, "", {}):
        return None
    if isinstance(value, dict):
        parsed = dict(value)
    else:
        parsed = parse_model_args(str(value))
    for key, least in _GEN_INTS.items():
        if key in parsed and (isinstance(parsed[key], bool) or not isinstance(parsed[key], int)
                              or parsed[key] < least):
            raise ImbError(f"--gen-kwargs {key}={parsed[key]}: expected a whole number of at least {least}")
    for key, (low, high) in _GEN_FLOATS.items():
        if key in parsed:
            number = parsed[key]
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number) \
                    or number < low \
                    or (high is not None and number > high):
                span = f"{low}-{high}" if high is not None else f"at least {low}"
                raise ImbError(f"--gen-kwargs {key}={number}: expected a number, {span}")
    if "do_sample" in parsed and not isinstance(parsed["do_sample"], bool):
        raise ImbError(f"--gen-kwargs do_sample={parsed['do_sample']}: expected true or false")
    return dict(sorted(parsed.items()))
