"""The one base class of the errors a user fixes from the message alone."""


class UserError(Exception):
    """A problem the user can fix from the message (which names the fix); the command line
    prints it as one line instead of a traceback. Anything else keeps its traceback."""
