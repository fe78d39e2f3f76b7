"""The hash bank API: submit, follow, sync, look up, opinions and disputes."""
