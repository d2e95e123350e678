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
    """Refuse (ImbError) or return the provenance record the results keep."""
    from imb_tools.rag.knowledge_base import normalized_hash, passages_from_split

    where = f"index {rag_index.path}"
    data = f"--data {source.location}"
    built_from = rag_index.manifest.get("build")
    record = {
        "index": str(rag_index.path),
        "index_build": built_from if isinstance(built_from, dict) else None,
        "data": source.location,
        "data_build": source.record(),
        "scored_splits": list(splits),
        "other_build_allowed": False,
    }
    if not isinstance(built_from, dict) or not isinstance(built_from.get("fingerprint"), str):
        if not allow_other_build:
            raise ImbError(f"{where} records no build it was made from (an index older than this check): "
                           f"rebuild it from {data} with `imb rag index`, or pass {ALLOW_FLAG}")
        record["other_build_allowed"] = True
    else:
        drawn = sorted(set(built_from.get("kb_splits") or ()) & set(splits))
        if drawn:
            raise ImbError(f"{where} drew its knowledge base from the {', '.join(drawn)} split, which {data} "
                           f"scores: rebuild the index (its knowledge base comes from train)")
        if built_from["fingerprint"] != source.fingerprint:
            if not allow_other_build:
                raise ImbError(f"{where} was made from build {built_from['fingerprint']}, not from {data} "
                               f"({source.fingerprint}): rebuild the index from {source.location}, "
                               f"or pass {ALLOW_FLAG}")
            record["other_build_allowed"] = True
    ids: set[str] = set()
    answers: dict[str, str] = {}
    for split in splits:
        if split in dataset:
            for p in passages_from_split(dataset[split]):
                ids.add(p.id)
                if p.text.strip():
                    answers.setdefault(normalized_hash(p.text), p.id)
    by_id = [p.id for p in rag_index.passages if p.id in ids]
    by_text = [p.id for p in rag_index.passages if p.id not in ids and normalized_hash(p.text) in answers]
    if by_id or by_text:
        first = (by_id + by_text)[0]
        raise ImbError(f"{where} holds {len(by_id) + len(by_text)} item(s) of the {'/'.join(splits)} split of "
                       f"{data} ({len(by_id)} by id, {len(by_text)} by answer text; first: {first}): "
                       f"its passages would hand the model the reference answers; rebuild the index from "
                       f"{source.location}")
    record["overlap"] = {"by_id": 0, "by_answer_text": 0}
    return record


def warn_if_allowed(record: dict) -> None:
    import sys

    if record["other_build_allowed"]:
        made = (record["index_build"] or {}).get("fingerprint", "an unrecorded build")
        print(f"imb: warning: index {record['index']} was made from {made}, not from {record['data']} "
              f"({record['data_build']['fingerprint']}); scoring anyway ({ALLOW_FLAG}), as the results record",
              file=sys.stderr)
