"""Errors raised while reading, fetching or validating image sources."""


class DataSourceError(ValueError):
    """A source file is missing, malformed or inconsistent; the message names it."""


class DownloadError(DataSourceError):
    """A file could not be fetched or did not match its checksum."""
