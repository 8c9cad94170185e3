"""Store exceptions. Messages are sentences an agent can relay to a caller as they are."""

from __future__ import annotations


class StoreError(Exception):
    """Base of everything the store raises on purpose."""


class StoreBusy(StoreError):
    """Other writers held the database longer than the busy timeout; safe to retry."""

    def __init__(self, message: str = "The system is busy right now; please try again.") -> None:
        super().__init__(message)


class SchemaTooNew(StoreError):
    """The database was written by a newer callcrew; refusing to touch it."""


class StoreUnavailable(StoreError):
    """The database URL is wrong, or the database cannot be opened; the message says which."""


class StoreNotFound(StoreUnavailable):
    """A read-only command named a store that does not exist (reading never creates one)."""


class ValueTooLong(StoreError, ValueError):
    """A value does not fit its column; checked before the insert so every back end agrees."""
