"""Leaderboard: lm-eval results files -> one tidy table, plots, a Hub dataset repo and a page.

`collect` reads results files into the table, `plots` draws the paper's
figures, `push` merges the table into a Hub dataset repo, `space_app` is the
Gradio page (one self-contained file, deployable as a Space) and `serve`
starts it locally.
"""
