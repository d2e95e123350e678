"""`imb demo`: build both datasets from the bundled sample into one folder.

The sample is small (about 75 Q/A and 75 MCQs), so the demo uses larger
evaluation fractions than a real build, to give every split some records.
"""

from __future__ import annotations

from pathlib import Path

DEMO_QA_FRACTIONS = {"test": 0.3, "validation": 0.1}
DEMO_MCQA_FRACTIONS = {"dev": 0.25}


def run_demo(out: str | Path, progress: bool = False) -> dict[str, dict]:
    from imb_tools import sample_data
    from imb_tools.data.kinds import build

    out = Path(out)
    return {
        "qa": build("qa", str(sample_data.QA_SAMPLE), out / "qa", DEMO_QA_FRACTIONS, progress),
        "mcqa": build("mcqa", str(sample_data.MCQA_SAMPLE), out / "mcqa", DEMO_MCQA_FRACTIONS, progress),
    }
