"""The `imb` command: one entry point, one subcommand per capability.

Each capability lives in its own module with a `register(subparsers)`
function; heavy libraries are imported inside the handlers, so `imb --help`
answers at once.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sys

from imb_tools import __version__
from imb_tools.cli_options import HelpFormatter, check_io, walk_parsers
from imb_tools.infra.errors import ImbError, MissingExtraError, extra_providing

# Modules that add subcommands, in the order they appear in `imb --help`.
COMMAND_MODULES = [
    "imb_tools.data.commands",
    "imb_tools.hub.commands",
    "imb_tools.evaluation.commands",
    "imb_tools.analysis.commands",
    "imb_tools.preprocess.commands",
    "imb_tools.rag.commands",
    "imb_tools.finetune.commands",
    "imb_tools.leaderboard.commands",
]


class _Parser(argparse.ArgumentParser):
    """Usage mistakes end like every other user error: one line, exit 2."""

    def error(self, message):
        self.exit(2, f"imb: error: {self.prog}: {message} (see '{self.prog} --help')\n")


# Problems of the machine, not of the program: full disk, no permission, read-only
# file system, a file where a folder should be. One line naming the path, exit 2.
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS,
                       errno.ENOTDIR, errno.EISDIR}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="imb",
        description="IMB, the Italian Medical Benchmark: build, evaluate, publish.",
    )
    parser.add_argument("--version", action="version", version=f"imb {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for _, p in walk_parsers(parser):  # one help style everywhere: defaults shown once
        p.formatter_class = HelpFormatter
        p.set_defaults(imb_parser=p)  # the innermost wins: the command's own parser, for check_io
    return parser


def _setup_logging(verbose: bool) -> None:
    """Our own messages through one handler; libraries keep theirs.

    A root handler (logging.basicConfig) would print every line again for libraries
    that already have a handler of their own (huggingface_hub's retries appeared twice).
    With -v the root handler shows everyone's INFO lines.
    """
    fmt = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    ours = logging.getLogger("imb_tools")
    if not ours.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(fmt)
        ours.addHandler(handler)
    ours.propagate = False
    ours.setLevel(logging.INFO if verbose else logging.WARNING)
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


# Old spellings of commands, kept for one release with a warning.
def _renamed(argv: list[str]) -> list[str]:
    if argv[:1] == ["tasks-path"]:
        print("imb: warning: 'imb tasks-path' is deprecated and will be removed; use 'imb tasks path'",
              file=sys.stderr)
        return ["tasks", "path", *argv[1:]]
    if argv[:1] == ["finetune"] and len(argv) > 1 and argv[1].startswith("-") and argv[1] not in ("-h", "--help"):
        print("imb: warning: 'imb finetune --...' (training without an action) is deprecated and will be "
              "removed; use 'imb finetune train --...'", file=sys.stderr)
        return ["finetune", "train", *argv[1:]]
    return argv


def main(argv: list[str] | None = None) -> int:
    argv = _renamed(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed in one line
        return exc.code if isinstance(exc.code, int) else 2
    _setup_logging(args.verbose)
    try:
        check_io(args.imb_parser, args)  # no output on, inside or above an input: every command
        return int(args.func(args) or 0)
    except ImbError as exc:
        print(f"imb: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in _ENVIRONMENT_ERRNOS:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"imb: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        # An optional dependency imported inside a handler: one line naming the extra that
        # installs it. A module no extra provides is a bug: its traceback stays.
        top = (exc.name or "").split(".")[0]
        extra = extra_providing(top)
        if extra is None and top != "torch":  # torch is installed first, by hand (README)
            raise
        print(f"imb: error: {MissingExtraError(top, extra)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `imb ... | head`: the reader left; say nothing more, not even at exit
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("imb: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
