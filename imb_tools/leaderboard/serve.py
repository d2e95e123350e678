"""`imb leaderboard serve`: the Space app (space_app.py) on a local table folder."""

from __future__ import annotations

from pathlib import Path

from imb_tools.infra.errors import ImbError, require


def serve(table_dir: str | Path, host: str = "127.0.0.1", port: int | None = None,
          show_all: bool = False) -> None:
    """Block serving the page until interrupted."""
    require("gradio", "leaderboard")
    from imb_tools.leaderboard import space_app

    try:
        table, summary, plots, scores, pairs = space_app.load(Path(table_dir))
    except FileNotFoundError as exc:
        raise ImbError(f"{exc} (run `imb leaderboard build` first)") from None
    runs = 0 if scores is None else scores["run_id"].nunique()
    print(f"IMB leaderboard: {runs} model runs, {len(table)} rows, {len(plots)} plots; "
          f"http://{host}:{port or 7860}/", flush=True)
    space_app.launch(space_app.build_app(table, summary, plots, scores, pairs, show_all=show_all),
                     host=host, port=port, quiet=True)
