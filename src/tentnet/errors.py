"""The one exception type that carries a user-facing message."""


class TentnetError(ValueError):
    """Bad input or an impossible request; the message is shown to the user as one line."""
