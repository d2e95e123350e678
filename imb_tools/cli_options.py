"""The one CLI vocabulary, and old flag spellings kept as hidden aliases for one release.

Every command uses the same flag for the same idea (README, "Command-line vocabulary"):
`--data` a built dataset (folder or Hub repo id), `--raw` a raw source file, `--in` an
input table, `--out` what the command writes (file or folder), `--json FILE` figures as
JSON, `--report FILE` a JSON report, `--batch-size`, `--concurrency`, `--model`.
"""

from __future__ import annotations

import argparse
import sys


class _Deprecated(argparse.Action):
    def __init__(self, option_strings, dest, new: str = "", **kwargs):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"imb: warning: {option_string} is deprecated and will be removed; use {self.new}",
              file=sys.stderr)
        setattr(namespace, self.dest, True if self.nargs == 0 else values)


def deprecated_alias(parser, old: str, new: str, dest: str, flag: bool = False, **kwargs) -> None:
    """Accept `old` as a hidden spelling of `new` (same dest, same `type=`...), with a one-line warning."""
    if flag:
        kwargs["nargs"] = 0
    parser.add_argument(old, dest=dest, action=_Deprecated, new=new, help=argparse.SUPPRESS,
                        default=argparse.SUPPRESS, **kwargs)


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1 (counts, sizes, batch sizes, top-k)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def port_number(text: str) -> int:
    """argparse type: a TCP port, 1-65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, got {value}")
    return value


class HelpFormatter(argparse.HelpFormatter):
    """One-line descriptions wrapped, multi-line ones (examples) kept as written; each option's
    default shown once, only where it says something (not for flags, empty values, or help
    that already names its default)."""

    def _fill_text(self, text, width, indent):
        if "\n" in text.strip():
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("default" in text or default in (None, False, argparse.SUPPRESS, "", [])
                or action.option_strings == [] or action.nargs == 0):
            return text
        return f"{text} (default: %(default)s)"


def walk_parsers(parser, path=("imb",)):
    """Yield (command path, parser) for a parser and every subcommand under it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if sub is not parser:
                    yield from walk_parsers(sub, path + (name,))


# --- Types checked at the door -------------------------------------------------------------------
# Every option is validated by its argparse type, so a bad value is one usage line (exit 2)
# before any work starts, never a traceback after the model loaded.

def nonnegative_int(text: str) -> int:
    """argparse type: a whole number of at least 0 (a count that may be zero: shots, seeds)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def fraction(text: str) -> float:
    """argparse type: a share in [0, 1] (split fractions, eval fractions)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number above 0 (learning rates, epochs, temperatures > 0)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text}")
    return value


def nonnegative_float(text: str) -> float:
    """argparse type: a finite number of at least 0 (dropout, temperature)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def seed(text: str) -> int:
    """argparse type: a random seed, 0 to 2**32 - 1 (what numpy, torch and transformers accept)."""
    value = nonnegative_int(text)
    if value > 2**32 - 1:
        raise argparse.ArgumentTypeError(f"a seed is 0 to {2**32 - 1}, got {value}")
    return value


def hub_repo_id(text: str, org_required: bool = True) -> str:
    """argparse type: a Hub repo id, ORG/NAME, by the Hub's own rule
    (huggingface_hub.utils.validate_repo_id): a dry run refuses what the push would."""
    if org_required and (text.count("/") != 1 or not all(text.split("/"))):
        raise argparse.ArgumentTypeError(f"must look like ORG/NAME, got {text!r}")
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: not a valid Hub repo id "
                                         f"({str(exc).splitlines()[0]})") from None
    return text


def hub_model_id(text: str) -> str:
    """argparse type: a Hub model repo id, ORG/NAME or a canonical NAME (gpt2), by the Hub's rule."""
    return hub_repo_id(text, org_required=False)


def lr_scheduler(text: str) -> str:
    """argparse type: a transformers learning-rate scheduler name (SchedulerType)."""
    try:
        from transformers.trainer_utils import SchedulerType
    except ImportError:  # the command itself names the missing extra
        return text
    names = [s.value for s in SchedulerType]
    if text not in names:
        raise argparse.ArgumentTypeError(f"unknown scheduler {text!r}; choose from {', '.join(names)}")
    return text


def torch_device(text: str) -> str:
    """argparse type: a device by torch's own parser (cpu, cuda, cuda:1, mps...), or `auto`."""
    if text == "auto":
        return text
    try:
        import torch
    except ImportError:  # the command itself names the missing extra
        return text
    try:
        torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"not a device: {text!r} (cpu, cuda, cuda:N, mps, auto...)") from None
    return text


def json_object(text: str) -> dict:
    """argparse type: a JSON object (`--metadata '{"data_dir": "out/demo"}'`)."""
    import json

    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON ({exc}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object {{...}}, got {type(value).__name__}")
    return value


def nonempty_text(text: str) -> str:
    """argparse type: text with something in it (a query, a question)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def existing_file(text: str) -> str:
    """argparse type: a regular file that exists (no folder, FIFO, device or symlink loop)."""
    from imb_tools.infra.errors import ImbError
    from imb_tools.infra.readers import check_regular_file

    try:
        check_regular_file(text, "a file")
    except ImbError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def existing_folder(text: str) -> str:
    """argparse type: a local folder that exists."""
    import os

    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text}: no such folder" if not os.path.exists(text)
                                         else f"{text}: not a folder")
    return text


def existing_path(text: str) -> str:
    """argparse type: a local file or folder that exists (a regular file, if a file)."""
    import os

    if os.path.isdir(text):
        return text
    return existing_file(text)


def local_or_hub(text: str) -> str:
    """argparse type: a Hub id (ORG/NAME, looked up later) or a local path that exists;
    a local-looking path that does not exist is refused here, never sent to the Hub."""
    import os

    from imb_tools.infra.locate import looks_local

    if looks_local(text) and not os.path.exists(os.path.expanduser(text)):
        raise argparse.ArgumentTypeError(f"{text}: no such file or folder (a local path: "
                                         f"nothing is looked up on the Hub)")
    return text


# --- Which options read and which write: declared once, checked in one place ---------------------
# An option declared with input_option or output_option carries its role. Before any command
# runs, cli.main calls check_io, which applies ownership.refuse_outputs_on_inputs to every
# output against every input of that command: no output lands on an input, inside an input
# folder or above one, whatever the command. tests/test_cli_io.py walks every parser.

def _as_paths(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def input_option(parser, *flags, paths=_as_paths, **kwargs) -> argparse.Action:
    """An option (or positional) that names something the command reads.

    paths: value -> the local paths it names (default: the value itself; `--data DIR` names
    the builds in DIR, `--model-args pretrained=DIR` the model folder, SPEC options the local
    model folder they name). Paths that do not exist locally (Hub ids) are left out by the check.
    """
    action = parser.add_argument(*flags, **kwargs)
    action.imb_role, action.imb_paths = "input", paths
    return action


def output_option(parser, *flags, paths=_as_paths, **kwargs) -> argparse.Action:
    """An option that names a file or folder the command writes (or a cache it fills)."""
    action = parser.add_argument(*flags, **kwargs)
    action.imb_role, action.imb_paths = "output", paths
    return action


def role_of(action) -> str | None:
    return getattr(action, "imb_role", None)


def check_io(parser, args) -> None:
    """The one output-vs-input check, for whichever command `parser` is (see above)."""
    from imb_tools.infra.ownership import refuse_outputs_on_inputs

    inputs, outputs = [], []
    for action in parser._actions:
        role = role_of(action)
        if role is None:
            continue
        value = getattr(args, action.dest, None)
        if value is argparse.SUPPRESS:
            continue
        label = action.option_strings[-1] if action.option_strings else action.metavar or action.dest
        for path in action.imb_paths(value):
            (inputs if role == "input" else outputs).append((label, path))
    refuse_outputs_on_inputs(inputs, outputs)


def llm_spec(text: str) -> str:
    """argparse type: an LLM spec (imb_tools.llm): `openai:MODEL@URL`, a Hub id, or a local model
    folder that exists."""
    if text.startswith("openai:"):
        if "@" not in text:
            raise argparse.ArgumentTypeError(f"{text}: an OpenAI-compatible spec is openai:MODEL@BASE_URL")
        return text
    for path in spec_model_paths(text):
        local_or_hub(path)
    return text


def spec_model_paths(value) -> list[str]:
    """The local model folder an LLM spec names (a path or Hub id; `openai:MODEL@URL` names none)."""
    if not value or str(value).startswith("openai:"):
        return []
    return [str(value)]


def open_fraction(text: str) -> float:
    """argparse type: a share strictly between 0 and 1 (a held-out side that is neither empty
    nor everything, such as `imb finetune train --eval-fraction`)."""
    value = fraction(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {text}")
    return value
