"""The one exception type users see.

A :class:`CompanionError` is a problem with the user's input or environment (an unknown notebook, a
missing dataset folder, a corrupt image, a failed checksum). Its message is one line that says what went
wrong and how to fix it. The CLI prints it as ``error: <message>`` and exits with status 2, without a
traceback. Anything else that escapes is a bug and keeps its traceback.
"""


class CompanionError(Exception):
    """A user-facing error whose message names the fix."""
