"""The functions the IMB-QA YAMLs call (`!function utils.X`).

The code is in ../imb_common (data, the prompt, metrics), shared by the three IMB task
folders; lm-eval loads this file by its path, so it finds that folder itself.
"""


def _imb_common(module: str):
    """`module` of imb_common (beside the task folders), the code the IMB task folders share, loaded once per process:
    as the package lm_eval_tasks.imb_common when that is this very folder (the IMB toolkit
    imports it by that name), else from its path (a copy of the folders, anywhere)."""
    import hashlib
    import importlib
    import importlib.util
    import sys
    from pathlib import Path

    shared = next(p / "imb_common" for p in Path(__file__).resolve().parents if (p / "imb_common").is_dir())
    try:
        spec = importlib.util.find_spec("lm_eval_tasks.imb_common")
    except ImportError:
        spec = None
    if spec is not None and spec.origin and Path(spec.origin).resolve().parent == shared:
        return importlib.import_module(f"lm_eval_tasks.imb_common.{module}")
    package = "imb_common_" + hashlib.blake2b(str(shared).encode(), digest_size=6).hexdigest()
    if package not in sys.modules:
        spec = importlib.util.spec_from_file_location(package, shared / "__init__.py",
                                                      submodule_search_locations=[str(shared)])
        sys.modules[package] = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(sys.modules[package])
        except BaseException:
            del sys.modules[package]
            raise
    return importlib.import_module(f"{package}.{module}")


_qa = _imb_common("qa")

load_qa = _qa.load_qa
doc_to_text = _qa.doc_to_text
doc_to_target = _qa.doc_to_target
process_results = _qa.process_results
agg_bleu = _qa.agg_bleu
agg_bertscore_precision = _qa.agg_bertscore_precision
agg_bertscore_recall = _qa.agg_bertscore_recall
agg_bertscore_f1 = _qa.agg_bertscore_f1
