"""What the round drives: work sources (file jobs, live sessions) and the items their windows belong to.

The round (`worker.schedule.loop`) knows nothing of files or sessions: between batches it lets every
source take new work, picks a batch across every source's items (`worker.schedule.batching`), decodes
it (`worker.schedule.batch_decoder`), and hands each source back the texts of its own items.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

from worker.model.transcriber import DecodeRequest, WindowText
from worker.schedule.batching import Schedulable


class WorkItem(Schedulable, Protocol):
    """Something with speech windows for the model: an open file job, or a live unit (one window).
    What batching reads of it (lane, windows left, order, fairness) is `Schedulable`."""

    @property
    def id(self) -> str: ...

    @property
    def paced(self) -> bool:
        """Decoded at a speaker's pace (someone waits for its text as they talk)."""

    @property
    def final(self) -> bool:
        """A paced item whose text ends an utterance: what a clinician waits for."""

    def request(self, index: int) -> DecodeRequest:
        """Window `index` as the model takes it."""

    def redo(self, index: int, text: str) -> DecodeRequest | None:
        """Window `index` to decode again (without its prompt) when `text` came out truncated; None: it stands."""


Slot = tuple[WorkItem, int]
"""One window of a batch: an item and the index of its window."""
Decoded = tuple[list[WindowText | None], dict[str, Exception]]
"""A batch's texts, slot by slot, and the items the model failed on, by id."""


ItemT = TypeVar("ItemT", bound=WorkItem)


class WorkSource(Protocol[ItemT]):
    """A kind of work the round serves, with its own kind of item. Every call comes from the round's thread."""

    @property
    def open(self) -> bool:
        """Work is open (or in flight): the round goes on."""

    @property
    def serving(self) -> bool:
        """Someone is waiting as they talk (a live session is held): batches go a window at a time where
        a batch costs in proportion to its size."""

    @property
    def talking(self) -> bool:
        """An utterance is in progress or in the model."""

    def refill(self, room: int) -> None:
        """Between batches: take new work; `room` is how many windows the next batches have free."""

    def wind_down(self) -> None:
        """Past the round's time limit: take no new work, hand back what another round can go on with."""

    def collect(self) -> None:
        """Take up what finished off the round's thread meanwhile (without waiting)."""

    def check(self) -> Sequence[ItemT]:
        """Before batches are picked: drop the items that must stop; the rest, whose windows may go in."""

    def launched(self, slots: Sequence[tuple[ItemT, int]], now: float) -> None:
        """A batch went to the model with these of this source's windows (maybe none)."""

    def land(self, slots: Sequence[tuple[ItemT, int]], texts: Sequence[WindowText | None],
             failed: dict[str, Exception]) -> None:
        """The texts of this source's windows in a batch that finished (and the items it failed on)."""

    def waits(self) -> list[Future[Any]]:
        """What runs off the round's thread now: the round, with nothing to launch, waits on it."""

    def close(self, fault: Exception | None) -> None:
        """The round ends (`fault`: Redis or the audio store failed mid-round): let go of everything."""
