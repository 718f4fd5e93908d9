"""The rules per note type: each module reads a `Note` and returns its findings model."""
