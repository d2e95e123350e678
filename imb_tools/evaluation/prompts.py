"""The one IMB-QA prompt, used by the lm-eval tasks, `imb rag` and fine-tuning evaluation.

It is the task folder's (lm_eval_tasks/imb_common/qa.py): change the wording there and
every place that asks a model an IMB-QA question changes with it, so their scores stay
comparable.
"""

from __future__ import annotations

from lm_eval_tasks.imb_common.qa import INSTRUCTION, format_prompt  # noqa: F401  (named here for the toolkit)
