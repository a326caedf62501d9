"""The base of every error graphsep reports to a user as one clear line."""


class GraphsepError(Exception):
    """A problem with the user's input (file, config, data, checkpoint); the message names it."""
