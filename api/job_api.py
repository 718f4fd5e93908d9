"""`JobService`: what the job routes (and the OpenAI route) use, resolved once per request, so a route
takes it instead of the stores, the queue, the quotas, the settings and the caller one by one."""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery
from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from api import job_service, submissions
from api.quotas import Quotas
from api.schemas import JobPage, JobPublic
from api.submissions import SubmissionOptions
from api.uploads import store_upload
from api.urls import job_urls
from core.audio_store import AudioStore
from core.job_store import JobStore
from core.jobs import JobRecord, JobStatus, Transcript
from core.settings import Settings
from core.vocabulary_store import VocabularyStore
from core.webhook_store import WebhookStore


@dataclass(frozen=True)
class JobService:
    settings: Settings
    store: JobStore
    audio: AudioStore
    webhooks: WebhookStore
    celery: Celery
    quotas: Quotas
    vocabularies: VocabularyStore
    tenant: str
    """The caller: a digest of its API key."""
    base_url: str
    """The base of the URLs the caller is given."""

    async def submit(self, file: UploadFile, submission: SubmissionOptions) -> JobRecord:
        """Check the submission, store the upload and the job, and enqueue it (off the event loop:
        a stored vocabulary's read, the callback host's lookup and the audio's copy block)."""
        accepted = await run_in_threadpool(submissions.accept, submission, self.settings, self.vocabularies,
                                           self.tenant)
        job_id = job_service.new_job_id()
        # Copied a chunk at a time from the spooled upload to the store.
        upload = await run_in_threadpool(store_upload, file, self.settings.max_upload_bytes, self.audio, job_id)
        return await run_in_threadpool(job_service.submit_job, self.store, self.audio, self.celery, self.quotas,
                                       self.tenant, upload, job_id, accepted.options, self.base_url,
                                       accepted.callback)

    def urls(self, job_id: str) -> tuple[str, str]:
        """The status and result URLs of a job."""
        return job_urls(self.base_url, job_id)

    def get(self, job_id: str) -> JobRecord:
        return job_service.get_job(self.store, job_id, self.tenant)

    def public(self, record: JobRecord) -> JobPublic:
        """A job as its tenant sees it, with its callback's attempts."""
        return JobPublic.from_record(record, result_url=self.urls(record.id)[1],
                                     webhook=job_service.webhook_view(self.webhooks, record.id))

    def page(self, limit: int, cursor: str | None, statuses: frozenset[JobStatus] | None) -> JobPage:
        page = job_service.list_jobs(self.store, self.tenant, limit, cursor, statuses)
        jobs = [JobPublic.from_record(r, result_url=self.urls(r.id)[1]) for r in page.jobs]
        return JobPage(jobs=jobs, next_cursor=page.next_cursor)

    def result(self, job_id: str) -> Transcript:
        return job_service.get_result(self.store, job_id, self.tenant)

    def cancel_or_erase(self, job_id: str) -> JobRecord | None:
        return job_service.cancel_or_erase(self.store, self.audio, job_id, self.tenant)

    def redeliver(self, job_id: str) -> JobRecord:
        job_service.redeliver_webhook(self.store, self.webhooks, self.quotas, job_id, self.tenant)
        return self.get(job_id)
