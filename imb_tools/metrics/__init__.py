"""Text-generation metrics shared by the lm-eval tasks, fine-tuning eval and RAG compare.

One copy: the code is the task folder's (`lm_eval_tasks/imb_common/metrics.py`, which
must stand alone for lm-eval); these modules name it for the toolkit and turn its
one-line errors into ImbError.
`text`: ROUGE-1/2/L, BLEU, METEOR with an Italian-aware tokenizer (cheap, CPU).
`bertscore`: BERTScore with the model loaded once per process and reused.
"""

from __future__ import annotations

import contextlib
import functools

from imb_tools.infra.errors import ImbError


@contextlib.contextmanager
def task_errors():
    """The task folder's one-line errors (TaskError, a ValueError) as ImbError: `imb: error:`."""
    from lm_eval_tasks.imb_common import TaskError

    try:
        yield
    except TaskError as exc:
        raise ImbError(str(exc)) from None


def one_line_errors(fn):
    """`fn` (from the task folder) raising ImbError instead of TaskError."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        with task_errors():
            return fn(*args, **kwargs)

    return call
