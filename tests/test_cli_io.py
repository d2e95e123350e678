"""The one output-vs-input rule, for every command: no hand-kept list.

Every parser of `imb` is walked; every option that names a path must declare whether the
command reads or writes it (cli_options.input_option / output_option), and every output is
tried against every input of its command: on it, inside it, and above it. `cli.main` runs
the same check before any handler (the fault tables show it through the real CLI).
"""

from __future__ import annotations

import argparse
import re

import pytest

from imb_tools.cli import build_parser
from imb_tools.cli_options import check_io, role_of, walk_parsers
from imb_tools.infra.errors import ImbError

# An option names a path when its metavar or name says so.
_PATHY_METAVAR = re.compile(r"FILE|DIR|FOLDER|PATH|SPEC|RESULTS|INDEX|MODEL")
_PATHY_NAME = re.compile(r"(^|[-_])(out|json|report|dir|dry[-_]run|cache|quarantine|in|raw|data|index|model|"
                         r"table|terms|adapter|path|file|folder|results)s?($|[-_])")


def _leaves():
    for path, parser in walk_parsers(build_parser()):
        if not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions) or \
                any(role_of(a) for a in parser._actions):
            yield " ".join(path), parser


def _options(parser):
    return [a for a in parser._actions
            if not isinstance(a, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction))
            and a.help != argparse.SUPPRESS]


def _names_a_path(action) -> bool:
    if action.nargs == 0 or action.type in (int, float):
        return False
    names = [*action.option_strings, action.dest]
    return bool(_PATHY_METAVAR.search(str(action.metavar or ""))) or any(
        _PATHY_NAME.search(n.lstrip("-")) for n in names)


# Options that look like paths by name but hold none (a Hub repo id, a column, a task name).
NOT_PATHS = {"--repo-id", "--model-repo", "--mcqa-repo", "--qa-repo", "--space-id", "--out-column",
             "--column", "--question-column", "--answer-column", "--context-column", "--category-column",
             "--anonymize-columns", "--api-key-env", "--mcqa-task", "--qa-task", "--mcqa-metric", "--qa-metric",
             "--faiss-index"}


def test_every_option_that_names_a_path_says_whether_it_is_read_or_written():
    missing = [f"{cmd} {a.option_strings[-1] if a.option_strings else a.dest}"
               for cmd, parser in _leaves() for a in _options(parser)
               if _names_a_path(a) and role_of(a) is None
               and not set(a.option_strings) & NOT_PATHS]
    assert missing == []


def _namespace(parser, **values):
    ns = argparse.Namespace(**{a.dest: a.default for a in parser._actions if a.dest != "help"})
    for k, v in values.items():
        setattr(ns, k, v)
    return ns


def _value(action, path):
    return [str(path)] if action.nargs in ("+", "*") else str(path)


def test_every_output_is_refused_on_inside_and_above_every_input(tmp_path):
    folder = tmp_path / "input-folder"
    (folder / "data").mkdir(parents=True)
    file = folder / "data" / "train-00000-of-00001.parquet"
    file.write_bytes(b"PAR1")
    tried = 0
    for cmd, parser in _leaves():
        inputs = [a for a in _options(parser) if role_of(a) == "input"]
        outputs = [a for a in _options(parser) if role_of(a) == "output"]
        for out in outputs:
            for inp in inputs:
                for given, target in ((folder, folder), (folder, folder / "new" / "x.json"),
                                      (file, file), (file, tmp_path)):
                    ns = _namespace(parser, **{inp.dest: _value(inp, given), out.dest: _value(out, target)})
                    with pytest.raises(ImbError, match=r"is the input|lies inside the input|holds the input"):
                        check_io(parser, ns)
                    tried += 1
                # and beside the input is fine
                ns = _namespace(parser, **{inp.dest: _value(inp, file), out.dest: _value(out, tmp_path / "elsewhere")})
                check_io(parser, ns)
    assert tried > 100  # every command with both kinds of option was tried


def test_check_io_runs_before_any_handler(tmp_path, monkeypatch):
    """cli.main refuses before the command's function runs (nothing is read or written)."""
    import imb_tools.cli as cli

    ran = []
    parser = build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    for _, p in walk_parsers(parser):
        if p.get_default("func"):
            p.set_defaults(func=lambda args: ran.append(args) or 0)
    raw = tmp_path / "raw.json"
    raw.write_text("[]")
    rc = cli.main(["build", "qa", "--raw", str(raw), "--out", str(tmp_path)])
    assert rc == 2 and ran == []
