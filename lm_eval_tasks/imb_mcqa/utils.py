"""The functions the IMB-MCQA YAMLs call (`!function utils.X`).

The code is in ../imb_common (data, prompts, the letter-token check), shared by the three
IMB task folders; lm-eval loads this file by its path, so it finds that folder itself.
"""

import runpy
from pathlib import Path

# lm-eval imports this file by its path: imb_common/load.py finds the shared code (one copy of that lookup).
_imb_common = runpy.run_path(str(Path(__file__).resolve().parents[1] / "imb_common" / "load.py"))["load"]

_mcqa = _imb_common("mcqa")

load_mcqa = _mcqa.load_mcqa
doc_to_choice = _mcqa.doc_to_choice
doc_to_text = _mcqa.doc_to_text
doc_to_text_p2 = _mcqa.doc_to_text_p2
doc_to_text_p3 = _mcqa.doc_to_text_p3
doc_to_text_cloze = _mcqa.doc_to_text_cloze
