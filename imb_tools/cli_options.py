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


def deprecated_alias(parser, old: str, new: str, dest: str, flag: bool = False) -> None:
    """Accept `old` as a hidden spelling of `new` (same dest), with a one-line warning."""
    kwargs = {"nargs": 0} if flag else {}
    parser.add_argument(old, dest=dest, action=_Deprecated, new=new, help=argparse.SUPPRESS,
                        default=argparse.SUPPRESS, **kwargs)
