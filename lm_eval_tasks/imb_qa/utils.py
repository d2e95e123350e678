"""The IMB-QA tasks' functions, from the one public module imb_tools.evaluation.task_api."""

from pathlib import Path

from imb_tools.evaluation import task_api as _api

doc_to_text = _api.qa_doc_to_text
doc_to_target = _api.doc_to_target
process_results = _api.process_results
agg_bleu = _api.agg_bleu
agg_bertscore_precision = _api.agg_bertscore_precision
agg_bertscore_recall = _api.agg_bertscore_recall
agg_bertscore_f1 = _api.agg_bertscore_f1


def load_qa(**kwargs):
    return _api.load_qa(Path(__file__).parent, **kwargs)
