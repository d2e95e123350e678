"""ROUGE, BLEU and METEOR for Italian text, offline: the task folder's code
(lm_eval_tasks/imb_common/metrics.py, whose docstring says why and how), one copy."""

from __future__ import annotations

from lm_eval_tasks.imb_common import metrics as _metrics

from imb_tools.metrics import one_line_errors

ItalianTokenizer = _metrics.ItalianTokenizer
tokenize = _metrics.tokenize
rouge_per_item = one_line_errors(_metrics.rouge_per_item)
rouge = one_line_errors(_metrics.rouge)
bleu = one_line_errors(_metrics.bleu)
meteor_per_item = one_line_errors(_metrics.meteor_per_item)
meteor = one_line_errors(_metrics.meteor)
