"""A run's latency over time, drawn with matplotlib (Agg, to a PNG).

The top panel has every session on the run's clock (a final at the moment its speech ended, its
latency up), file jobs' decoding shaded: finals of several sessions that are slow at one moment show
up as a column. Below it one small panel per session (at most `MAX_PANELS`), on the session's own
audio clock, with both latencies.
"""

from __future__ import annotations

import math
from pathlib import Path

from live_figures import Final
from live_sessions import Run

MAX_PANELS = 64
COLUMNS = 4


def plot_run(run: Run, finals: list[Final], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sessions = run.sessions[:MAX_PANELS]
    rows = math.ceil(len(sessions) / COLUMNS)
    fig = plt.figure(figsize=(11, 3.2 + 1.5 * rows), dpi=72)
    grid = fig.add_gridspec(rows + 2, COLUMNS, height_ratios=[2.2, 0.15] + [1.0] * rows)
    top = fig.add_subplot(grid[0, :])
    for job in run.file_work:
        if job.processing is not None:
            end = (job.ended if job.ended is not None else run.origin + run.seconds) - run.origin
            top.axvspan(job.processing - run.origin, end, color="0.9", zorder=0)
    timed = [f for f in finals if f.latency is not None]
    colors = plt.get_cmap("tab10")
    for n in sorted({f.session for f in timed}):
        mine = [f for f in timed if f.session == n]
        top.plot([f.said_at for f in mine], [f.latency for f in mine], "o-", ms=3, lw=0.6, color=colors(n % 10))
    top.set_title(title, fontsize=9)
    top.set_xlabel("run clock (s): when the final's speech ended; grey: a file job decoding", fontsize=8)
    top.set_ylabel("end of speech → final (s)", fontsize=8)
    top.tick_params(labelsize=7)
    top.grid(alpha=0.3)
    highest = max([f.latency or 0.0 for f in timed] + [f.sent_latency for f in finals] + [1.0])
    for k, s in enumerate(sessions):
        ax = fig.add_subplot(grid[2 + k // COLUMNS, k % COLUMNS])
        mine = [f for f in finals if f.session == k]
        ax.plot([f.end for f in mine], [f.sent_latency for f in mine], "s", ms=3, color="0.6", label="from sent")
        ax.plot([f.speech_end for f in mine if f.latency is not None],
                [f.latency for f in mine if f.latency is not None], "o-", ms=3, lw=0.6, color="C0",
                label="from end of speech")
        ax.set_xlim(0, s.clip.seconds + 1)
        ax.set_ylim(0, highest * 1.05)
        ax.set_title(f"{s.clip.name} (wave {s.wave + 1}), by its audio's clock", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3)
        if k == 0:
            ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
