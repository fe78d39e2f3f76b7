"""Django admin for consortium staff: the moderation of the shared list.

Staff review submissions, decide disputes, share restricted banks and read the change log
here. Writes go through the same services as the API (or are audited like them); nothing a
member signed is editable, and the list itself changes only through submissions and
disputes.
"""

from hashbank.admin import banks, disputes, log, signals, submissions

__all__ = ["banks", "disputes", "log", "signals", "submissions"]
