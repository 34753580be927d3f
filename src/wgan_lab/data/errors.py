"""Errors raised while reading, fetching or validating image sources."""
from wgan_lab.core import ProjectError


class DataSourceError(ProjectError, ValueError):
    """A source file is missing, malformed or inconsistent; the message names it."""


class DownloadError(DataSourceError):
    """A file could not be fetched or did not match its checksum."""
