"""Make the per-category IMB task groups for one build (the stubs are written by yaml.dump).

    python lm_eval_tasks/make_category_tasks.py --data DIR --out OUT
    lm_eval --include_path OUT --tasks imb_mcqa_by_category,imb_qa_by_macro ...

DIR is a folder made by `imb build` (or a parent of qa/ and mcqa/). OUT gets, per task
folder, one subtask per category (IMB-MCQA) or macro-category (IMB-QA, IMB-QA with RAG)
of DIR's test split, its group, the categories it was made for (`categories.json`), and
the complete tasks; every stub includes this folder's templates by absolute path and
defaults to DIR. See imb_common/tasksets.py.
"""

import runpy
from pathlib import Path

# Run as a script from anywhere: imb_common/load.py beside it finds the shared code.
_imb_common = runpy.run_path(str(Path(__file__).resolve().parents[0] / "imb_common" / "load.py"))["load"]


def main(argv=None) -> int:
    import argparse
    import sys

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
