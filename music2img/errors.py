"""Exceptions raised by music2img.

Every error a user can cause derives from :class:`Music2ImgError`; errors about bad input
values also derive from :class:`ValueError` so that generic callers can catch them.
"""


class Music2ImgError(Exception):
    """Base class of all music2img errors."""


class AudioError(Music2ImgError, ValueError):
    """Audio that cannot be analysed: unreadable, empty, silent, too short or too long."""


class ImageError(Music2ImgError, ValueError):
    """An image that cannot be read or analysed."""


class EmotionRangeError(Music2ImgError, ValueError):
    """A valence or arousal value outside the 1–9 scale."""


class DatasetError(Music2ImgError, ValueError):
    """A dataset folder or annotation file that does not have the expected layout."""


class ModelFileError(Music2ImgError, FileNotFoundError):
    """Model weights that are missing, incomplete or fail their checksum."""


class OutputError(Music2ImgError, OSError):
    """An output file that cannot be written: a full disk, a missing permission."""


class OptionError(Music2ImgError, ValueError):
    """A setting outside its range: threads, steps, image counts, sizes, frame rates, durations."""
