"""The shared list: banks, signals, submissions, labels, opinions, disputes, change log."""
