"""The functions the IMB-QA YAMLs call (`!function utils.X`).

The code is in ../imb_common (data, the prompt, metrics), shared by the three IMB task
folders; lm-eval loads this file by its path, so it finds that folder itself.
"""

import runpy
from pathlib import Path

# lm-eval imports this file by its path: imb_common/load.py finds the shared code (one copy of that lookup).
_imb_common = runpy.run_path(str(Path(__file__).resolve().parents[1] / "imb_common" / "load.py"))["load"]

_qa = _imb_common("qa")

load_qa = _qa.load_qa
doc_to_text = _qa.doc_to_text
doc_to_target = _qa.doc_to_target
process_results = _qa.process_results
agg_bleu = _qa.agg_bleu
agg_bertscore_precision = _qa.agg_bertscore_precision
agg_bertscore_recall = _qa.agg_bertscore_recall
agg_bertscore_f1 = _qa.agg_bertscore_f1
