class EmbeddedServiceError(Exception):
    """A service could not be started or stopped; the message is one line for the user."""
