"""`POST /v1/audio/transcriptions` through the official `openai` client, against the running API, Redis and
the worker with the bundled model: what a tool written for OpenAI's API sees."""

from __future__ import annotations

import io
import wave
from collections.abc import Callable, Iterator

import openai
import pytest
from openai import OpenAI

from core.settings import Settings
from core.tuning import ApiTuning
from tests.e2e.test_transcription import MAX_WER, parse_srt, parse_vtt, word_error_rate
from tests.integration.test_quotas import LiveApi, auth
from tests.jobs import FIXTURES, reference, wait_for_status
from tests.services import Process


@pytest.fixture()
def client(api_url: str, worker: Process) -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{api_url}/v1", api_key="any: the test API runs without keys") as client:
        yield client


MakeApi = Callable[[str, float], LiveApi]


@pytest.fixture()
def make_api(redis_url: str, worker: Process) -> Iterator[MakeApi]:
    """An API on the session's Redis and worker with one key of its own (so its job list is the test's)
    and its own wait limit."""
    started: list[LiveApi] = []

    def make(key: str, wait: float) -> LiveApi:
        started.append(LiveApi(Settings(REDIS_URL=redis_url, api_keys=[key], transcription_wait_seconds=wait,
                                        tuning=ApiTuning(events_poll_seconds=0.1))))
        started[-1].headers.update(auth(key))
        return started[-1]

    yield make
    for api in started:
        api.close()


def own_jobs(api: LiveApi) -> list[dict[str, object]]:
    jobs: list[dict[str, object]] = api.get("/v1/jobs").json()["jobs"]
    return jobs


def silence(seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1), wav.setsampwidth(2), wav.setframerate(16000)
        wav.writeframes(b"\0\0" * int(16000 * seconds))
    return out.getvalue()


def test_the_openai_client_gets_a_transcript_in_every_format(client: OpenAI) -> None:
    audio = (FIXTURES / "colonoscopy.wav").read_bytes()

    def create(response_format: str) -> object:
        return client.audio.transcriptions.create(
            model="whisper-1", file=("colonoscopy.wav", audio), language="en", prompt="Colonoscopy report.",
            response_format=response_format, temperature=0.0)  # type: ignore[call-overload]

    as_json = create("json")
    assert isinstance(as_json, openai.types.audio.Transcription)
    assert word_error_rate(reference("colonoscopy"), as_json.text) <= MAX_WER["colonoscopy"], as_json.text

    verbose = create("verbose_json")
    assert isinstance(verbose, openai.types.audio.TranscriptionVerbose)
    assert verbose.language == "en" and verbose.duration > 5 and verbose.text == as_json.text
    assert verbose.segments and 0 <= verbose.segments[0].start < verbose.segments[-1].end <= verbose.duration + 0.5
    assert " ".join(s.text.strip() for s in verbose.segments) == verbose.text.strip()

    text = create("text")
    assert isinstance(text, str) and text.strip() == as_json.text.strip()
    srt, vtt = create("srt"), create("vtt")
    assert isinstance(srt, str) and isinstance(vtt, str)
    said = " ".join(" ".join(s.text.split()) for s in verbose.segments)  # cut into cues, every word once
    assert " ".join(c[3] for c in parse_srt(srt)) == said == " ".join(c[2] for c in parse_vtt(vtt))


def test_an_unknown_model_is_not_found_as_openai_answers(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.audio.transcriptions.create(model="gpt-4o-transcribe", file=("a.wav", silence(1)))

    assert raised.value.code == "model_not_found"
    assert "the model 'gpt-4o-transcribe' does not exist here; use one of whisper-1, endoscribe" in str(raised.value)
    assert [m.id for m in client.models.list()] == ["whisper-1", "endoscribe"]


def test_a_job_past_the_wait_limit_is_named_and_not_submitted_twice(make_api: MakeApi) -> None:
    impatient_api = make_api("impatient-key", 0.5)
    client = OpenAI(base_url=f"http://127.0.0.1:{impatient_api.port}/v1", api_key="impatient-key")

    with client, pytest.raises(openai.APIStatusError) as raised:
        client.audio.transcriptions.create(model="whisper-1", file=FIXTURES / "colonoscopy.wav")

    error = raised.value
    (job,) = own_jobs(impatient_api)  # the client did not retry: one job, still running
    status_url = f"http://127.0.0.1:{impatient_api.port}/v1/jobs/{job['id']}"
    assert error.status_code == 504 and error.code == "transcription_timeout"
    assert error.response.headers["location"] == status_url
    assert f"it goes on as job {job['id']}: follow {status_url}" in error.message
    assert impatient_api.get(status_url).json()["status"] in {"queued", "processing"}
    impatient_api.delete(status_url)  # frees the session's worker for the next test
    assert wait_for_status(impatient_api, str(job["id"]))["status"] == "cancelled"


def test_audio_the_worker_rejects_is_a_400_with_its_reason_and_no_retry(make_api: MakeApi) -> None:
    api = make_api("silent-key", 120)
    client = OpenAI(base_url=f"http://127.0.0.1:{api.port}/v1", api_key="silent-key")

    with client, pytest.raises(openai.BadRequestError) as raised:
        client.audio.transcriptions.create(model="whisper-1", file=("quiet.wav", silence(2)))

    assert raised.value.code == "audio_silent"
    assert "the audio is silent" in str(raised.value)
    assert len(own_jobs(api)) == 1
    not_audio = api.post("/v1/audio/transcriptions", files={"file": ("notes.txt", b"not audio at all")},
                         data={"model": "whisper-1"})
    assert not_audio.status_code == 415 and len(own_jobs(api)) == 1
