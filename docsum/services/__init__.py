"""The service layer: batches, summarize and nightly, as plain functions on a session."""
