"""The batch decoder without Redis: out-of-memory halving, one item's failure kept to that item, and the
re-decode of windows a prompt cut short."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

from tests.fakes import FakeTranscriber
from worker.context import BatchLimit
from worker.model.transcriber import DecodeRequest
from worker.schedule.batch_decoder import BatchDecoder
from worker.schedule.work import Slot


@dataclass
class Item:
    """A work item whose windows are `seconds` long each, decoded with `prompt`; `guarded` ones are
    decoded again without it when their text comes out as "cut"."""

    id: str
    seconds: float = 1.0
    prompt: str | None = None
    guarded: bool = False
    high: bool = False
    remaining: int = 0
    seq: int = 0
    sent: int = 0
    key: Hashable = 0
    passed_over: int = 0
    paced: bool = False
    final: bool = False

    def request(self, index: int) -> DecodeRequest:
        return DecodeRequest(np.zeros(int(self.seconds * 16000), np.float32), "en", self.prompt)

    def redo(self, index: int, text: str) -> DecodeRequest | None:
        return DecodeRequest(self.request(index).audio, "en") if self.guarded and text == "cut" else None


def slots(*items: Item, windows: int = 1) -> list[Slot]:
    return [(item, n) for item in items for n in range(windows)]


def decoded(decoder: BatchDecoder, batch: list[Slot]) -> tuple[list[str | None], dict[str, Exception]]:
    """The batch's texts (None where its item failed), and the failures."""
    texts, failed = decoder.decode(batch)
    return [t.text if t else None for t in texts], failed


def test_a_batch_that_runs_out_of_memory_is_halved_and_stays_halved() -> None:
    models = FakeTranscriber(oom_above=2)
    limit = BatchLimit(size=8)
    decoder = BatchDecoder(models, limit)

    texts, failed = decoded(decoder, slots(Item("a"), Item("b"), windows=4))

    assert (texts, failed) == ([models.text] * 8, {})
    assert (limit.size, limit.oom_halvings) == (2, 2)
    assert [len(batch) for batch in models.batches] == [2, 2, 2, 2]
    models.batches.clear()
    decoder.decode(slots(Item("c"), windows=3))  # halved already: no out-of-memory error on the way
    assert [len(batch) for batch in models.batches] == [2, 1]


def test_one_window_that_does_not_fit_fails_its_item_as_out_of_memory() -> None:
    decoder = BatchDecoder(FakeTranscriber(oom_above=0), BatchLimit(size=4))

    texts, failed = decoded(decoder, slots(Item("a")))

    assert texts == [None]
    assert [(item_id, error.code) for item_id, error in failed.items()] == [("a", "gpu_out_of_memory")]  # type: ignore[attr-defined]


def test_an_item_that_makes_the_model_fail_fails_alone_and_its_batch_mates_get_their_texts() -> None:
    def reply(request: DecodeRequest) -> str:
        if request.audio.size == 2 * 16000:
            raise ValueError("this audio breaks the model")
        return f"{request.audio.size / 16000:g} s"

    models = FakeTranscriber(reply=reply)
    decoder = BatchDecoder(models, BatchLimit(size=8))

    texts, failed = decoded(decoder, slots(Item("a"), Item("bad", seconds=2.0), Item("c", seconds=3.0), windows=2))

    assert texts == ["1 s", "1 s", None, None, "3 s", "3 s"]
    assert list(failed) == ["bad"] and isinstance(failed["bad"], ValueError)
    # The whole batch once (it fails), then each item alone.
    assert [len(batch) for batch in models.batches] == [6, 2, 2, 2]


def test_windows_a_prompt_cut_short_are_decoded_again_without_it_in_one_batch() -> None:
    models = FakeTranscriber(reply=lambda r: "cut" if r.initial_prompt else "the whole sentence")
    decoder = BatchDecoder(models, BatchLimit(size=8))
    items = Item("guarded", prompt="cecum", guarded=True), Item("plain", prompt="cecum")

    texts, failed = decoded(decoder, slots(*items, windows=2))

    assert failed == {}
    assert texts == ["the whole sentence"] * 2 + ["cut"] * 2
    # The prompted batch, then the guarded item's two windows again, together and without the prompt.
    assert [[prompt for prompt, _ in batch] for batch in models.batches] == [["cecum"] * 4, [None, None]]


def test_when_the_redo_fails_the_prompted_texts_stand() -> None:
    def during(step: int) -> None:
        if step == 1:
            raise ValueError("the redo breaks")

    models = FakeTranscriber(reply=lambda r: "cut", during=during)
    decoder = BatchDecoder(models, BatchLimit(size=8))

    texts, failed = decoded(decoder, slots(Item("a", guarded=True, prompt="p")))

    assert (texts, failed) == (["cut"], {})
