"""A negated or uncertain finding is never reported present: one case per negation pattern."""

from typing import Any

import pytest

from findings.extraction import extract
from findings.models import ColonoscopyFindings, EgdFindings


def _present(note_type: str, text: str, field: str) -> Any:
    found = extract(note_type, text)
    assert found is not None
    return getattr(found, field)


def _colon(text: str) -> ColonoscopyFindings:
    found = extract("colonoscopy", text)
    assert isinstance(found, ColonoscopyFindings)
    return found


def _egd(text: str) -> EgdFindings:
    found = extract("egd", text)
    assert isinstance(found, EgdFindings)
    return found


@pytest.mark.parametrize("text", [
    "No polyps were seen.",
    "Polyps were not seen in the colon.",
    "The colon was examined and no polyps, masses or inflammation were identified.",
    "There was no evidence of polyps.",
    "The colon was free of polyps.",
    "There was a possible polyp in the cecum, which was a fold on closer inspection.",
    "A suspected polyp in the sigmoid colon was a diverticulum.",
    "Indication: surveillance for a history of adenomas.",
    "The prior polypectomy site was identified and showed no residual polyp.",
    "Colonoscopy after resection of a large adenoma.",
])
def test_a_negated_uncertain_or_past_polyp_is_not_a_polyp(text: str) -> None:
    assert _present("colonoscopy", text, "polyps") == []


def test_no_other_polyps_does_not_say_there_were_none() -> None:
    found = _colon("A 5 mm sessile polyp was removed with a cold snare. No other polyps were seen.")
    assert found is not None and len(found.polyps) == 1 and found.polyps_absent is None


@pytest.mark.parametrize("text", [
    "The cecum could not be reached.",
    "We were unable to reach the cecum.",
    "The colonoscope could not be advanced beyond the sigmoid colon due to a stricture.",
    "The scope was advanced only to the transverse colon, where the procedure was stopped.",
    "The cecum was not reached because of looping.",
])
def test_an_examination_that_stopped_short_is_not_cecal_intubation(text: str) -> None:
    reached = _present("colonoscopy", text, "cecum_reached")
    assert reached is not None and reached.value is False


def test_a_terminal_ileum_not_intubated_is_not_the_extent() -> None:
    found = _colon("The colonoscope was advanced to the cecum. The terminal ileum was not intubated.")
    assert found is not None and found.extent is not None and found.extent.value == "cecum"
    assert [m.value for m in found.landmarks] == []


@pytest.mark.parametrize("text", [
    "The patient tolerated the procedure well without complications.",
    "There were no complications.",
    "No immediate complications.",
    "There were no adverse events.",
    "No bleeding or perforation occurred after the polypectomy.",
    "There was no evidence of perforation.",
])
def test_no_complication_is_reported_when_the_note_says_none(text: str) -> None:
    found = _colon(text)
    assert found.complications is None or found.complications.value is False
    assert found.complication_kinds == []


@pytest.mark.parametrize(("text", "field"), [
    ("There was no hiatal hernia.", "hiatal_hernia"),
    ("There were no esophageal varices.", "varices"),
    ("The esophagus was normal, without varices.", "varices"),
])
def test_an_absent_egd_finding_is_reported_absent(text: str, field: str) -> None:
    value = _present("egd", text, field)
    assert value is not None and value.value is False


@pytest.mark.parametrize("text", ["There was no esophagitis.", "There was no evidence of esophagitis."])
def test_no_esophagitis_has_no_grade(text: str) -> None:
    found = _egd(text)
    assert found is not None and found.la_grade is None
    assert found.esophagitis_absent is not None and found.esophagitis_absent.value is True


@pytest.mark.parametrize(("text", "field"), [
    ("There were no ulcers in the stomach or duodenum.", "ulcers"),
    ("A possible ulcer was seen in the antrum.", "ulcers"),
    ("Post banding ulcers from the prior session were healing.", "ulcers"),
    ("No biopsies were taken from the stomach.", "biopsy_sites"),
])
def test_a_negated_egd_list_finding_is_left_out(text: str, field: str) -> None:
    assert _present("egd", text, field) == []


@pytest.mark.parametrize(("text", "field"), [
    ("Cannulation of the bile duct failed.", "cannulation"),
    ("We were unable to cannulate the bile duct.", "cannulation"),
    ("The papilla could not be cannulated.", "cannulation"),
    ("No sphincterotomy was performed.", "sphincterotomy"),
    ("The stones could not be cleared.", "stones_cleared"),
    ("Residual stones remained in the duct.", "stones_cleared"),
])
def test_a_failed_ercp_step_is_reported_false(text: str, field: str) -> None:
    value = _present("ercp", text, field)
    assert value is not None and value.value is False


@pytest.mark.parametrize("text", ["No stent was placed.", "The existing plastic stent was removed with a snare."])
def test_no_stent_is_placed_when_none_was(text: str) -> None:
    assert _present("ercp", text, "stents") == []


def test_a_prior_sphincterotomy_is_not_this_one() -> None:
    assert _present("ercp", "A prior sphincterotomy was noted.", "sphincterotomy") is None


@pytest.mark.parametrize(("text", "retrieved", "removal"), [
    ("A 4 mm polyp was removed with cold forceps but it was not retrieved.", False, "cold forceps"),
    ("A 20 mm pedunculated polyp in the sigmoid colon was not removed.", None, "not removed"),
])
def test_a_polyp_not_retrieved_or_not_removed_says_so(text: str, retrieved: bool | None, removal: str) -> None:
    (polyp,) = _present("colonoscopy", text, "polyps")
    assert (polyp.retrieved.value if polyp.retrieved else None) is retrieved
    assert polyp.removal is not None and polyp.removal.value == removal


def test_no_sedation_names_no_agent() -> None:
    assert _present("colonoscopy", "No sedation was given. Propofol was not used.", "sedation") == []
