"""The schedule room: the round that keeps the model's batches full with windows of every work source."""
