"""`--data`, as every command declares it: a built dataset, read by the command.

A folder made by `imb build` (or a parent of `qa/` and `mcqa/`, as `out/demo`), or a Hub
repo id. What it names as local inputs, for the one output-vs-input check
(cli_options.check_io), are the builds it holds (data/built.py).
"""

from __future__ import annotations

import argparse

from imb_tools.cli_options import input_option, local_or_hub
from imb_tools.data.built import find_build


def built_data_paths(value) -> list[str]:
    """The local builds `--data DIR` names: DIR itself, or its qa/ and mcqa/ builds."""
    if not value:
        return []
    found = [str(b.path) for b in (find_build(value, k) for k in ("qa", "mcqa")) if b is not None]
    return found or [str(value)]


def add_data_option(parser, help_text: str, required: bool = True, option: str = "--data") -> argparse.Action:
    """`--data DIR|ORG/NAME`: a built dataset (folder made by 'imb build', or a Hub repo id)."""
    return input_option(parser, option, required=required, type=local_or_hub, metavar="DIR|ORG/NAME",
                        paths=built_data_paths, help=help_text)
