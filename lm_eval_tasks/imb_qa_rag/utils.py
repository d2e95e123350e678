"""The functions the imb_qa_rag YAMLs call (`!function utils.X`); the rest of its settings
(generation, metrics) come from ../imb_qa's template, which imb_qa_rag.yaml includes.

The code is in ../imb_common (retrieval and the index's provenance check in `rag`),
shared by the three IMB task folders; lm-eval loads this file by its path, so it finds
that folder itself.
"""

import runpy
from pathlib import Path

# lm-eval imports this file by its path: imb_common/load.py finds the shared code (one copy of that lookup).
_imb_common = runpy.run_path(str(Path(__file__).resolve().parents[1] / "imb_common" / "load.py"))["load"]

_rag = _imb_common("rag")

load_qa_rag = _rag.load_qa_rag
doc_to_text = _rag.doc_to_text
