"""The jobs room: one file job's run (claim, open, end), its lease, and recovery of jobs that fell out of the flow."""
