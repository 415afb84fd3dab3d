"""Errors that speechgen raises for bad input: each message names the file or key and the fix."""


class SpeechgenError(Exception):
    """Base class of the errors a user can act on."""


class DataError(SpeechgenError, ValueError):
    """A corpus, data dir, wav or feature file is missing, malformed or inconsistent."""


class ConfigError(SpeechgenError, ValueError):
    """A config file has an unknown key, a wrong type or an impossible value."""


class TrainingError(SpeechgenError, RuntimeError):
    """Training cannot go on (e.g. a non-finite loss)."""
