"""Dictation commands in a live session on the real stack: the API under uvicorn, a worker with the
bundled model, a real WebSocket streaming voiced dictation (the commands dev set's clips, phrase by
phrase) in 200 ms chunks."""

from __future__ import annotations

import json
import re
import tempfile
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from tests.jobs import wait_for_status
from tests.live import LiveClient, chunks

DEVSET = Path(__file__).resolve().parents[2] / "bench" / "devset"
PAUSE_SECONDS = 1.2
"""Between phrases: a command is said after a pause, as Dragon users learn."""
COLONOSCOPY = {"name": "normal-colonoscopy", "triggers": ["normal colonoscopy"],
               "body": "Indication: [screening]. ASA class [II|I|III]. Sedation: [propofol]. Findings: [normal]."}
MEANT = ("Indication: colorectal cancer screening. ASA class II. Sedation: monitored anesthesia care with propofol. "
         "Findings: normal.")
FIELDS = ("colorectal cancer screening", "monitored anesthesia care with propofol")
NOTE = re.compile(r"Indication: (.+)\. ASA class II\. Sedation: (.+)\. Findings: normal\.")


def is_meant(text: str) -> bool:
    """The template with the two fields dictated (as tiny.en spells them, near enough) and the rest at
    their defaults, and nothing else: the scratched sentence and every command's words gone."""
    found = NOTE.fullmatch(text)
    return found is not None and all(
        SequenceMatcher(None, said.lower(), meant).ratio() >= 0.8
        for said, meant in zip(found.groups(), FIELDS,
                               strict=True))


def phrases(clip_id: str, wanted: list[int]) -> list[np.ndarray]:
    """Phrases of a voiced commands dev set clip (Piper's joe), cut where its manifest places them."""
    from worker.model.decoding import decode_audio

    [clip] = [c for c in json.loads((DEVSET / "manifest.commands.json").read_text())
              if c["id"] == clip_id and c["voice"] == "joe"]
    audio = decode_audio((DEVSET / clip["file"]).read_bytes(), 600, Path(tempfile.gettempdir()))
    return [audio[int(clip["spans"][n][0] * 16000):int(clip["spans"][n][1] * 16000)] for n in wanted]


def dictation_pcm() -> bytes:
    """"The cecum was reached." "Scratch that." "Insert normal colonoscopy." "Colorectal cancer screening."
    "Next field." "Monitored anesthesia care with propofol." "Accept defaults." """
    said = phrases("cmd01", [0, 1]) + phrases("cmd04", [0, 1, 2, 3, 4])
    pause = np.zeros(int(PAUSE_SECONDS * 16000), np.float32)
    audio = np.concatenate([pause] + [piece for phrase in said for piece in (phrase, pause)])
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


def test_a_session_that_scratches_and_fills_a_template_ends_as_the_job_the_clinician_meant(
        client: httpx.Client) -> None:
    assert client.post("/v1/templates", json=COLONOSCOPY).status_code == 201
    opened = client.post("/v1/sessions", json={"note_type": "colonoscopy"})
    assert opened.status_code == 201, opened.text
    session: dict[str, Any] = opened.json()
    live = LiveClient(session["stream_url"])

    live.send_audio(chunks(dictation_pcm()), speed=2)
    live.end(timeout=120)

    commands = [(c["name"], c["applied"]) for c in live.of("command")]
    assert commands == [("scratch_that", True), ("insert_template", True), ("next_field", True),
                        ("accept_defaults", True)], [m for m in live.messages if m["type"] in ("final", "command")]
    assert live.of("command")[0]["applied_to"]["text"].endswith("was reached.")  # tiny.en: "The second was"
    # The finals a command changed came again, with a higher revision: the live text is the document.
    latest: dict[int, dict[str, Any]] = {}
    for final in live.of("final"):
        assert final["revision"] >= latest.get(final["segment"], {"revision": -1})["revision"]
        latest[final["segment"]] = final
    shown = " ".join(f["text"] for _, f in sorted(latest.items()) if f["text"])
    assert is_meant(shown), (shown, live.messages)
    assert not any("scratch" in f["text"].lower() or "insert" in f["text"].lower() for f in live.of("final"))

    job = wait_for_status(client, session["job_id"])
    assert job["status"] == "completed", job
    result = client.get(f"/v1/jobs/{session['job_id']}/result").json()
    assert is_meant(result["text"]), result
    assert [c["name"] for c in result["commands"] if c["applied"]] == [
        "scratch_that", "insert_template", "next_field", "accept_defaults"]
    assert result["unfilled_fields"] == [
        {"template": "normal-colonoscopy", "field": 1, "label": "II|I|III", "default": "II"},
        {"template": "normal-colonoscopy", "field": 3, "label": "normal", "default": "normal"},
    ]


def test_a_clients_commands_apply_in_order_with_the_audio_and_a_bad_one_is_refused(client: httpx.Client) -> None:
    assert client.post("/v1/templates", json=COLONOSCOPY).status_code == 201
    opened = client.post("/v1/sessions", json={"note_type": "colonoscopy"})
    assert opened.status_code == 201, opened.text
    session: dict[str, Any] = opened.json()
    live = LiveClient(session["stream_url"])
    [cecum] = phrases("cmd01", [0])
    indication, sedation = phrases("cmd04", [1, 3])
    pause = np.zeros(int(PAUSE_SECONDS * 16000), np.float32)

    def say(*parts: np.ndarray) -> None:
        live.send_audio(chunks((np.clip(np.concatenate(parts), -1, 1) * 32767).astype("<i2").tobytes()), speed=2)

    def command(name: str, **more: str) -> None:
        live.ws.send(json.dumps({"type": "command", "name": name, **more}))

    say(pause, cecum, pause)
    command("scratch_that")
    command("select")  # spoken only: it takes words
    command("insert_template", template="normal-colonoscopy")
    say(pause, indication, pause)
    command("next_field")
    say(pause, sedation, pause)
    command("accept_defaults")
    say(pause)
    live.end(timeout=120)

    assert [e["code"] for e in live.of("error")] == ["bad_message"]
    assert [(c["name"], c["applied"], c["source"]) for c in live.of("command")] == [
        ("scratch_that", True, "client"), ("insert_template", True, "client"), ("next_field", True, "client"),
        ("accept_defaults", True, "client")], [m for m in live.messages if m["type"] in ("final", "command")]
    assert live.of("command")[0]["applied_to"]["text"].endswith("was reached.")
    latest = {f["segment"]: f for f in live.of("final")}
    shown = " ".join(f["text"] for _, f in sorted(latest.items()) if f["text"])
    assert is_meant(shown), (shown, live.messages)

    assert wait_for_status(client, session["job_id"])["status"] == "completed"
    result = client.get(f"/v1/jobs/{session['job_id']}/result").json()
    assert is_meant(result["text"]), result
    assert [(c["name"], c["source"]) for c in result["commands"]] == [
        ("scratch_that", "client"), ("insert_template", "client"), ("next_field", "client"),
        ("accept_defaults", "client")]
