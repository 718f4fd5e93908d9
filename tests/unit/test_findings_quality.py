"""Quality measures over stored findings: rates with their denominators, missing fields, CSV; no spaCy."""

import subprocess
import sys
from typing import Any

from findings.models import ColonoscopyFindings, Polyp, Stated
from findings.quality import QualityRecord, quality_csv, quality_record, quality_report


def _s(value: Any) -> Any:
    return Stated[Any](value=value, start=0, end=1)


def test_a_record_keeps_values_and_no_words_spans_or_times() -> None:
    findings = ColonoscopyFindings(
        indication=_s("screening"), cecum_reached=_s(True), bbps_right=_s(3), bbps_transverse=_s(2),
        bbps_left=_s(2), withdrawal_minutes=_s(7.5), polyps=[Polyp(size_mm=_s(5.0))], complications=_s(False),
    )
    record = quality_record(findings)
    assert record.model_dump() == {"indication": "screening", "cecum_reached": True, "bbps": (3, 2, 2),
                                   "withdrawal_minutes": 7.5, "polyps": 1, "complications": False,
                                   "follow_up": False}


def test_the_report_counts_each_rate_over_the_notes_that_state_it() -> None:
    records = [
        QualityRecord(indication="screening", cecum_reached=True, bbps=(3, 3, 3), withdrawal_minutes=8, polyps=2,
                      complications=False, follow_up=True),
        QualityRecord(indication="screening", cecum_reached=True, bbps=(2, 1, 3), withdrawal_minutes=5, polyps=0,
                      complications=False, follow_up=True),
        QualityRecord(indication="surveillance", cecum_reached=False, withdrawal_minutes=11, polyps=1,
                      complications=True),
        QualityRecord(),
    ]
    report = quality_report(records)
    assert report.model_dump() == {
        "notes": 4,
        "cecal_intubation": {"numerator": 2, "denominator": 3, "rate": 0.6667},
        "withdrawal": {"count": 3, "mean_minutes": 8.0, "median_minutes": 8.0,
                       "at_least_6_minutes": {"numerator": 2, "denominator": 3, "rate": 0.6667}},
        "adequate_preparation": {"numerator": 1, "denominator": 2, "rate": 0.5},
        "polyp_detection": {"numerator": 2, "denominator": 3, "rate": 0.6667},
        "screening_polyp_detection": {"numerator": 1, "denominator": 2, "rate": 0.5},
        "complications": {"numerator": 1, "denominator": 3, "rate": 0.3333},
        "missing": {"indication": 1, "cecum_reached": 1, "bbps": 2, "withdrawal_minutes": 1, "polyps": 1,
                    "complications": 1, "follow_up": 2},
    }


def test_no_notes_give_no_rates_rather_than_zero() -> None:
    report = quality_report([])
    assert report.cecal_intubation.rate is None and report.withdrawal.mean_minutes is None


def test_the_csv_has_one_row_per_measure() -> None:
    csv = quality_csv(quality_report([QualityRecord(cecum_reached=True, withdrawal_minutes=6, polyps=0)]))
    lines = csv.splitlines()
    assert lines[0] == "measure,value,numerator,denominator"
    assert "cecal_intubation_rate,1.0,1,1" in lines
    assert "withdrawal_at_least_6_minutes_rate,1.0,1,1" in lines
    assert "polyp_detection_rate,0.0,0,1" in lines
    assert "adequate_preparation_rate,,0,0" in lines
    assert "missing_bbps,1,1,1" in lines


def test_the_quality_module_does_not_import_spacy() -> None:
    code = "import sys, findings.quality; assert 'spacy' not in sys.modules, 'spacy imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_periods_are_calendar_weeks_or_months_clipped_to_the_window() -> None:
    from datetime import date

    from findings.quality import period_bounds

    weeks = list(period_bounds(date(2026, 11, 4), date(2026, 11, 17), "week"))  # a Wednesday to a Tuesday
    months = list(period_bounds(date(2026, 12, 15), date(2027, 2, 2), "month"))
    assert [(a.isoformat(), b.isoformat()) for a, b in weeks] == [
        ("2026-11-04", "2026-11-08"), ("2026-11-09", "2026-11-15"), ("2026-11-16", "2026-11-17")]
    assert [(a.isoformat(), b.isoformat()) for a, b in months] == [
        ("2026-12-15", "2026-12-31"), ("2027-01-01", "2027-01-31"), ("2027-02-01", "2027-02-02")]
    assert list(period_bounds(date(2026, 11, 4), date(2026, 11, 4), "month")) == [(date(2026, 11, 4),) * 2]


def test_every_target_cites_a_source_of_the_findings_sources_file() -> None:
    import json

    from findings.quality_targets import SOURCES, quality_targets

    cited = set(json.loads(SOURCES.read_text())["sources"].values())
    report_fields = set(quality_report([]).model_dump()) | {"withdrawal.mean_minutes"}
    assert all(t.source in cited and t.measure in report_fields for t in quality_targets())
