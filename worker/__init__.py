"""The transcription worker: Celery tasks around a resident WhisperX pipeline."""
