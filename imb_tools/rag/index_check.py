"""Is this index fit to score on this build? What `rag eval` and `rag compare` check first.

A score with retrieval means something only if the knowledge base holds none of the
items being scored. The index's manifest says which build and which splits its
knowledge base came from ("build", see index.py); the check refuses, in one line
naming both:
- an index whose knowledge base holds an item of a scored split, by id or by
  content (the same normalized answer text): always, whatever the flags;
- an index made from another build, or one that records no build (made before
  this check existed), unless --allow-other-build is given; the result then says so.
"""

from __future__ import annotations

from collections.abc import Sequence

from imb_tools.infra.errors import ImbError

ALLOW_FLAG = "--allow-other-build"


def check_index_for(rag_index, dataset, source, splits: Sequence[str], allow_other_build: bool = False) -> dict:
    """Refuse (ImbError) or return the provenance record the results keep. The rule is the
    task folder's (lm_eval_tasks/imb_common/rag.py: provenance_refusal), one copy."""
    from lm_eval_tasks.imb_common.rag import provenance_refusal

    built_from = rag_index.manifest.get("build")
    scored = [(i, a) for split in splits if split in dataset
              for i, a in zip(dataset[split]["id"], dataset[split]["answer"])]
    refusal, waived = provenance_refusal(
        built_from, [(p.id, p.text) for p in rag_index.passages], scored, list(splits), source.fingerprint, None,
        allow_other_build, f"index {rag_index.path}", f"--data {source.location}")
    if refusal:
        raise ImbError(refusal.replace("or allow another build", f"or pass {ALLOW_FLAG}"))
    return {
        "index": str(rag_index.path),
        "index_build": built_from if isinstance(built_from, dict) else None,
        "data": source.location,
        "data_build": source.record(),
        "scored_splits": list(splits),
        "other_build_allowed": waived,
        "overlap": {"by_id": 0, "by_answer_text": 0},
    }


def warn_if_allowed(record: dict) -> None:
    import sys

    if record["other_build_allowed"]:
        made = (record["index_build"] or {}).get("fingerprint", "an unrecorded build")
        print(f"imb: warning: index {record['index']} was made from {made}, not from {record['data']} "
              f"({record['data_build']['fingerprint']}); scoring anyway ({ALLOW_FLAG}), as the results record",
              file=sys.stderr)
