"""The one error type every command turns into a single line on stderr and exit status 2.

Loaders keep their own exception types (ScenarioError, SipConfigError ...) because their
callers catch them by kind; the CLI boundary (`cli.py`) knows that list. `UserError` is for the
rest: a bad argument or file found anywhere else. Anything not on the list is a bug and keeps
its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user; the message names the input and what is wrong."""
