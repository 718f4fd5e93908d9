"""Which speech windows go into the next batch: plain functions over the jobs a worker has open.

Order: the high-priority lane first; then a job passed over for `STARVING_AFTER` batches in a row
(so a stream of short clips cannot starve a long job); then the job with the fewest windows left (a
short clip rides in the next batch instead of waiting for a long recording to end); then the job
admitted first. The first job in that order leads the batch, and only windows that may share a
forward pass with its windows (the same `key`: CTranslate2 needs the start-of-transcript token at
one position in every prompt of a batch) fill the rest.
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
    slots: list[tuple[J, int]] = []
    for job in (j for j in order if j.key == key and (j.high or not alone)):
        take = min(job.remaining, size - len(slots))
        slots.extend((job, job.sent + n) for n in range(take))
        if len(slots) == size:
            break
    return slots
