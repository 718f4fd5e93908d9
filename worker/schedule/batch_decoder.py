"""One batch through the model: out-of-memory halving, per-item isolation, and the truncation re-decode.

Plain and Redis-free: it takes slots (an item and a window index each) and returns their texts, and
which items the model failed on, so a job whose audio makes the model fail fails alone, not its
batch-mates.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from core.errors import EndoScribeError, ErrorCode
from worker import metrics as worker_metrics
from worker.context import BatchLimit
from worker.model.transcriber import DecodeRequest, ModelOutOfMemory, Transcriber, WindowText
from worker.schedule.work import Decoded, Slot

log = logging.getLogger(__name__)

_EMPTY = WindowText("")


class OutOfMemory(EndoScribeError):
    code = ErrorCode.GPU_OUT_OF_MEMORY


class BatchDecoder:
    """Decodes batches with `models`, halving `limit` (for the rest of the process) when one does not fit."""

    def __init__(self, models: Transcriber, limit: BatchLimit) -> None:
        self.models = models
        self.limit = limit

    def decode(self, slots: Sequence[Slot]) -> Decoded:
        """The batch's texts (truncated ones decoded again); an item whose windows make the model fail is
        reported, not its batch-mates."""
        texts, failed = self._isolating(slots)
        self._redo_truncated(slots, texts, failed)
        return texts, failed

    def _isolating(self, slots: Sequence[Slot]) -> Decoded:
        requests = [item.request(i) for item, i in slots]
        try:
            return list(self._halving(requests)), {}
        except Exception as exc:  # noqa: BLE001 - isolated below, item by item
            if len({item.id for item, _ in slots}) == 1:
                return [None] * len(slots), {slots[0][0].id: _item_error(exc)}
            first_error = exc
        log.warning("a batch failed (%s); retrying its jobs one by one", first_error.__class__.__name__)
        texts: list[WindowText | None] = [None] * len(slots)
        failed: dict[str, Exception] = {}
        for item_id in dict.fromkeys(item.id for item, _ in slots):
            mine = [n for n, (item, _) in enumerate(slots) if item.id == item_id]
            try:
                for n, text in zip(mine, self._halving([requests[n] for n in mine]), strict=True):
                    texts[n] = text
            except Exception as exc:  # noqa: BLE001 - this item fails, the others go on
                failed[item_id] = _item_error(exc)
        return texts, failed

    def _redo_truncated(self, slots: Sequence[Slot], texts: list[WindowText | None],
                        failed: dict[str, Exception]) -> None:
        """Decode again, without the prompt, the windows a prompt made Whisper cut short or loop on."""
        lost = [(n, again) for n, (item, i) in enumerate(slots)
                if item.id not in failed and (again := item.redo(i, (texts[n] or _EMPTY).text)) is not None]
        if not lost:
            return
        try:
            redone = self._halving([request for _, request in lost])
        except Exception as exc:  # noqa: BLE001 - the prompted texts stand
            log.warning("re-decoding %d truncated windows failed (%s)", len(lost), exc.__class__.__name__)
            return
        for (n, _), text in zip(lost, redone, strict=True):
            texts[n] = text

    def _halving(self, requests: Sequence[DecodeRequest]) -> list[WindowText]:
        """Decode; when the accelerator runs out of memory, halve the batch (down to 1) and go on."""
        limit = self.limit
        if len(requests) > (size := limit.size):  # halved meanwhile: no need to run out of memory again
            return [text for start in range(0, len(requests), size)
                    for text in self._halving(requests[start:start + size])]
        try:
            return self.models.decode(requests)
        except ModelOutOfMemory:
            if len(requests) == 1:
                raise
            limit.size = max(1, len(requests) // 2)
            limit.oom_halvings += 1
            worker_metrics.count_oom_halving()
            log.warning("out of accelerator memory at batch %d; batch size is now %d", len(requests), limit.size)
            return self._halving(requests)


def _item_error(exc: Exception) -> Exception:
    if isinstance(exc, ModelOutOfMemory):
        return OutOfMemory("the accelerator ran out of memory even for one window; tell the operator")
    return exc
