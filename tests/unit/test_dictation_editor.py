"""The editor: commands applied to the document, with events for live clients, and nothing lost."""

from __future__ import annotations

from dictation.editor import Editor, edit
from dictation.grammar import Utterance
from dictation.templates import Template

COLONOSCOPY = Template(name="normal-colonoscopy", triggers=["normal colonoscopy"],
                       body="The scope reached the [cecum|terminal ileum]. Preparation was [*good|fair|poor]. "
                            "Withdrawal time was [8] minutes.")


def said(*utterances: str) -> list[Utterance]:
    return [Utterance(u) for u in utterances]


def test_scratch_that_removes_the_last_phrase_and_undo_brings_it_back() -> None:
    editor = Editor()
    editor.hear(Utterance("The cecum was reached."))
    events = editor.hear(Utterance("Scratch that."))
    assert events == [
        {"type": "command", "name": "scratch_that", "said": "Scratch that.",
         "source": "speech", "start": 0.0, "end": 0.0,
         "applied": True, "applied_to": {"block": 0, "text": "The cecum was reached."}},
        {"type": "final", "id": 0, "revision": 1, "text": "", "kind": "dictated"},
    ]
    assert editor.text == ""
    editor.hear(Utterance("undo that"))
    assert editor.text == "The cecum was reached."


def test_a_command_that_cannot_apply_is_an_event_and_writes_nothing() -> None:
    editor = Editor()
    editor.hear(Utterance("The sigmoid colon was normal."))
    events = editor.hear(Utterance("correct that to descending colon"))
    assert events == [{"type": "command", "name": "correct_that", "said": "correct that to descending colon",
                       "source": "speech",
                       "start": 0.0, "end": 0.0, "applied": False, "applied_to": None,
                       "reason": "nothing is selected: say “select” and the words to correct first"}]
    assert editor.text == "The sigmoid colon was normal."


def test_select_then_correct_replaces_the_words() -> None:
    result = edit(said("The polyp was in the sigmoid.", "select sigmoid", "correct that to sigmoid colon"))
    assert result.text == "The polyp was in the sigmoid colon."
    assert [(c["name"], c["applied_to"]) for c in result.commands] == [
        ("select", {"block": 0, "text": "sigmoid"}),
        ("correct_that", {"block": 0, "text": "sigmoid", "to": "sigmoid colon"}),
    ]


def test_delete_last_sentence_and_word() -> None:
    assert edit(said("The cecum was reached. The ileum was", "not seen", "delete last sentence")).text == \
        "The cecum was reached."
    assert edit(said("Two polyps were seen", "delete last word")).text == "Two polyps were"


def test_layout_commands_write_breaks() -> None:
    assert edit(said("Findings normal", "new paragraph", "Impression normal colon")).text == \
        "Findings normal.\n\nImpression normal colon"


def test_a_template_is_filled_in_order_and_unfilled_fields_are_listed() -> None:
    result = edit(said("Insert normal colonoscopy.", "Terminal ileum.", "next field", "Seven."),
                  {COLONOSCOPY.name: COLONOSCOPY})
    assert result.text == ("The scope reached the terminal ileum. Preparation was good. "
                           "Withdrawal time was seven minutes.")
    assert result.unfilled == [{"template": "normal-colonoscopy", "field": 1, "label": "good|fair|poor",
                                "default": "good"}]


def test_accept_defaults_and_scratch_a_field() -> None:
    result = edit(said("insert normal colonoscopy", "cecum", "poor", "scratch that", "fair", "accept defaults",
                       "The patient tolerated the procedure."), {COLONOSCOPY.name: COLONOSCOPY})
    assert result.text == ("The scope reached the cecum. Preparation was fair. Withdrawal time was 8 minutes. "
                           "The patient tolerated the procedure.")
    assert [f["field"] for f in result.unfilled] == [2]


def test_live_finals_carry_revisions() -> None:
    editor = Editor(templates={COLONOSCOPY.name: COLONOSCOPY})
    editor.hear(Utterance("insert normal colonoscopy"))
    first = editor.hear(Utterance("terminal ileum"))
    second = editor.hear(Utterance("fair"))
    assert [(e["id"], e["revision"]) for e in first + second] == [(0, 1), (0, 2)]


def test_dictated_text_is_never_lost_to_a_command_nobody_meant() -> None:
    said_text = "The patient was told to scratch that area less."
    assert edit(said(said_text)).text == said_text
    assert edit(said("undo that")).commands[0]["applied"] is False


def test_scratch_then_a_starter_template_with_two_fields_ends_as_meant() -> None:
    from dictation.starters import starter_templates

    templates = {t.name: t for t in starter_templates()}
    result = edit(said("The scope was advanced.", "Scratch that.", "Insert normal colonoscopy.",
                       "Surveillance after adenomas.", "Three.", "accept defaults"), templates)
    assert result.text.startswith("Indication: surveillance after adenomas. Informed consent was obtained. "
                                  "ASA class III. Sedation: monitored anesthesia care with propofol.\n")
    assert "The scope was advanced" not in result.text
    assert [f["field"] for f in result.unfilled] == list(range(2, 12))


def test_field_commands_outside_a_template_say_so_and_stop_ends_the_dictation() -> None:
    editor = Editor()
    editor.hear(Utterance("The stomach was normal."))
    events = editor.hear(Utterance("next field")) + editor.hear(Utterance("accept defaults"))
    assert [(e["name"], e["applied"], e["reason"]) for e in events] == [
        ("next_field", False, "there is no field to move on from"),
        ("accept_defaults", False, "there are no fields left to fill"),
    ]
    editor.hear(Utterance("stop dictation"))
    assert editor.result().stopped is True
    assert editor.text == "The stomach was normal."


def test_undo_reverses_a_correction_and_scratch_removes_an_inserted_template() -> None:
    result = edit(said("A polyp in the sigmoid.", "select sigmoid", "correct that to cecum", "undo that"))
    assert result.text == "A polyp in the sigmoid."
    inserted = edit(said("Findings normal.", "insert normal colonoscopy", "scratch that"),
                    {COLONOSCOPY.name: COLONOSCOPY})
    assert inserted.text == "Findings normal."
    assert inserted.unfilled == []


def test_select_finds_a_number_said_in_words_that_formatting_wrote_in_digits() -> None:
    edited = edit([Utterance("A 22 gauge needle was used for 3 passes."), Utterance("Select three."),
                   Utterance("Correct that to four.")])

    assert edited.text == "A 22 gauge needle was used for four passes."
    assert [(c["name"], c["applied_to"]) for c in edited.commands] == [
        ("select", {"block": 0, "text": "3"}), ("correct_that", {"block": 0, "text": "3", "to": "four"})]


def test_a_template_final_says_where_the_field_dictation_fills_next_is_and_moves_with_it() -> None:
    editor = Editor(templates={"egd": Template(name="egd", triggers=["normal egd"],
                                               body="Esophagus: [normal]. ASA class [II|I|III].")})

    inserted = editor.hear(Utterance("Insert normal egd."))[-1]
    moved = editor.hear(Utterance("Next field."))[-1]
    done = editor.hear(Utterance("Accept defaults."))

    assert (inserted["text"], inserted["field"]) == ("Esophagus: normal. ASA class II.",
                                                     {"index": 0, "start": 11, "end": 17})
    assert (moved["type"], moved["revision"], moved["field"]) == ("final", 1, {"index": 1, "start": 29, "end": 31})
    assert [(e["type"], "field" in e) for e in done] == [("command", False), ("final", False)]
