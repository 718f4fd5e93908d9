"""The `endoscribe` command: submit recordings, follow their progress, fetch transcripts, list jobs.

It talks to the API over HTTP only and imports nothing of the server (no FastAPI, no torch)."""
