"""The IMB-MCQA tasks' functions, from the one public module imb_tools.evaluation.task_api."""

from pathlib import Path

from imb_tools.evaluation import task_api as _api

doc_to_choice = _api.mcqa_doc_to_choice
doc_to_text = _api.mcqa_doc_to_text
doc_to_text_p2 = _api.mcqa_doc_to_text_p2
doc_to_text_p3 = _api.mcqa_doc_to_text_p3
doc_to_text_cloze = _api.mcqa_doc_to_text_cloze


def load_mcqa(**kwargs):
    return _api.load_mcqa(Path(__file__).parent, **kwargs)
