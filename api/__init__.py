"""The HTTP API: thin routes over core's job store; never imports torch or whisperx."""
