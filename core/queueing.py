"""The Celery configuration both sides share: the API sends tasks by name, the worker consumes them."""

from __future__ import annotations

import json
from typing import Any

import redis
from celery import Celery
from kombu.entity import Queue

from core import keys
from core.redis_connection import celery_tls_options, redis_endpoint
from core.settings import Settings


def make_celery(settings: Settings, name: str = "endoscribe") -> Celery:
    """A Celery app bound to Redis with EndoScribe's reliability settings (no tasks registered)."""
    app = Celery(name, broker=redis_endpoint(settings).url)
    visibility = {"visibility_timeout": settings.visibility_timeout_seconds}
    app.conf.update(
        # Verified TLS for a rediss:// broker (consumers, producers, events, Flower): without it kombu
        # connects with CERT_NONE.
        **celery_tls_options(settings),
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


# kombu's Redis transport keeps a queue's messages in a list named after it (plus one list per
# priority step, named queue + "\x06\x16" + step), and each delivered-but-unacknowledged message in
# the "unacked" hash until it is acked or restored. These are internals (kombu has no API to list
# messages); this is the one place that reads them, for recovery, and only to spare a resend.
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)
_UNACKED = "unacked"


def _queue_lists(queue: str) -> tuple[str, ...]:
    return (queue, *(f"{queue}{_PRIORITY_SEPARATOR}{p}" for p in _PRIORITY_STEPS))


def broker_task_ids(client: redis.Redis, queues: tuple[str, ...] = (keys.TRANSCRIBE_QUEUE,)) -> set[str]:
    """Ids of the tasks that have a message waiting in, or reserved from, the broker."""
    lists = [q for queue in queues for q in _queue_lists(queue)]
    pipe = client.pipeline(transaction=False)
    for name in lists:
        pipe.lrange(name, 0, -1)
    pipe.hvals(_UNACKED)
    *waiting, unacked = pipe.execute()
    ids = set()
    for raw in [m for messages in waiting for m in messages]:
        ids.add(_task_id(json.loads(raw)))
    for raw in unacked:
        ids.add(_task_id(json.loads(raw)[0]))
    ids.discard("")
    return ids


def _task_id(message: dict[str, Any]) -> str:
    return str(message.get("headers", {}).get("id", ""))


def broker_depths(
    client: redis.Redis, queues: tuple[str, ...] = (keys.TRANSCRIBE_QUEUE,)
) -> tuple[dict[str, int], int]:
    """Messages waiting in each queue (every priority step), and messages delivered but not yet acknowledged."""
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        for name in _queue_lists(queue):
            pipe.llen(name)
    pipe.hlen(_UNACKED)
    *lengths, unacked = pipe.execute()
    steps = len(_queue_lists(queues[0])) if queues else 0
    waiting = {queue: sum(lengths[i * steps:(i + 1) * steps]) for i, queue in enumerate(queues)}
    return waiting, int(unacked)
