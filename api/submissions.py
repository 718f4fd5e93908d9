"""What a client submits besides the audio, declared once: every option and callback field with its
limits. `POST /v1/jobs` takes `JobSubmission` as its form, `POST /v1/sessions` takes `SessionCreate`
as JSON, and the OpenAI route fills a `JobSubmission` from its own fields; `accept` turns any of them
into the stored options and callback."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, ClassVar

from pydantic import BaseModel, Field, field_validator

from api.callbacks import build_callback
from api.choices import OneOf
from core.errors import ErrorCode, Unprocessable
from core.jobs import Formatting, JobOptions, Priority
from core.note_types import note_type_names
from core.settings import KEEP_AUDIO_LIMIT_SECONDS, Settings, StorageSettings
from core.vocabulary import PhraseText, VocabularyInvalid, VocabularyPhrase, check_note_type, parse_vocabulary
from core.vocabulary_store import VocabularyStore
from core.webhook_records import DEFAULT_CALLBACK_FORMAT, WebhookConfig
from webhooks.formats import CALLBACK_FORMATS

VOCABULARY_MAX_CHARS = 50_000
"""A submission's `vocabulary` as JSON, at most (a session's list is held to it as JSON too)."""
VOCABULARY_MAX_PHRASES = 1000
"""The most phrases a session's `vocabulary` list may hold (the settings may allow fewer)."""

Language = Annotated[str | None, Field(max_length=16)]
Prompt = Annotated[str | None, Field(max_length=2000)]
CallbackFormatName = Annotated[str, OneOf(CALLBACK_FORMATS)]
_FORMATS = "; ".join(f"{f.name}: {f.description}" for f in CALLBACK_FORMATS.values())


class SubmissionOptions(BaseModel):
    """The fields a job and a session share."""

    language: Language = None
    initial_prompt: Prompt = None
    hotwords: Prompt = None
    callback_url: str | None = Field(
        default=None, max_length=2000,
        description="Called when the job ends and when its note is corrected, signed or amended: an https URL "
                    "(POSTed to), or mllp://host:port for HL7 v2 MDM messages")
    callback_format: CallbackFormatName = Field(default=DEFAULT_CALLBACK_FORMAT, description=_FORMATS)
    callback_auth_header_name: str | None = Field(default=None, max_length=64)
    callback_auth_header_value: str | None = Field(default=None, max_length=4096)
    note_type: str | None = Field(default=None, description=f"{note_type_names()}: the built-in vocabulary, "
                                                            "dictation formatting and the FHIR document type")
    formatting: Formatting | None = Field(default=None, description="dictation: spoken punctuation and numbers "
                                          "with units written out (default with a note_type)")
    vocabulary_id: str | None = Field(default=None, max_length=64, description="a stored vocabulary of this key "
                                      "(POST /v1/vocabularies), merged with `vocabulary`")
    patient_reference: str | None = Field(default=None, max_length=128)
    encounter_reference: str | None = Field(default=None, max_length=128)
    keep_audio_seconds: int | None = Field(
        default=None, ge=0, le=KEEP_AUDIO_LIMIT_SECONDS, description="verification mode: keep the audio this long "
        "after the job ends, for a reviewer (GET /v1/jobs/{id}/audio), up to the deployment's limit; 0 deletes it "
        "at the end; empty: the key's default (0 unless the operator set one)")

    from_form: ClassVar[bool] = False
    """Its fields come as form text (`POST /v1/jobs`) rather than JSON."""

    @field_validator("keep_audio_seconds", mode="before")
    @classmethod
    def _whole_seconds(cls, value: object) -> object:
        # Lax validation would take JSON's `true` or "30" for a number; a form can only say text.
        if value is None or type(value) is int or (cls.from_form and isinstance(value, str)):
            return value
        raise ValueError("keep_audio_seconds must be a whole number of seconds")

    def vocabulary_json(self) -> str | None:
        """The submission's own phrases as the JSON text a job's `vocabulary` field carries."""
        return None

    def lane(self) -> Priority:
        return "normal"


class JobSubmission(SubmissionOptions):
    """A job's options and callback: the form fields of `POST /v1/jobs` beside its `file`."""

    from_form: ClassVar[bool] = True

    priority: Priority = "normal"
    vocabulary: str | None = Field(default=None, max_length=VOCABULARY_MAX_CHARS, description='JSON list of '
                                   'phrases: "term" or {"phrase", "sounds_like": [...], "display_as"}')

    def vocabulary_json(self) -> str | None:
        return self.vocabulary

    def lane(self) -> Priority:
        return self.priority


class SessionCreate(SubmissionOptions):
    """The job options a session's text and its final job use (as `POST /v1/jobs` takes them), with the
    vocabulary as a JSON list; a session has no `priority` (its audio takes the live lane)."""

    vocabulary: list[VocabularyPhrase | PhraseText] | None = Field(
        default=None, max_length=VOCABULARY_MAX_PHRASES, description='phrases: "term" or {"phrase", '
                                                                     '"sounds_like": [...], "display_as"}, as for jobs')

    def vocabulary_json(self) -> str | None:
        """The list as a job's `vocabulary` field would carry it, held to that field's length."""
        if not self.vocabulary:
            return None
        raw = json.dumps([p.model_dump(exclude_defaults=True) if isinstance(p, VocabularyPhrase) else p
                          for p in self.vocabulary])
        if len(raw) > VOCABULARY_MAX_CHARS:
            raise VocabularyInvalid(f"vocabulary is {len(raw)} characters as JSON; the limit is "
                                    f"{VOCABULARY_MAX_CHARS} (or store it with POST /v1/vocabularies and send "
                                    "vocabulary_id)")
        return raw


@dataclass(frozen=True)
class Accepted:
    """A submission as it is stored: the job's options and its callback."""

    options: JobOptions
    callback: WebhookConfig | None


def accept(submission: SubmissionOptions, settings: Settings, vocabularies: VocabularyStore, tenant: str) -> Accepted:
    """Check a submission and turn it into the stored options and callback (422 on anything unusable).
    Blocking (a stored vocabulary's read, the callback host's lookup): call it off the event loop."""
    raw = submission.vocabulary_json()
    phrases = parse_vocabulary(raw, settings.worker.vocabulary.max_phrases)
    if submission.vocabulary_id:
        phrases = [*(phrases or []), *vocabularies.phrases_for_job(tenant, submission.vocabulary_id)]
    s = submission
    options = JobOptions(language=s.language or None, initial_prompt=s.initial_prompt or None,
                         hotwords=s.hotwords or None, note_type=check_note_type(s.note_type or None),
                         formatting=s.formatting, vocabulary=phrases, priority=s.lane())
    options.keep_audio_seconds = kept_for(s.keep_audio_seconds, settings.storage, tenant)
    callback = build_callback(settings.webhook, s, tenant) if s.callback_url else None
    return Accepted(options, callback)


def kept_for(asked: int | None, storage: StorageSettings, tenant: str) -> int:
    """How long the job keeps its audio after its end: what it asked, else its key's default (422 over the limit)."""
    seconds = asked if asked is not None else storage.keep_audio_seconds_by_key.get(tenant, 0)
    limit = storage.keep_audio_max_seconds
    if seconds > limit:
        why = f"the limit is {limit} s" if limit else "verification mode is off on this deployment"
        raise Unprocessable(f"keep_audio_seconds is {seconds}; {why} (ENDOSCRIBE_AUDIO_STORE_KEEP_AUDIO_MAX_SECONDS)",
                            code=ErrorCode.KEEP_AUDIO_REFUSED)
    return seconds
