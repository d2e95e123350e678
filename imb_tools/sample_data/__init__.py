"""Bundled raw sample in the published IMB shapes, for tests and quick tries.

This is a SAMPLE WRITTEN BY THE PROJECT FOR TESTING, NOT IMB DATA: every
question, answer, name, phone number, e-mail and fiscal code in it is made up.
It ends with deliberately bad records (listed in README.md beside this file)
so that validation and quarantine paths get exercised.
"""

from pathlib import Path

HERE = Path(__file__).parent
QA_SAMPLE = HERE / "IMB-QA.sample.json"
MCQA_SAMPLE = HERE / "IMB-MCQA.sample.json"
