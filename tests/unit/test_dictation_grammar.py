"""The command grammar: commands said as commands (alone, between pauses), everything else text."""

from __future__ import annotations

from dictation.grammar import COMMANDS, Call, Context, Text, Utterance, Word, recognise, recognise_text


def names(text: str, context: Context | None = None) -> list[str]:
    return [p.name if isinstance(p, Call) else "text" for p in recognise_text(text, context)]


def timed(*said: tuple[str, float, float]) -> Utterance:
    words = tuple(Word(w, start, end) for w, start, end in said)
    return Utterance(" ".join(w.text for w in words), words[0].start, words[-1].end, words)


def test_a_command_alone_is_a_command() -> None:
    assert recognise_text("Scratch that.") == [Call("scratch_that", "Scratch that.", 0.0, 0.0)]
    assert names("undo that") == ["undo"]
    assert names("Delete the last sentence.") == ["delete_last_sentence"]
    assert names("Accept defaults.") == ["accept_defaults"]


def test_command_words_inside_a_sentence_stay_text() -> None:
    said = "The patient was told to scratch that area less."
    assert recognise_text(said) == [Text(said, 0.0, 0.0)]
    assert names("Please delete that line from the consent form.") == ["text"]
    assert names("We will undo that stent placement next week.") == ["text"]
    assert names("He was asked to stop dictation devices at home.") == ["text"]


def test_a_sentence_that_is_a_command_is_one_after_other_text() -> None:
    assert names("The cecum was reached. Scratch that. The cecum was not reached.") == [
        "text", "scratch_that", "text"]


def test_a_pause_between_words_makes_a_phrase() -> None:
    paused = timed(("the", 0.0, 0.2), ("mucosa", 0.25, 0.6), ("scratch", 1.2, 1.5), ("that", 1.55, 1.8))
    pieces = recognise([paused])
    assert pieces == [Text("the mucosa", 0.0, 0.6), Call("scratch_that", "scratch that", 1.2, 1.8)]
    running = timed(("told", 0.0, 0.2), ("to", 0.22, 0.3), ("scratch", 0.32, 0.6), ("that", 0.62, 0.8))
    assert [type(p) for p in recognise([running])] == [Text]


def test_layout_is_recognised_inside_a_phrase_but_not_after_an_article() -> None:
    assert names("Impression normal new paragraph plan repeat in five years") == ["text", "new_paragraph", "text"]
    assert names("She was started on a new line of therapy.") == ["text"]


def test_select_needs_the_words_in_the_document_and_insert_a_known_trigger() -> None:
    assert names("Select patients were given simethicone.", Context(document="The sigmoid colon.")) == ["text"]
    assert names("select sigmoid", Context(document="The sigmoid colon.")) == ["select"]
    context = Context(templates={"normal colonoscopy": "normal-colonoscopy"})
    assert names("Insert the colonoscope.", context) == ["text"]
    pieces = recognise_text("Insert normal colonoscopy.", context)
    assert pieces == [Call("insert_template", "Insert normal colonoscopy.", 0.0, 0.0, "normal-colonoscopy")]
    assert recognise_text("correct that to sigmoid colon")[0] == Call(
        "correct_that", "correct that to sigmoid colon", 0.0, 0.0, "sigmoid colon")


def test_every_command_in_the_issue_is_in_the_grammar() -> None:
    said = {phrase for spec in COMMANDS for phrase in spec.phrases}
    assert {"scratch that", "delete that", "delete last sentence", "delete last word", "undo that", "new paragraph",
            "new line", "select", "correct that to", "insert", "next field", "previous field", "accept defaults",
            "stop dictation"} <= said


def test_a_comma_the_recogniser_wrote_is_a_pause_and_the_text_around_stays_whole() -> None:
    pieces = recognise_text("The esophagus was normal, new paragraph, the stomach, the duodenum, scratch that,")
    assert pieces == [Text("The esophagus was normal", 0.0, 0.0), Call("new_paragraph", "new paragraph,", 0.0, 0.0),
                      Text("the stomach, the duodenum", 0.0, 0.0), Call("scratch_that", "scratch that,", 0.0, 0.0)]


def test_a_command_misheard_by_a_letter_is_still_one_but_other_words_are_not() -> None:
    context = Context(templates={"normal egd": "normal-egd"})
    assert names("Delete last work.") == ["delete_last_word"]
    assert names("Except defaults.") == ["accept_defaults"]
    assert recognise_text("Insert normal egg.", context)[0] == Call(
        "insert_template", "Insert normal egg.", 0.0, 0.0, "normal-egd")
    assert names("And that.") == ["text"]
    assert names("Next week.") == ["text"]


def test_a_command_the_model_misheard_is_taken_by_its_sound_when_said_alone() -> None:
    # What tiny.en wrote for the commands of the commands dev set (bench/commands.py --audio)
    assert names("Crashed at.") == ["scratch_that"]
    assert names("And do that.") == ["undo"]
    assert names("The leak blast sentence.") == ["delete_last_sentence"]
    assert names("Accept the files.") == ["accept_defaults"]
    assert names("Start dictation.") == ["stop_dictation"]
    assert names("The esophagus was normal, the leak last sentence, the stomach was normal.") == [
        "text", "delete_last_sentence", "text"]


def test_the_same_misheard_words_inside_a_sentence_stay_text() -> None:
    assert names("He crashed at home after the procedure.") == ["text"]
    assert names("We will accept the files from the referring hospital.") == ["text"]
    assert names("Start dictation software before the case.") == ["text"]
    assert names("If the polyp recurs, and do that again next year.") == ["text"]


def test_phrases_that_only_share_a_command_s_consonants_stay_text() -> None:
    assert names("Into the.") == ["text"]  # the consonants of "undo that", not its sound
    assert names("And thirty.") == ["text"]
    assert names("Stop the dictation.") == ["text"]  # a syllable more than "stop dictation"
    assert names("Stricture.") == ["text"]  # a single word said alone is a finding
    assert names("Dilated.") == ["text"]
    assert names("Z line.") == ["text"]
    assert names("3 and 3.") == ["text"]
    assert names("Which appeared normal.") == ["text"]
