"""The desk store's exceptions; messages are sentences an agent can relay to a caller."""

from __future__ import annotations

from callcrew.store.errors import StoreError


class SlotTaken(StoreError):
    def __init__(self, message: str = "Sorry, that time has just been taken.") -> None:
        super().__init__(message)


class AppointmentNotFound(StoreError):
    def __init__(self, message: str = "I couldn't find that appointment.") -> None:
        super().__init__(message)


class AppointmentNotActive(StoreError):
    def __init__(self, message: str = "That appointment has already been cancelled.") -> None:
        super().__init__(message)


class CustomerNotFound(StoreError):
    def __init__(self, message: str = "I couldn't find that customer.") -> None:
        super().__init__(message)


class CustomerExists(StoreError):
    def __init__(self, message: str = "We already have a customer with that phone number.") -> None:
        super().__init__(message)
