"""What a live-latency run does against the real stack: sessions streaming in real time over the real
WebSocket, arriving in one of three patterns, while file work keeps the worker busy.

- `simultaneous`: every session of a wave starts at once;
- `staggered`: they start `stagger` seconds apart;
- `joining`: file work is already decoding (a file job is `processing`) when the first session
  starts, and the others join `join_every` seconds apart.

A run streams its clips in waves of as many sessions as it runs at once; the next wave starts when
every session of this one has ended. File work (`FileWork`: long recordings, as many as asked, one
submitted again as each ends) runs from the run's start to its end; each session's own job (its audio
as a file job) runs too, as file work, once the session ends.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from live_clips import Clip

from tests.jobs import FINAL, long_recording, submit, wait_for_status
from tests.live import LiveClient, chunks

ARRIVALS = ("staggered", "simultaneous", "joining")


@dataclass
class Streamed:
    """One session of a run: what it sent, when, and what came back."""

    clip: Clip
    wave: int
    speed: float
    started: float = 0.0
    """`time.monotonic()` when the clip's first sample was spoken (its audio at t s was spoken at
    `started + t / speed`, and is sent once the 200 ms chunk that holds it is complete)."""
    sent: list[tuple[float, float]] = field(default_factory=list)
    """(seconds of audio sent so far, `time.monotonic()` when that chunk was sent), chunk by chunk."""
    messages: list[dict[str, Any]] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)
    job_id: str = ""
    job_text: str = ""
    error: str = ""

    def finals(self) -> list[tuple[dict[str, Any], float]]:
        return [(m, t) for m, t in zip(self.messages, self.arrived, strict=True) if m["type"] == "final"]

    def live_text(self) -> str:
        return " ".join(str(m["text"]) for m, _ in self.finals())

    def count(self, kind: str) -> int:
        return sum(m["type"] == kind for m in self.messages)


@dataclass
class FileJob:
    id: str
    submitted: float
    processing: float | None = None
    ended: float | None = None


@dataclass
class Run:
    """One configuration, run once."""

    split: str
    arrival: str
    count: int
    file_jobs: int
    repeat: int
    origin: float
    sessions: list[Streamed]
    file_work: list[FileJob]
    seconds: float = 0.0


class FileWork:
    """`count` long recordings in the worker's queue or decoding, one submitted again as each ends."""

    def __init__(self, base_url: str, count: int, minutes: float = 2.0) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=60)
        self.count = count
        self.audio = long_recording(max(1, round(minutes * 4)))  # the fixture is 15 s
        self.jobs: list[FileJob] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._feed, daemon=True)

    def start(self) -> FileWork:
        if self.count:
            self.thread.start()
        return self

    def wait_processing(self, timeout: float = 300) -> None:
        """Until a file job is decoding: sessions that join now arrive while file windows run."""
        deadline = time.monotonic() + timeout
        while not any(j.processing and not j.ended for j in list(self.jobs)):
            if time.monotonic() > deadline:
                raise SystemExit(f"no file job started decoding within {timeout:.0f} s")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop feeding, and cancel what is still queued or decoding, so the next run starts idle."""
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join(30)
        for job in self.jobs:
            if job.ended is None:
                self.client.delete(f"/v1/jobs/{job.id}")
                job.ended = time.monotonic()
        self.client.close()

    def _feed(self) -> None:
        while not self.stopped.is_set():
            running = [j for j in self.jobs if j.ended is None]
            for _ in range(self.count - len(running)):
                created = submit(self.client, self.audio, filename="file-work.wav")
                self.jobs.append(FileJob(created["id"], time.monotonic()))
            for job in running:
                status = self.client.get(f"/v1/jobs/{job.id}").json()["status"]
                if status == "processing" and job.processing is None:
                    job.processing = time.monotonic()
                if status in FINAL:
                    job.ended = time.monotonic()
            self.stopped.wait(0.25)


def offsets(arrival: str, count: int, stagger: float, join_every: float) -> list[float]:
    """When each session of a wave starts, in seconds after the wave's start."""
    if arrival == "simultaneous":
        return [0.0] * count
    return [n * (stagger if arrival == "staggered" else join_every) for n in range(count)]


def run_configuration(base_url: str, clips: list[Clip], count: int, arrival: str, file_jobs: int, speed: float,
                      stagger: float, join_every: float, split: str, repeat: int) -> Run:
    """Stream `clips` in waves of `count` sessions arriving as `arrival` says, with file work running."""
    streamed = [Streamed(clip, n // count, speed) for n, clip in enumerate(clips)]
    run = Run(split, arrival, count, file_jobs, repeat, time.monotonic(), streamed, [])
    work = FileWork(base_url, file_jobs).start()
    run.file_work = work.jobs
    with httpx.Client(base_url=base_url, timeout=60) as client:
        try:
            for first in range(0, len(streamed), count):
                wave = streamed[first:first + count]
                if arrival == "joining":
                    work.wait_processing()
                begin = time.monotonic() + 0.2
                threads = [threading.Thread(target=stream, args=(client, s, begin + delay))
                           for s, delay in zip(wave, offsets(arrival, len(wave), stagger, join_every), strict=True)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
        finally:
            work.stop()
        run.seconds = time.monotonic() - run.origin
        for s in streamed:
            if s.job_id:
                job = wait_for_status(client, s.job_id, timeout=900)
                if job["status"] == "completed":
                    s.job_text = client.get(f"/v1/jobs/{s.job_id}/result").json()["text"]
    return run


def stream(client: httpx.Client, s: Streamed, at: float) -> None:
    """One session: open it at `at`, send the clip in 200 ms chunks at the speaker's pace, end it."""
    time.sleep(max(0.0, at - time.monotonic()))
    try:
        session = client.post("/v1/sessions", json={"note_type": s.clip.note_type, "formatting": "none"}).json()
        s.job_id = session["job_id"]
        live = LiveClient(session["stream_url"])
        s.messages, s.arrived = live.messages, live.arrived
        s.started = time.monotonic()
        said = 0.0
        for piece in chunks(s.clip.pcm):
            said += len(piece) / 32000
            # A real client sends a chunk once it has recorded it: when its last sample was spoken.
            time.sleep(max(0.0, s.started + said / s.speed - time.monotonic()))
            live.ws.send(piece)
            s.sent.append((said, time.monotonic()))
        live.end(timeout=600)
    except Exception as exc:  # noqa: BLE001 - one failed session is reported, and the run goes on
        s.error = f"{exc.__class__.__name__}: {exc}"[:300]
