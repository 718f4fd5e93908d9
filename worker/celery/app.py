"""The worker's Celery app: the one thing built when `worker.celery_app` is imported.

Everything else a worker process keeps (Redis, the model, the heartbeat) is built by
`worker.celery.runtime.build_runtime` when the worker starts (`worker.celery.signals`), so Flower, which
imports this app to read the broker, builds none of it.
"""

from __future__ import annotations

from core.queueing import make_celery
from core.settings import get_settings

app = make_celery(get_settings(), name="endoscribe-worker")
app.conf.include = ["worker.celery.tasks"]
