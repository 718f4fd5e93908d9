"""A job's note document on a real redis-server: version 1 from the transcript, corrections with who,
when and the word diff, a signature that makes it final, amendments after it; a signed version never
changes; the audit trail lists each change; it expires with the job and its erase removes it."""

from __future__ import annotations

import threading
import uuid

import pytest
import redis
from redis.client import Pipeline

from core import document_store, keys
from core.document_store import DocumentStore, NoteVersions, document_audit_key, document_key
from core.documents import DocumentStatus, VersionKind, WordChange, word_diff, words_changed
from core.errors import Conflict, ErrorCode, InvalidInput, NotFound
from core.job_store import JobStore, utcnow
from core.jobs import JobRecord, JobStatus, Segment, Transcript

TEXT = "Cecum reached. Polyp 5 mm removed with cold snare."


def completed_job(store: JobStore, text: str = TEXT, tenant: str = "tenant-1") -> str:
    job_id = str(uuid.uuid4())
    store.create(JobRecord(id=job_id, tenant=tenant, created_at=utcnow()))
    store.claim(job_id, "run", "worker", 60, 3)
    transcript = Transcript(text=text, language="en", duration=4.0, segments=[Segment(start=0, end=4, text=text)])
    assert store.end(job_id, "run", JobStatus.COMPLETED, transcript)
    return job_id


@pytest.fixture()
def stores(clean_redis: redis.Redis) -> tuple[JobStore, DocumentStore]:
    # No registration: the note's versions are one of the job's default participants.
    return JobStore(clean_redis, 3600), DocumentStore(clean_redis)


def test_version_one_is_the_transcript_and_costs_no_keys_until_a_change(
    clean_redis: redis.Redis, stores: tuple[JobStore, DocumentStore],
) -> None:
    jobs, documents = stores
    job_id = completed_job(jobs)

    document = documents.get(job_id, "tenant-1")

    [first] = document.versions
    assert (first.version, first.kind, first.text, first.author, first.status) == (
        1, VersionKind.TRANSCRIPT, TEXT, "endoscribe", DocumentStatus.PRELIMINARY)
    assert first.at == jobs.get(job_id).finished_at
    assert [(e.action, e.version) for e in document.audit] == [("transcribed", 1)]
    assert not clean_redis.exists(document_key(job_id), document_audit_key(job_id))


def test_correct_sign_amend_keeps_every_version_and_lists_each_change(stores: tuple[JobStore, DocumentStore]) -> None:
    jobs, documents = stores
    job_id = completed_job(jobs)

    corrected = documents.correct(job_id, "Cecum reached. Polyp 6 mm removed with cold snare.", "tenant-1",
                                  "Practitioner/77", base_version=1)
    signed = documents.sign(job_id, "tenant-1", "Practitioner/77", base_version=2)
    amended = documents.amend(job_id, "Cecum reached. Polyp 6 mm removed with cold snare. Pathology sent.",
                              "tenant-1", "Practitioner/78", reason="addendum")

    assert (corrected.version, corrected.kind, corrected.author, corrected.status) == (
        2, VersionKind.CORRECTION, "Practitioner/77", DocumentStatus.PRELIMINARY)
    assert corrected.diff == [WordChange(op="replace", at=3, removed="5", added="6")]
    assert signed.version == 2 and signed.status is DocumentStatus.FINAL
    assert signed.signature is not None and signed.signature.author == "Practitioner/77"
    assert (amended.version, amended.kind, amended.replaces, amended.status, amended.reason) == (
        3, VersionKind.AMENDMENT, 2, DocumentStatus.AMENDED, "addendum")
    assert amended.diff == [WordChange(op="insert", at=9, added="Pathology sent.")]

    document = documents.get(job_id, "tenant-1")
    assert [(v.version, v.kind, v.status) for v in document.versions] == [
        (1, VersionKind.TRANSCRIPT, DocumentStatus.PRELIMINARY), (2, VersionKind.CORRECTION, DocumentStatus.FINAL),
        (3, VersionKind.AMENDMENT, DocumentStatus.AMENDED)]
    assert document.versions[0].text == TEXT  # version 1 stored as it was
    assert document.versions[1] == signed  # the signed version, unchanged by the amendment
    assert document.status is DocumentStatus.AMENDED
    assert [(e.action, e.version, e.author, e.words_changed) for e in document.audit] == [
        ("transcribed", 1, "endoscribe", 0), ("corrected", 2, "Practitioner/77", 1),
        ("signed", 2, "Practitioner/77", 0), ("amended", 3, "Practitioner/78", 2)]
    assert [document.lineage_start(v) for v in (1, 2, 3)] == [1, 1, 3]


def test_a_signed_note_is_never_corrected_nor_signed_again_and_an_unsigned_one_is_not_amended(
    stores: tuple[JobStore, DocumentStore],
) -> None:
    jobs, documents = stores
    job_id = completed_job(jobs)
    with pytest.raises(Conflict, match="not signed yet"):
        documents.amend(job_id, "other text", "tenant-1")
    documents.sign(job_id, "tenant-1", "Practitioner/77")

    with pytest.raises(Conflict, match=r"amended .* not corrected"):
        documents.correct(job_id, "other text", "tenant-1")
    with pytest.raises(Conflict, match="signed already"):
        documents.sign(job_id, "tenant-1")
    document = documents.get(job_id, "tenant-1")
    assert [(v.version, v.text, v.status) for v in document.versions] == [(1, TEXT, DocumentStatus.FINAL)]
    assert [e.action for e in document.audit] == ["transcribed", "signed"]


def test_a_change_based_on_an_older_version_is_refused(stores: tuple[JobStore, DocumentStore]) -> None:
    jobs, documents = stores
    job_id = completed_job(jobs)
    documents.correct(job_id, "first reviewer's text", "tenant-1", base_version=1)

    with pytest.raises(Conflict, match="version 2 is the current one, not 1"):
        documents.correct(job_id, "second reviewer's text", "tenant-1", base_version=1)
    with pytest.raises(Conflict, match="version 2 is the current one, not 1") as refused:
        documents.sign(job_id, "tenant-1", base_version=1)
    assert refused.value.code == ErrorCode.STALE_VERSION
    assert documents.get(job_id, "tenant-1").current.text == "first reviewer's text"


def test_a_revision_corrects_an_unsigned_note_and_amends_a_signed_one(stores: tuple[JobStore, DocumentStore]) -> None:
    jobs, documents = stores
    job_id = completed_job(jobs)

    corrected = documents.revise(job_id, "Cecum reached. Polyp 6 mm removed with cold snare.", "tenant-1")
    documents.sign(job_id, "tenant-1", author="Practitioner/77")
    amended = documents.revise(job_id, "Cecum reached. Polyp 7 mm removed with cold snare.", "tenant-1",
                               author="Practitioner/77", base_version=2)

    assert (corrected.version, corrected.kind, corrected.replaces) == (2, VersionKind.CORRECTION, None)
    assert (amended.version, amended.kind, amended.replaces, amended.status) == (
        3, VersionKind.AMENDMENT, 2, DocumentStatus.AMENDED)
    with pytest.raises(Conflict) as signed:
        documents.sign(job_id, "tenant-1")
    assert signed.value.code == ErrorCode.DOCUMENT_SIGNED


def test_the_same_text_again_stores_nothing(stores: tuple[JobStore, DocumentStore]) -> None:
    jobs, documents = stores
    job_id = completed_job(jobs)
    first = documents.correct(job_id, "corrected", "tenant-1")
    assert documents.correct(job_id, "corrected", "tenant-1") == first
    assert len(documents.get(job_id, "tenant-1").versions) == 2


def test_another_keys_job_an_unfinished_job_and_bad_text_are_refused(stores: tuple[JobStore, DocumentStore]) -> None:
    jobs, documents = stores
    job_id = completed_job(jobs)
    queued = str(uuid.uuid4())
    jobs.create(JobRecord(id=queued, tenant="tenant-1", created_at=utcnow()))

    with pytest.raises(NotFound):
        documents.get(job_id, "tenant-2")
    with pytest.raises(NotFound):
        documents.correct(job_id, "x", "tenant-2")
    documents.correct(job_id, "stored now", "tenant-1")
    with pytest.raises(NotFound):  # stored versions are no more anyone else's
        documents.sign(job_id, "tenant-2")
    with pytest.raises(Conflict, match="is queued") as unfinished:
        documents.correct(queued, "x", "tenant-1")
    assert unfinished.value.code == ErrorCode.JOB_QUEUED
    with pytest.raises(NotFound):
        documents.get(str(uuid.uuid4()), "tenant-1")
    with pytest.raises(InvalidInput, match="empty"):
        documents.correct(job_id, "  \n", "tenant-1")
    with pytest.raises(InvalidInput, match="the limit is 200000"):
        documents.correct(job_id, "x" * 200_001, "tenant-1")


def test_the_note_expires_with_the_job_and_goes_with_its_erase(
    clean_redis: redis.Redis, stores: tuple[JobStore, DocumentStore],
) -> None:
    jobs, documents = stores
    job_id = completed_job(jobs)
    clean_redis.pexpire(keys.job_key(job_id), 50_000)  # most of its retention has passed
    documents.correct(job_id, "corrected", "tenant-1")

    job_ttl = clean_redis.pttl(keys.job_key(job_id))
    assert job_ttl <= 50_000
    for key in (document_key(job_id), document_audit_key(job_id)):
        assert abs(job_ttl - clean_redis.pttl(key)) < 1000  # the job's remaining retention, not a fresh one

    jobs.erase(job_id)
    assert not clean_redis.exists(document_key(job_id), document_audit_key(job_id))
    with pytest.raises(NotFound):
        documents.get(job_id, "tenant-1")


def test_concurrent_corrections_from_the_same_version_store_one_and_refuse_the_other(
    stores: tuple[JobStore, DocumentStore],
) -> None:
    jobs, documents = stores
    job_id = completed_job(jobs)
    outcomes: list[str] = []

    def correct(text: str) -> None:
        try:
            documents.correct(job_id, text, "tenant-1", base_version=1)
            outcomes.append("stored")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=correct, args=(f"reviewer {i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "stored"]
    document = documents.get(job_id, "tenant-1")
    assert [v.version for v in document.versions] == [1, 2]
    assert [e.action for e in document.audit] == ["transcribed", "corrected"]


def test_an_erase_during_a_correction_leaves_nothing_behind(
    clean_redis: redis.Redis, stores: tuple[JobStore, DocumentStore], monkeypatch: pytest.MonkeyPatch,
) -> None:
    jobs, documents = stores
    job_id = completed_job(jobs)
    read = document_store._read
    reads = 0

    def read_then_erase(pipe: Pipeline, read_id: str, tenant: str) -> object:
        nonlocal reads
        reads += 1
        seen = read(pipe, read_id, tenant)
        if reads == 1:  # the owner erases the job between this transaction's reads and its EXEC
            JobStore(redis.Redis(connection_pool=clean_redis.connection_pool), 3600,
                     participants=[NoteVersions()]).erase(read_id)
        return seen

    monkeypatch.setattr(document_store, "_read", read_then_erase)

    with pytest.raises(NotFound):
        documents.correct(job_id, "corrected", "tenant-1")
    assert reads == 2
    assert not clean_redis.exists(document_key(job_id), document_audit_key(job_id))


def test_a_note_stops_taking_versions_at_the_limit(
    stores: tuple[JobStore, DocumentStore], monkeypatch: pytest.MonkeyPatch,
) -> None:
    jobs, documents = stores
    job_id = completed_job(jobs)
    monkeypatch.setattr(document_store, "MAX_VERSIONS", 3)
    documents.correct(job_id, "two", "tenant-1")
    documents.correct(job_id, "three", "tenant-1")
    with pytest.raises(Conflict, match="3 versions, the limit"):
        documents.correct(job_id, "four", "tenant-1")
    assert [v.text for v in documents.get(job_id, "tenant-1").versions] == [TEXT, "two", "three"]


def test_the_word_diff_ignores_whitespace_and_counts_words() -> None:
    changes = word_diff("Polyp  5 mm\nremoved.", "Polyp 5 mm removed en bloc.")
    assert changes == [WordChange(op="replace", at=3, removed="removed.", added="removed en bloc.")]
    assert words_changed(changes) == 3
    assert word_diff("a b c", "a c") == [WordChange(op="delete", at=1, removed="b")]
