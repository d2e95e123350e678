"""The raw-format readers: the nesting guard against a second method (json's own depth count)."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest

from imb_tools.infra.errors import ImbError
from imb_tools.infra.readers import DepthGuard


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


def _random_value(rng, depth):
    def text():  # strings full of what could fool a bracket count: brackets, quotes, backslashes
        return "".join(rng.choice(['a', '[', '{', '"', '\\', ']', '}', ' ', '\\\\', '\\"', 'é'])
                       for _ in range(rng.randint(0, 8)))

    if depth == 0 or rng.random() < 0.3:
        return text()
    if rng.random() < 0.5:
        return [_random_value(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return {text(): _random_value(rng, depth - 1) for _ in range(rng.randint(0, 3))}


def test_depth_guard_agrees_with_the_parsed_depth_whatever_the_block_cuts():
    rng = random.Random(7)
    for _ in range(1500):
        value = [_random_value(rng, rng.randint(1, 8))]
        data = json.dumps(value, ensure_ascii=rng.random() < 0.5).encode()
        limit = rng.randint(1, 9)
        guard = DepthGuard(io.BytesIO(data), Path("x.json"), limit)
        read = guard.readinto if rng.random() < 0.5 else None
        try:
            if read:
                buffer = bytearray(rng.randint(1, 7))
                while read(buffer):
                    pass
            else:
                while guard.read(rng.randint(1, 7)):
                    pass
            refused = False
        except ImbError:
            refused = True
        assert refused == (_depth(value) > limit), data
        if not refused:
            assert guard.depth == 0 and not guard.in_string


def test_depth_guard_message_names_the_file():
    with pytest.raises(ImbError, match=r"deep\.json: JSON nested more than 3 levels deep"):
        DepthGuard(io.BytesIO(b"[[[[1]]]]"), Path("deep.json"), 3).read()
