"""The contract shared by the API and the worker: settings, job model, Redis store. No FastAPI, no torch."""
