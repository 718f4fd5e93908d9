"""The findings dev set: at least 40 labelled dictations, and the extractor meets its targets on them."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_findings", ROOT / "bench" / "findings.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_findings"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_dev_set_has_forty_labelled_dictations_across_note_types() -> None:
    items = _bench().load_set()
    assert len(items) >= 40
    assert {i.dictation.note_type for i in items} >= {"colonoscopy", "egd", "ercp", "eus", "sigmoidoscopy"}


def test_every_field_meets_precision_098_and_recall_095_on_the_reference_text() -> None:
    bench = _bench()
    totals = bench.reference(bench.load_set(), show=False)
    below = {field: (tp / got if got else 1.0, tp / truth if truth else 1.0)
             for field, (tp, got, truth) in totals.items()
             if (got and tp / got < 0.98) or (truth and tp / truth < 0.95)}
    assert below == {}
    assert sum(truth for _, _, truth in totals.values()) > 300


def test_scoring_counts_a_false_finding_against_precision_and_a_miss_against_recall() -> None:
    bench = _bench()
    truth = bench.label_pairs({"indication": "screening", "polyps": [{"size_mm": 5}]})
    got = bench.label_pairs({"indication": "diagnostic", "polyps": [{"size_mm": 5}, {"size_mm": 7}]})
    totals = bench.score([("n", truth, got)], show=False)
    assert totals["indication"] == (0, 1, 1)
    assert totals["polyps.size_mm"] == (1, 2, 1)
    assert totals["polyps.count"] == (0, 1, 1)
