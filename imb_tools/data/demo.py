"""`imb demo`: build both datasets from the bundled sample into one folder.

The sample is small (about 75 Q/A and 75 MCQs), so the demo uses larger
evaluation fractions than a real build, to give every split some records.
"""

from __future__ import annotations

from pathlib import Path

DEMO_QA_FRACTIONS = {"test": 0.3, "validation": 0.1}
DEMO_MCQA_FRACTIONS = {"dev": 0.25}


def run_demo(out: str | Path, progress: bool = False) -> dict[str, dict]:
    from imb_tools import sample_data
    from imb_tools.data.access import build

    out = Path(out)
    refuse_other_outputs(out)
    copy_raw_sample(out / "raw")
    return {
        "qa": build("qa", str(sample_data.QA_SAMPLE), out / "qa", DEMO_QA_FRACTIONS, progress),
        "mcqa": build("mcqa", str(sample_data.MCQA_SAMPLE), out / "mcqa", DEMO_MCQA_FRACTIONS, progress),
    }


def refuse_other_outputs(out: Path) -> None:
    """The demo folder gathers the README's outputs (qa/, mcqa/, raw/, tiny-llama/, eval/...),
    so it is open to files; but it is never itself a build, an index, a model or another
    command's output folder, which its subfolders would turn into something else."""
    from imb_tools.infra.errors import ImbError
    from imb_tools.infra.ownership import command_markers

    foreign = command_markers(out)
    if (out / "config.json").is_file():
        foreign.append("config.json")
    if foreign:
        raise ImbError(f"--out {out}: holds the output of another command ({', '.join(foreign)}): "
                       f"a build, an index, a model or a run; choose another folder for the demo")


def copy_raw_sample(folder: Path) -> list[Path]:
    """The raw sample files into `folder` (OUT/raw), so the preprocessing examples of the
    README have a forum dump to work on. A file of the same name with other content is the
    user's: it is left alone."""
    import logging
    import shutil

    from imb_tools import sample_data

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for source in (sample_data.QA_SAMPLE, sample_data.MCQA_SAMPLE):
        target = folder / source.name
        if target.exists() and target.read_bytes() != source.read_bytes():
            logging.getLogger(__name__).warning("%s exists with other content: left as it is", target)
            continue
        shutil.copyfile(source, target)
        written.append(target)
    return written
