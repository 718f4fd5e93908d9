"""The model room: loading, keeping and running the speech model, and the audio it takes (no Celery, no Redis)."""
