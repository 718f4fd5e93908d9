"""Dictation as Dragon taught it: what a clinician says to the system (commands), and auto-texts.

`grammar` finds the commands in what was said (`sounds`: how alike a misheard phrase sounds to one),
`editor` applies them to a document, `templates` parses and fills auto-texts, `template_store` keeps
them per key in Redis. Pure Python: no FastAPI, no torch, no worker imports, so the API, the worker and
the bench can all use it (`sounds` imports jellyfish and rapidfuzz, worker dependencies, only when a
phrase said alone is compared).
"""
