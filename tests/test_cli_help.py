"""Every command explains itself: a description, a help text per option, defaults shown once."""

from __future__ import annotations

import argparse
import re

from imb_tools.cli import build_parser
from imb_tools.cli_options import walk_parsers


def _commands():
    return [(" ".join(path), p) for path, p in walk_parsers(build_parser())]


def test_the_walk_sees_every_area():
    names = {name for name, _ in _commands()}
    for expected in ("imb build qa", "imb rag index", "imb finetune eval", "imb leaderboard build",
                     "imb anonymize", "imb stats", "imb eval"):
        assert expected in names


def test_every_command_has_a_description():
    missing = [name for name, p in _commands() if name != "imb" and not (p.description or "").strip()]
    assert missing == []


def test_every_option_has_help():
    missing = []
    for name, p in _commands():
        for action in p._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            if action.help is argparse.SUPPRESS:
                continue
            if not (action.help or "").strip():
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_defaults_are_shown_once_and_never_as_none():
    bad = []
    for name, p in _commands():
        text = p.format_help()
        if "(default: None)" in text:
            bad.append(f"{name}: (default: None)")
        for block in re.split(r"\n  (?=-)", text):
            if block.count("default") > 1 and "(default" in block and block.count("(default") > 1:
                bad.append(f"{name}: {block.split()[0]} shows its default twice")
    assert bad == []


def test_old_spellings_still_work_with_a_warning(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "i").mkdir()  # paths are checked at the door: they must exist
    (tmp_path / "q.jsonl").write_text("{}\n")
    args = build_parser().parse_args(["rag", "answer", "--index", "i", "--model", "m", "--input", "q.jsonl",
                                      "--generation-batch-size", "3"])
    assert args.input == "q.jsonl" and args.llm_batch_size == 3
    err = capsys.readouterr().err
    assert "--input is deprecated" in err and "use --in" in err and "--generation-batch-size is deprecated" in err


def test_help_through_the_cli_prints_no_doubled_percent_and_shows_required_options_as_required(capsys):
    """Issue 18: `imb finetune eval --help` printed "20%%", and `imb stats` / `imb publish`
    showed `[--data DATA]` as optional yet exited 2 without it. Every command's --help, through
    `imb` itself: no "%%", and no required option inside brackets in its usage."""
    from imb_tools.cli import main

    bad, seen = [], 0
    for path, parser in walk_parsers(build_parser()):
        argv = [*path[1:], "--help"]
        try:
            assert main(argv) == 0, argv
        except SystemExit as exc:
            assert exc.code == 0, argv
        text = capsys.readouterr().out
        seen += 1
        if "%%" in text:
            bad.append(f"{' '.join(path)}: '%%'")
        usage = " ".join(text.split("\n\n", 1)[0].split())
        for action in parser._actions:
            if action.required and action.option_strings:
                if re.search(rf"\[{re.escape(action.option_strings[0])}[ \]]", usage):
                    bad.append(f"{' '.join(path)}: {action.option_strings[0]} is required but shown optional")
    assert seen > 20 and bad == []
    # the named cases, said positively (the walk above could not see them otherwise)
    for argv, expected in ((["finetune", "eval", "--help"], "held-out 20% "),
                           (["finetune", "--help"], "held-out 20%:"),
                           (["stats", "--help"], "usage: imb stats [-h] --data "),
                           (["publish", "--help"], "usage: imb publish [-h] --data ")):
        try:
            assert main(argv) == 0
        except SystemExit as exc:
            assert exc.code == 0, argv
        assert expected in " ".join(capsys.readouterr().out.split()), argv
