"""The live room: the desk that serves live sessions, their endpointing, and the looks at their new audio."""
