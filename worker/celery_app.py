"""The worker's Celery entry point: `celery -A worker.celery_app worker -P solo` (and `... flower`).

Importing it builds the Celery app and nothing else (`worker.celery.app`); the signal handlers it
connects (`worker.celery.signals`) build and start the worker's runtime when a worker starts.
"""

from worker.celery import signals as _signals  # noqa: F401 - connects the handlers that start the runtime
from worker.celery.app import app

__all__ = ["app"]
