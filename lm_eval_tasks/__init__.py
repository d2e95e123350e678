"""lm-evaluation-harness task folders for IMB (imb_mcqa, imb_qa, imb_qa_rag), shipped as package data.

They stand alone: the YAMLs are hand-written, the Python they call is in each folder's
`utils.py` and the shared `imb_common/`, which import only lm-eval and the packages the
READMEs list, never imb_tools. lm-eval finds them through `--include_path` (the IMB
toolkit prints this folder with `imb tasks path`); `make_category_tasks.py` writes the
per-category groups for one build.
"""
