"""Make the per-category IMB task groups for one build (the stubs are written by yaml.dump).

    python lm_eval_tasks/make_category_tasks.py --data DIR --out OUT
    lm_eval --include_path OUT --tasks imb_mcqa_by_category,imb_qa_by_macro ...

DIR is a folder made by `imb build` (or a parent of qa/ and mcqa/). OUT gets, per task
folder, one subtask per category (IMB-MCQA) or macro-category (IMB-QA, IMB-QA with RAG)
of DIR's test split, its group, the categories it was made for (`categories.json`), and
the complete tasks; every stub includes this folder's templates by absolute path and
defaults to DIR. See imb_common/tasksets.py.
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


def main(argv=None) -> int:
    import argparse
    import sys
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="make_category_tasks.py", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a build made by `imb build`, or a parent of qa/ and mcqa/")
    parser.add_argument("--out", required=True, help="folder for the task set (pass it to --include_path)")
    args = parser.parse_args(argv)
    tasksets = _imb_common("tasksets")
    try:
        rendered = tasksets.render(Path(__file__).resolve().parent, args.data, args.out)
        tasksets.write(rendered, args.out)
    except ValueError as exc:  # imb_common.TaskError: one line
        print(f"make_category_tasks.py: error: {exc}", file=sys.stderr)
        return 2
    print(Path(args.out).resolve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
