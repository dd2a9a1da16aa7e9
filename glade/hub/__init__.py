"""Hugging Face Hub exports: Hub-ready folders with cards for checkpoints and traces, and
the push (the one place that talks to the Hub). Never prints; a failed push is PushFailed."""
