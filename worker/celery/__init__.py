"""The transport room: the Celery app, its tasks and signals, the heartbeat, and Flower's access rules."""
