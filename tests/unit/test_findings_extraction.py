"""What the extractor reports from a formatted note: values, units, the words and the audio they came from."""

from typing import Any

from core.jobs import Segment, Word
from findings.extraction import extract, extract_result
from findings.models import ColonoscopyFindings, EgdFindings, PancreatobiliaryFindings, Stated, json_schema

NOTE = ("Screening colonoscopy. Sedation was 2 mg of midazolam and 50 mcg of fentanyl. "
        "The colonoscope was advanced to the cecum, identified by the appendiceal orifice. "
        "BBPS 3, 2, 3. A 6 mm sessile polyp in the ascending colon was removed with a cold snare and retrieved. "
        "Withdrawal time was 9 minutes. No complications. Repeat colonoscopy in 5 years.")


def _colon(text: str) -> ColonoscopyFindings:
    found = extract("colonoscopy", text)
    assert isinstance(found, ColonoscopyFindings)
    return found


def _egd(text: str) -> EgdFindings:
    found = extract("egd", text)
    assert isinstance(found, EgdFindings)
    return found


def _said(text: str, stated: Stated[Any] | None) -> str:
    assert stated is not None
    return text[stated.start : stated.end]


def test_a_colonoscopy_note_gives_every_field_it_states_with_its_words() -> None:
    found = _colon(NOTE)
    assert isinstance(found, ColonoscopyFindings)
    assert found.indication is not None and found.indication.value == "screening"
    assert [(s.agent.value, s.dose.value if s.dose else None, s.dose.unit if s.dose else None)
            for s in found.sedation] == [("midazolam", 2.0, "mg"), ("fentanyl", 50.0, "ug")]
    assert found.extent is not None and found.extent.value == "cecum" and _said(NOTE, found.extent) == "cecum"
    assert found.cecum_reached is not None and found.cecum_reached.value is True
    assert [m.value for m in found.landmarks] == ["appendiceal orifice"]
    assert [s.value if s else None for s in (found.bbps_right, found.bbps_transverse, found.bbps_left)] == [3, 2, 3]
    assert found.bbps_total is None  # not said, so not summed
    (polyp,) = found.polyps
    assert polyp.size_mm is not None and (polyp.size_mm.value, polyp.size_mm.unit) == (6.0, "mm")
    assert _said(NOTE, polyp.size_mm) == "6 mm"
    assert [v.value if v else None for v in (polyp.location, polyp.morphology, polyp.removal, polyp.retrieved)] == [
        "ascending colon", "sessile", "cold snare", True]
    assert polyp.paris is None
    assert found.withdrawal_minutes is not None and _said(NOTE, found.withdrawal_minutes) == "9 minutes"
    assert found.complications is not None and found.complications.value is False
    assert found.follow_up is not None and (found.follow_up.value, found.follow_up.unit) == (5.0, "a")
    assert found.incomplete_reason is None and found.polyps_absent is None


def test_a_field_not_said_is_absent() -> None:
    found = _colon("The colonoscope was advanced to the cecum.")
    assert found is not None
    dumped = found.model_dump(exclude={"extent", "cecum_reached"})
    assert all(v in (None, [], "colonoscopy") for v in dumped.values())


def test_audio_times_come_from_the_segment_that_said_it() -> None:
    text = "Screening colonoscopy. Withdrawal time was 8 minutes."
    segments = [Segment(start=0.0, end=2.0, text="Screening colonoscopy."),
                Segment(start=2.5, end=5.0, text="Withdrawal time was 8 minutes.")]
    found = extract("colonoscopy", text, segments)
    assert isinstance(found, ColonoscopyFindings)
    assert found.indication is not None and found.withdrawal_minutes is not None
    assert (found.indication.audio_start, found.indication.audio_end) == (0.0, 2.0)
    assert (found.withdrawal_minutes.audio_start, found.withdrawal_minutes.audio_end) == (2.5, 5.0)


def test_audio_times_come_from_the_words_when_alignment_ran() -> None:
    text = "Withdrawal time was 8 minutes."
    words = [Word(word=w, start=s, end=s + 0.4) for w, s in
             zip(["Withdrawal", "time", "was", "eight", "minutes."], [1.0, 1.5, 2.0, 2.5, 3.0], strict=True)]
    found = extract("colonoscopy", text, [Segment(start=1.0, end=3.4, text=text, words=words)])
    assert isinstance(found, ColonoscopyFindings) and found.withdrawal_minutes is not None
    assert (found.withdrawal_minutes.audio_start, found.withdrawal_minutes.audio_end) == (2.5, 3.4)


def test_several_polyps_in_one_sentence_are_each_their_own() -> None:
    found = _colon("A 5 mm sessile polyp in the cecum and a 12 mm pedunculated polyp in the "
                                   "sigmoid colon were removed with a hot snare.")
    assert found is not None
    assert [(p.size_mm.value if p.size_mm else None, p.location.value if p.location else None,
             p.morphology.value if p.morphology else None, p.removal.value if p.removal else None)
            for p in found.polyps] == [(5.0, "cecum", "sessile", "hot snare"),
                                       (12.0, "sigmoid colon", "pedunculated", "hot snare")]


def test_spoken_numbers_and_the_paris_class_are_read() -> None:
    found = _colon("A twenty millimeter flat polyp, Paris classification zero two a, was found "
                                   "in the transverse colon. It was removed by endoscopic mucosal resection.")
    assert found is not None
    (polyp,) = found.polyps
    assert [v.value if v else None for v in (polyp.size_mm, polyp.paris, polyp.removal)] == [20.0, "0-IIa", "EMR"]


def test_an_egd_note_gives_grade_prague_hernia_z_line_and_ulcers() -> None:
    text = ("Los Angeles grade B esophagitis. Prague C2 M4. A 3 cm hiatal hernia. The Z-line was irregular at "
            "38 cm from the incisors. A 10 mm ulcer in the duodenal bulb, Forrest IIb.")
    found = _egd(text)
    assert isinstance(found, EgdFindings)
    values = [f.value if f else None for f in (found.la_grade, found.prague_c, found.prague_m, found.hiatal_hernia,
                                               found.hiatal_hernia_cm, found.z_line, found.z_line_cm)]
    assert values == ["B", 2.0, 4.0, True, 3.0, "irregular", 38.0]
    (ulcer,) = found.ulcers
    assert [v.value if v else None for v in (ulcer.location, ulcer.size_mm, ulcer.forrest)] == [
        "duodenal bulb", 10.0, "IIb"]


def test_an_ercp_note_gives_cannulation_sphincterotomy_stents_and_stones() -> None:
    text = ("Deep biliary cannulation was achieved. A biliary sphincterotomy was performed. The duct was cleared "
            "of stones. A 7 French by 5 cm plastic biliary stent was placed.")
    found = extract("ercp", text)
    assert isinstance(found, PancreatobiliaryFindings)
    assert [f.value if f else None for f in (found.cannulation, found.sphincterotomy, found.stones_cleared)] == [
        True, True, True]
    (stent,) = found.stents
    assert [v.value if v else None for v in (stent.kind, stent.french, stent.length_cm, stent.duct)] == [
        "plastic", 7.0, 5.0, "bile duct"]
    assert stent.french is not None and stent.french.unit == "[Fr]"


def test_a_note_type_without_a_model_has_no_findings() -> None:
    assert extract("procedure", "A PEG tube was placed.") is None
    assert extract_result(None, "text").model_dump() == {"note_type": None, "findings": None}


def test_the_json_schema_describes_every_note_types_findings() -> None:
    schema = json_schema()
    assert {"ColonoscopyFindings", "EgdFindings", "PancreatobiliaryFindings", "Polyp"} <= set(schema["$defs"])
    assert schema["properties"]["findings"]["anyOf"][0]["discriminator"]["propertyName"] == "kind"


def test_a_size_range_for_several_polyps_gives_no_polyp_a_size() -> None:
    found = _colon("Three sessile polyps measuring 3 to 5 mm were found in the rectum and removed with cold forceps.")
    assert [(p.size_mm, p.location.value if p.location else None) for p in found.polyps] == [(None, "rectum")] * 3
