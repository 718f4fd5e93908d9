"""The Celery configuration both sides share: the API sends tasks by name, the worker consumes them."""

from __future__ import annotations

from celery import Celery
from kombu.entity import Queue

from core import keys
from core.settings import Settings


def make_celery(settings: Settings, name: str = "endoscribe") -> Celery:
    """A Celery app bound to Redis with EndoScribe's reliability settings (no tasks registered)."""
    app = Celery(name, broker=settings.redis_url)
    visibility = {"visibility_timeout": settings.visibility_timeout_seconds}
    app.conf.update(
        # Redis redelivers an unacked message after visibility_timeout even while it still runs:
        # keep it well above the per-job limit (see Settings.visibility_timeout_seconds).
        broker_transport_options=visibility,
        result_backend_transport_options=visibility,
        # Transcripts live in the job store; a Celery result would only copy patient data to Redis
        # and to Flower.
        task_ignore_result=True,
        # At-least-once: ack after the job ran, requeue if the worker dies mid-job, and take one
        # message at a time so a long job never holds a second one hostage.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_queues=(Queue(keys.TRANSCRIBE_QUEUE),),
        task_default_queue=keys.TRANSCRIBE_QUEUE,
        task_routes={keys.TRANSCRIBE_TASK: {"queue": keys.TRANSCRIBE_QUEUE}},
        task_create_missing_queues=False,
        task_serializer="json",
        accept_content=["json"],
        # Flower builds its task list from events.
        worker_send_task_events=True,
        task_send_sent_event=True,
        broker_connection_retry_on_startup=True,
    )
    return app
