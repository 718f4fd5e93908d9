"""Which speech windows go into the next batch: plain functions over the jobs a worker has open.

Order: the high-priority lane first; then a job passed over for `STARVING_AFTER` batches in a row
(when more jobs are open than a batch has slots); then the job with the fewest windows left; then
the job admitted first. The first job in that order leads the batch, and only windows that may share
a forward pass with its windows (the same `key`: CTranslate2 needs the start-of-transcript token at
one position in every prompt of a batch) go in. The high-priority lane takes every slot it can use;
the other slots are dealt one per job first, in that order, so every job that fits gets a window into
every batch (a short clip that just arrived rides in the next one, whatever long recordings are
open), and only then do the jobs first in order take the rest.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Protocol, TypeVar

STARVING_AFTER = 4


class Schedulable(Protocol):
    @property
    def high(self) -> bool: ...

    @property
    def remaining(self) -> int: ...

    @property
    def seq(self) -> int: ...

    @property
    def sent(self) -> int: ...

    @property
    def key(self) -> Hashable: ...

    @property
    def passed_over(self) -> int: ...


J = TypeVar("J", bound=Schedulable)


def pick_batch(jobs: Sequence[J], size: int, high_alone: bool = False) -> list[tuple[J, int]]:
    """Up to `size` (job, window index) pairs, each job's windows in order, none picked twice.

    `high_alone`: a batch the high-priority lane leads takes only that lane's windows. Where a batch
    costs in proportion to its size (a CPU), normal work beside them would only delay the urgent
    windows (a live utterance); on an accelerator it rides along nearly free.
    """
    order = sorted((j for j in jobs if j.remaining > 0),
                   key=lambda j: (not j.high, j.passed_over < STARVING_AFTER, j.remaining, j.seq))
    if not order or size < 1:
        return []
    key, alone = order[0].key, high_alone and order[0].high
    mates = [j for j in order if j.key == key and (j.high or not alone)]
    counts = [0] * len(mates)
    free = size
    for n, job in enumerate(mates):  # the high-priority lane: all it can use
        if job.high:
            counts[n] = min(job.remaining, free)
            free -= counts[n]
    for n in range(len(mates)):  # one window each, in order
        if free and not counts[n]:
            counts[n], free = 1, free - 1
    for n, job in enumerate(mates):  # then the rest, first in order first
        extra = min(job.remaining - counts[n], free)
        counts[n], free = counts[n] + extra, free - extra
    return [(job, job.sent + w) for job, count in zip(mates, counts, strict=True) for w in range(count)]
