"""lm-evaluation-harness task folders for IMB, shipped as package data.

lm-eval finds them through `--include_path "$(imb tasks-path)"`; the YAMLs
are written by `imb tasks generate` (imb_tools.evaluation.tasks), the Python they
call lives in each folder's `utils.py`.
"""
