"""PDQ matching: the index and the per-process matcher."""
