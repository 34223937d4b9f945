"""The project's own error type. Anything raised as one is a mistake the user can fix (a config value,
a checkpoint, a run directory): ``train.py`` prints it as one line. Anything else is a bug and keeps its
traceback."""


class RamError(Exception):
    """Base of every error whose message already says what is wrong and how to fix it."""


class ConfigError(RamError, ValueError):
    """A bad config file, key or value (also raised below the config: a device that is not there)."""
