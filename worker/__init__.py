"""The transcription worker: Celery tasks around a resident WhisperX pipeline."""

from worker.privacy import disable_telemetry

# First thing in any worker process, before WhisperX, pyannote or huggingface_hub can be imported.
disable_telemetry()
