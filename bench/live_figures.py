"""A live-latency run's figures: each final's two latencies, their percentiles, and the tail's timeline.

Two latencies per final, both ending when the final reached the client:

- **from the end of speech** (Pipecat's definition): from the moment the last word the final holds was
  spoken (its end by the reference VAD over the clip's own audio, `live_clips.REFERENCE_VAD`; the
  final's own `end` when the final was cut while speech ran on). It counts the pause the endpointer
  waits for, and the chunking (a 200 ms chunk leaves once it is recorded).
- **from the audio sent**: from the moment the chunk holding the final's `end` was sent (this bench's
  figure until 2026-12-04): what the system adds once it has the audio.

Percentiles are nearest-rank: p99 of fewer than 100 finals is the maximum.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from live_sessions import Run, Streamed

EDGE_SECONDS = 0.25
"""Reference speech that runs on this little past a final's `end` is the final's (VADs place a word's
edge differently); more, and the final was cut while its speaker went on."""
QUANTILES = (("p50", 0.50), ("p90", 0.90), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))


@dataclass(frozen=True)
class Final:
    """One final, its times in seconds since the run started."""

    session: int
    clip: str
    wave: int
    start: float
    end: float
    """Of the session's audio (seconds), as the final says."""
    speech_end: float | None
    """Where the last speech it holds ends (seconds of audio, reference VAD); None: it holds none."""
    said_at: float | None
    sent_at: float
    arrived: float
    text: str

    @property
    def latency(self) -> float | None:
        """From the end of speech (Pipecat's definition)."""
        return None if self.said_at is None else self.arrived - self.said_at

    @property
    def sent_latency(self) -> float:
        """From the audio up to its `end` sent."""
        return self.arrived - self.sent_at


def speech_end(start: float, end: float, speech: tuple[tuple[float, float], ...]) -> float | None:
    """Where the speech a final over `start`–`end` holds ends; None when it holds no speech."""
    held = [s for s in speech if s[0] < end and s[1] > start]
    if not held:
        return None
    last = held[-1][1]
    return last if last <= end + EDGE_SECONDS else end


def sent_at(sent: list[tuple[float, float]], seconds: float) -> float:
    """When the chunk holding audio second `seconds` was sent."""
    for said, at in sent:
        if said >= seconds - 1e-6:
            return at
    return sent[-1][1]


def finals_of(run: Run) -> list[Final]:
    out = []
    for n, s in enumerate(run.sessions):
        if not s.sent:
            continue
        for message, arrived in s.finals():
            start, end = float(message["start"]), float(message["end"])
            spoken = speech_end(start, end, s.clip.speech)
            said = None if spoken is None else s.started + spoken / s.speed - run.origin
            out.append(Final(n, s.clip.name, s.wave, start, end, spoken, said,
                             sent_at(s.sent, end) - run.origin, arrived - run.origin, str(message["text"])))
    return out


def unheard(s: Streamed) -> int:
    """Stretches of reference speech in a session's clip that no final holds (dropped speech)."""
    spans = [(float(m["start"]), float(m["end"])) for m, _ in s.finals()]
    return sum(not any(a < e and b > st for a, b in spans) for st, e in s.clip.speech)


def quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {name: math.nan for name, _ in QUANTILES}
    return {name: ordered[max(0, math.ceil(q * len(ordered)) - 1)] for name, q in QUANTILES}


def line(values: list[float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in quantiles(values).items()) + " s"


def tail(finals: list[Final], run: Run, share: float = 0.05, least: int = 3) -> list[str]:
    """The slowest finals, each with what else happened then: other sessions' finals that arrived in
    the 3 s before it, and the file jobs decoding (evidence for where the tail comes from)."""
    timed = sorted((f for f in finals if f.latency is not None), key=lambda f: f.latency or 0.0, reverse=True)
    rows = []
    for f in timed[:max(least, math.ceil(share * len(timed)))]:
        assert f.said_at is not None and f.latency is not None
        before = [g for g in finals if g.session != f.session and f.arrived - 3 <= g.arrived <= f.arrived]
        decoding = sum(1 for j in run.file_work if j.processing is not None and j.processing - run.origin <= f.arrived
                       and (j.ended is None or j.ended - run.origin >= f.said_at))
        rows.append(f"    {f.latency:5.2f} s  {f.clip:<18} {f.start:6.2f}-{f.end:6.2f} s of audio: speech ended "
                    f"{f.speech_end:6.2f}, said at {f.said_at:7.2f}, end sent {f.sent_at:7.2f} "
                    f"(+{f.sent_latency:.2f} s), "
                    f"arrived {f.arrived:7.2f}; {len(before)} other finals in the 3 s before, "
                    f"{decoding} file-work jobs processing; {len(f.text.split())} words")
    return rows


def record(run: Run, finals: list[Final]) -> dict[str, Any]:
    """Everything measured, for a JSON file beside the plot."""
    return {"split": run.split, "arrival": run.arrival, "sessions": run.count, "file_jobs": run.file_jobs,
            "repeat": run.repeat, "seconds": round(run.seconds, 2),
            "finals": [{**asdict(f), "latency": f.latency, "sent_latency": f.sent_latency} for f in finals],
            "session_list": [{"clip": s.clip.name, "voice": s.clip.voice, "pace": s.clip.pace, "noisy": s.clip.noisy,
                              "wave": s.wave, "live": s.live_text(), "job": s.job_text, "spoken": s.clip.spoken,
                              "lagging": s.count("lagging"), "error": s.error} for s in run.sessions],
            "file_work": [{"processing": None if j.processing is None else j.processing - run.origin,
                           "ended": None if j.ended is None else j.ended - run.origin} for j in run.file_work]}
