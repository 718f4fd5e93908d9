"""Live sessions as a work source of the round: the desk's units ride along between batches.

Each utterance (partial or final) is a one-window unit on the high-priority lane (`worker.live`).
The round serves its sessions until its time limit, when it hands them back and calls `wake` (the
live task), so that its own task ends and the next round serves them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import redis

from worker import metrics as worker_metrics
from worker.context import JobContext
from worker.live.desk import LiveDesk
from worker.live.session import LiveUnit
from worker.model.transcriber import ModelInfo, WindowText

log = logging.getLogger(__name__)


class LiveWork:
    """The live units one round has waiting for (or going through) the model, and the desk that makes them."""

    def __init__(self, ctx: JobContext, info: ModelInfo, wake: Callable[[], None] | None = None) -> None:
        self.wake = wake
        # The live sessions' looks (VAD over their new audio) run on a thread of their own, one at a
        # time as the live VAD needs: not on the file jobs' VAD thread, where a long recording's speech
        # takes seconds to find, nor on the round's, where they would hold back everyone's batches.
        self.looker = ThreadPoolExecutor(1, thread_name_prefix="look")
        self.desk = LiveDesk(ctx, info, looker=self.looker)
        self.units: list[LiveUnit] = []
        """Live utterances waiting for (or going through) the model: one window each, high priority."""

    @property
    def open(self) -> bool:
        return bool(self.units or self.desk.held)

    @property
    def serving(self) -> bool:
        return bool(self.desk.held)

    @property
    def talking(self) -> bool:
        return self.desk.talking()

    def refill(self, room: int) -> None:
        # Between batches, so a live utterance waits for at most the batch in flight. Partials only for
        # as many sessions as the next batch can take, so none waits and goes stale.
        self.units = [unit for unit in self.units if unit.sent or not unit.stale]
        waiting = sum(not unit.sent for unit in self.units)
        self.units.extend(self.desk.poll(admit=True, partials=max(0, room - waiting)))

    def wind_down(self) -> None:
        """Past the round's time limit: hand its live sessions back (those whose final is in the model
        once it lands), so the round ends and its task message is acked well inside the broker's
        visibility timeout, and the next round, on this worker or another, serves them. Else a client
        that keeps talking would hold the round, and this worker, for good."""
        if not self.desk.held:
            return
        flying = {unit.session.id for unit in self.units if unit.sent and unit.final}
        self.units = [unit for unit in self.units if unit.sent]
        if self.desk.release(keep=flying):
            self._wake()

    def collect(self) -> None:
        """Looks are taken up by the desk's own poll (`refill`)."""

    def check(self) -> Sequence[LiveUnit]:
        return self.units

    def launched(self, slots: Sequence[tuple[LiveUnit, int]], now: float) -> None:
        for unit, _ in slots:
            unit.sent += 1
            unit.launched_at = now
            worker_metrics.observe_live_unit(unit.cut.kind, "wait", now - unit.made_at)

    def land(self, slots: Sequence[tuple[LiveUnit, int]], texts: Sequence[WindowText | None],
             failed: dict[str, Exception]) -> None:
        now = time.monotonic()
        for (unit, _), text in zip(slots, texts, strict=True):
            worker_metrics.observe_live_unit(unit.cut.kind, "decode", now - unit.launched_at)
            if unit in self.units:
                self.units.remove(unit)
            if unit.id in failed:
                self.desk.fail(unit, failed[unit.id])
            else:
                self.desk.deliver(unit, text.text if text else "")

    def waits(self) -> list[Future[Any]]:
        return list(self.desk.looks())

    def close(self, fault: Exception | None) -> None:
        """Hand back the sessions still held (a round cut short): another round or worker takes them over."""
        self.looker.shutdown(wait=True, cancel_futures=True)
        self.units.clear()
        try:
            released = self.desk.release()
        except redis.RedisError:
            return  # their leases lapse by themselves; the recovery sweep wakes a worker for them
        if released:
            self._wake()

    def _wake(self) -> None:
        if self.wake is None:
            return
        try:
            self.wake()
        except Exception as exc:  # noqa: BLE001 - the recovery sweep wakes a worker for unserved sessions too
            log.warning("could not send the live task (%s); the recovery sweep will", exc.__class__.__name__)
