"""Live dictation figures: how long a final takes after its speech ended, and how accurate the live text is.

    .venv/bin/python bench/live_latency.py     # the issue's figures: held-out, simultaneous, 4 and 8 sessions, 2 runs
    .venv/bin/python bench/live_latency.py --split dev heldout --arrival staggered simultaneous joining \\
        --sessions 1 4 8 32 64 --file-jobs 2 --repeat 2 --out /tmp/live   # everything (GPU host: minutes per config)

It starts the whole stack on loopback (redis-server, one worker with the bundled model under Celery,
the API under uvicorn) and, for each split (`--split`: the dev set, the held-out set or both), arrival
pattern (`--arrival`: staggered, simultaneous, joining; see `live_sessions`), session count
(`--sessions`) and repeat (`--repeat`), streams every clip of the split (both voices, their paces,
their noisy copies; `live_clips`) in waves of that many concurrent sessions, in 200 ms chunks at the
speaker's pace over real WebSockets, while `--file-jobs` long recordings keep the worker busy. Each
session has its dictation's `note_type` and `formatting=none`, so the live and the job's text are both
the model's words.

Per run it prints: the finals' latency from the end of speech (Pipecat's definition, the reference VAD
over the clip's own audio) and from the audio sent (p50, p90, p95, p99, max; `live_figures`); the
WER (Whisper's English normalizer, as bench/wer.py) of the sessions' finals joined and of their jobs'
results (the same audio as file jobs) against what the voices said; the worker's wait and decode per
unit (`live_units`); the slowest finals with their timestamps; and it draws the latency over time per
session (`live_plots`) into `--out`, with a JSON of every final beside it. A table of every run ends it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after the root: bench/findings.py is not the findings package
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx  # noqa: E402
from live_clips import SPLITS, describe, load_split, sessions_for  # noqa: E402
from live_figures import finals_of, line, quantiles, record, tail, unheard  # noqa: E402
from live_plots import plot_run  # noqa: E402
from live_sessions import ARRIVALS, Run, run_configuration  # noqa: E402
from live_units import read_units, split_lines  # noqa: E402
from wer import wer  # noqa: E402

from tests.services import free_port, start_api, start_redis, start_worker  # noqa: E402
from worker.live.session import SHORT_UTTERANCE_SECONDS  # noqa: E402


def report(run: Run, out: Path, show: bool) -> dict[str, object]:
    """Print one run's figures, draw its plot, write its JSON; the row for the closing table."""
    finals = finals_of(run)
    timed = [f.latency for f in finals if f.latency is not None]
    sent = [f.sent_latency for f in finals]
    refs = [s.clip.spoken for s in run.sessions]
    live_wer = wer(refs, [s.live_text() for s in run.sessions])
    job_wer = wer(refs, [s.job_text for s in run.sessions])
    name = f"{run.split}-{run.arrival}-{run.count}s-{run.file_jobs}f-run{run.repeat}"
    waves = max(s.wave for s in run.sessions) + 1
    print(f"  {len(run.sessions)} sessions in {waves} waves, {run.seconds:.0f} s: {len(finals)} finals "
          f"({len(finals) - len(timed)} holding no speech; {sum(unheard(s) for s in run.sessions)} stretches "
          f"of speech no final holds); lagging events {sum(s.count('lagging') for s in run.sessions)}")
    print(f"  end of speech -> final (Pipecat): {line(timed)}")
    print(f"  audio sent    -> final:           {line(sent)}")
    print(f"  WER live {live_wer:.2%}, job {job_wer:.2%} (same audio as file jobs)")
    spans = [f.end - f.start for f in finals] or [0.0]
    print(f"  utterances: mean {sum(spans) / len(spans):.1f} s, longest {max(spans):.1f} s; "
          f"{sum(s > SHORT_UTTERANCE_SECONDS for s in spans)} of {len(finals)} over {SHORT_UTTERANCE_SECONDS:g} s "
          f"(encoded in a 30 s window, not 15 s)")
    for s in run.sessions:
        if s.error:
            print(f"  session {s.clip.name} failed: {s.error}")
    if show:
        for n, s in enumerate(run.sessions):
            print(f"  {s.clip.name}\n    spoken: {s.clip.spoken}\n    job:    {s.job_text}")
            for f in (f for f in finals if f.session == n):
                shown = "  -  " if f.latency is None else f"{f.latency:5.2f}"
                print(f"    {f.start:6.2f}-{f.end:6.2f} {shown} s (sent +{f.sent_latency:.2f}): {f.text}")
    print("  slowest finals (run clock, s):")
    print("\n".join(tail(finals, run)))
    path = out / f"{name}.png"
    plot_run(run, finals, path, f"{name}: {len(finals)} finals, end of speech -> final {line(timed)}")
    (out / f"{name}.json").write_text(json.dumps(record(run, finals), indent=1))
    print(f"  plot {path}, finals {out / f'{name}.json'}", flush=True)
    return {"name": name, "finals": len(finals), "speech": quantiles(timed), "sent": quantiles(sent),
            "live": live_wer, "job": job_wer, "run": run}


def table(rows: list[dict[str, object]]) -> None:
    print("\nsplit    arrival      sessions files run finals | end of speech -> final: p50   p90   p95   p99   max "
          "| audio sent -> final: p50   p95   p99 | WER live   job")
    for row in rows:
        run = row["run"]
        assert isinstance(run, Run)
        q, s = row["speech"], row["sent"]
        assert isinstance(q, dict) and isinstance(s, dict)
        print(f"{run.split:<8} {run.arrival:<12} {run.count:>8} {run.file_jobs:>5} {run.repeat:>3} {row['finals']:>6} "
              f"|{'':24}{q['p50']:5.2f} {q['p90']:5.2f} {q['p95']:5.2f} {q['p99']:5.2f} {q['max']:5.2f} "
              f"|{'':21}{s['p50']:5.2f} {s['p95']:5.2f} {s['p99']:5.2f} "
              f"| {row['live']:7.2%} {row['job']:6.2%}", flush=True)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--split", nargs="+", choices=sorted(SPLITS), default=["heldout"],
                        help="dev: bench/devset/manifest.json; heldout: manifest.heldout.json (never tuned on)")
    parser.add_argument("--arrival", nargs="+", choices=ARRIVALS, default=["simultaneous"])
    parser.add_argument("--sessions", type=int, nargs="+", default=[4, 8], help="concurrent sessions, one run each")
    parser.add_argument("--file-jobs", type=int, default=2, help="long recordings kept in the worker's queue")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each configuration (each is printed)")
    parser.add_argument("--speed", type=float, default=1.0, help="times real time")
    parser.add_argument("--stagger", type=float, default=0.5, help="seconds between staggered starts")
    parser.add_argument("--join-every", type=float, default=2.0, help="seconds between sessions joining file work")
    parser.add_argument("--limit", type=int, help="only the first N clips of each split (a smoke test, not a figure)")
    parser.add_argument("--out", type=Path,
                        default=Path(tempfile.gettempdir()) / f"live-latency-{time.strftime('%Y%m%d-%H%M%S')}",
                        help="where the plots (PNG) and every final (JSON) go")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="worker settings, e.g. ENDOSCRIBE_TUNING_LIVE_MAX_UTTERANCE_SECONDS=8")
    parser.add_argument("--show", action="store_true", help="print each session's finals beside its job's text")
    args = parser.parse_args()
    if "joining" in args.arrival and args.file_jobs < 1:
        parser.error("--arrival joining needs file work to join: --file-jobs 1 or more")
    return args


def main() -> None:
    args = arguments()
    args.out.mkdir(parents=True, exist_ok=True)
    splits = {split: load_split(split, args.limit) for split in args.split}
    most = max(args.sessions)
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    redis_proc, url = start_redis(tmp)
    metrics_port = free_port()
    worker = start_worker(url, tmp, "bench", ENDOSCRIBE_METRICS_PORT=str(metrics_port),
                          ENDOSCRIBE_LIVE_SESSIONS_PER_WORKER=str(max(32, most)),
                          **dict(s.split("=", 1) for s in args.set))
    api, base = start_api(url, tmp, ENDOSCRIBE_LIVE_MAX_SESSIONS_PER_KEY=str(max(64, most)),
                          ENDOSCRIBE_QUOTA_REQUEST_RATE="", ENDOSCRIBE_QUOTA_MAX_JOBS_IN_FLIGHT="10000",
                          ENDOSCRIBE_QUOTA_MAX_AUDIO_HOURS_PER_DAY="100000")
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.processor() or platform.machine()}; "
          f"worker settings: {' '.join(args.set) or 'defaults'}; plots and finals in {args.out}", flush=True)
    rows = []
    try:
        httpx.get(metrics, timeout=10)  # the worker serves its metrics before the first run reads them
        for split, clips in splits.items():
            print(f"\nsplit {split}{' (first ' + str(args.limit) + ' clips only)' if args.limit else ''}: "
                  f"{describe(clips)}", flush=True)
            for arrival in args.arrival:
                for count in args.sessions:
                    for repeat in range(1, args.repeat + 1):
                        print(f"\n{split}, {arrival}, {count} sessions, {args.file_jobs} file jobs, "
                              f"run {repeat} of {args.repeat}:", flush=True)
                        before = read_units(metrics)
                        run = run_configuration(base, sessions_for(clips, count), count, arrival, args.file_jobs,
                                                args.speed, args.stagger, args.join_every, split, repeat)
                        rows.append(report(run, args.out, args.show))
                        print("  worker, per live unit (this run):")
                        print("\n".join(split_lines(before, read_units(metrics))), flush=True)
        table(rows)
    finally:
        for proc in (api, worker, redis_proc):
            proc.stop()


if __name__ == "__main__":
    main()
