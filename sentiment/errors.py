"""The one exception type users see.

Anything raised as `SentimentError` is a problem with the user's input or
environment (bad file, missing data, incompatible artifacts): the CLI prints
its message on one line and exits, without a traceback.
"""


class SentimentError(Exception):
    """A problem the user can fix; the message says how."""
