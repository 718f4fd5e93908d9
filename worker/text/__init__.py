"""The text room: what a transcript's words go through after the model (formatting, lexicon, vocabulary guard)."""
