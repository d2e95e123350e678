"""BERTScore with the model loaded once per process: the task folder's code
(lm_eval_tasks/imb_common/metrics.py), one copy, so `imb eval`'s check before generation,
the task's aggregation and the per-category tables share one model and its pair scores."""

from __future__ import annotations

from lm_eval_tasks.imb_common import metrics as _metrics

from imb_tools.metrics import one_line_errors, task_errors

DEFAULT_MODEL = _metrics.DEFAULT_BERTSCORE_MODEL  # the IMB paper's BERTScore model
resolve_layers = one_line_errors(_metrics.resolve_layers)
settings_from_metadata = one_line_errors(_metrics.settings_from_metadata)
get_scorer = one_line_errors(_metrics.get_scorer)
score = one_line_errors(_metrics.bertscore)


class BertScorer(_metrics.BertScorer):
    """The task folder's scorer, with its one-line errors as ImbError."""

    def __init__(self, *args, **kwargs):
        with task_errors():
            super().__init__(*args, **kwargs)

    def score(self, *args, **kwargs) -> dict:
        with task_errors():
            return super().score(*args, **kwargs)


def __getattr__(name: str):
    if name == "LOADS":  # models loaded in this process (read live: the benchmark and tests)
        return _metrics.LOADS
    raise AttributeError(name)
