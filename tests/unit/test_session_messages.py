"""A live session's text messages as the WebSocket reads them: what each asks for, or why it is refused."""

from __future__ import annotations

import json

import pytest

from api.session_messages import CLIENT_COMMANDS, Command, End, Refused, Resume, read_message


def test_a_client_may_send_every_command_that_takes_no_words() -> None:
    assert CLIENT_COMMANDS == ("scratch_that", "delete_last_sentence", "delete_last_word", "undo", "new_paragraph",
                               "new_line", "insert_template", "next_field", "previous_field", "accept_defaults",
                               "stop_dictation")


@pytest.mark.parametrize(("message", "read"), [
    ({"type": "end"}, End()),
    ({"type": "resume", "seq": 7}, Resume(7)),
    ({"type": "command", "name": "scratch_that"}, Command({"name": "scratch_that"})),
    ({"type": "command", "name": "insert_template", "template": "normal-colonoscopy"},
     Command({"name": "insert_template", "template": "normal-colonoscopy"})),
])
def test_the_messages_a_client_sends(message: dict[str, object], read: object) -> None:
    assert read_message(json.dumps(message)) == read


@pytest.mark.parametrize("message", [
    {"type": "command"}, {"type": "command", "name": "select"}, {"type": "command", "name": "correct_that"},
    {"type": "command", "name": ["undo"]}, {"type": "command", "name": "undo", "said": "undo"},
    {"type": "command", "name": "undo", "template": "normal-colonoscopy"},
    {"type": "command", "name": "insert_template"}, {"type": "command", "name": "insert_template", "template": ""},
    {"type": "command", "name": "insert_template", "template": 3},
    {"type": "command", "name": "insert_template", "template": "x" * 201},
    {"type": "resume", "seq": True}, {"type": "stop"},
])
def test_a_bad_message_is_refused_saying_what_to_send(message: dict[str, object]) -> None:
    assert isinstance(read_message(json.dumps(message)), Refused)
