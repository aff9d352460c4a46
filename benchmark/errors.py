"""The one exception type a user should ever see.

Library code raises :class:`DeepbenchError` for anything a user can fix (a missing file, a bad option, a
corrupt checkpoint); the CLI prints its message as a single line instead of a traceback. Its message
names the problem and the fix.
"""


class DeepbenchError(Exception):
    """A problem with the user's input or environment, explained in one line that names the fix."""
