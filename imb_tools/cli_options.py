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


def add_data_option(parser, help_text: str) -> None:
    """`--data DIR|ORG/NAME`, plus the old positional DIR kept hidden for one release."""
    parser.add_argument("--data", help=help_text)
    parser.add_argument("old_positional_data", nargs="?", metavar="DIR", help=argparse.SUPPRESS)


def data_argument(args, command: str) -> str:
    """The --data value (or the deprecated positional one, with a warning); one-line error if none."""
    from imb_tools.infra.errors import ImbError

    old = getattr(args, "old_positional_data", None)
    if args.data and old:
        raise ImbError(f"give the dataset once: --data {args.data} or {old}")
    if old:
        print(f"imb: warning: 'imb {command} DIR' is deprecated and will be removed; use imb {command} --data DIR",
              file=sys.stderr)
        return old
    if not args.data:
        raise ImbError(f"imb {command} needs --data DIR (a folder made by 'imb build', or a Hub repo id)")
    return args.data
