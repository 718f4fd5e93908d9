"""Structured findings: endoscopy fields extracted from a formatted dictation, and what is built on them.

- `findings.models`: the findings per note type (pydantic; a JSON Schema for the OpenAPI document).
- `findings.extraction`: `extract(note_type, text, segments)`, spaCy Matcher rules (imports spaCy).
- `findings.quality`: quality measures over stored findings (PHI-free; no spaCy, for the light API).
- `findings.fhir`: the `fhir-report` transaction Bundle.

Data files under `findings/data/` name the registries and society documents they follow.
"""
