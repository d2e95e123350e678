"""imb stats: Table 5 beside the paper's counts, Table 4 lengths in tokens and characters."""

from __future__ import annotations

from imb_tools.analysis import stats


def test_table5_shows_the_difference_per_macro_category():
    built = dict(stats.PAPER_TABLE5)
    built["Neurology"] -= 100  # a short build
    built["Mental health"] += 7
    rows = {name: (b, p, d) for name, b, p, d, _ in stats.table5_comparison(built)}
    assert rows["Neurology"] == (46604, 46704, -100) and rows["Mental health"][2] == 7
    assert all(d == 0 for name, (_, _, d) in rows.items() if name not in ("Neurology", "Mental health"))
    # a macro-category the paper does not have (a wrong mapping) shows up too
    rows = {r[0]: r for r in stats.table5_comparison({"Made-up macro": 5})}
    assert rows["Made-up macro"][2] == 0 and rows["Neurology"][3] == -46704


def test_table4_lengths_labelled_in_tokens_and_characters(built_mcqa):
    figures = stats.compute_stats(str(built_mcqa))
    assert figures["question"]["avg_length_tokens"] > 0 and figures["answer"]["max_length_tokens"] > 0
    text = stats.format_stats(figures)
    assert "Avg. Question Length (tokens)" in text and "Avg. Question Length (characters)" in text
    assert "Table 5" not in text  # IMB-MCQA has no macro-categories
