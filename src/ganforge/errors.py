"""User-facing errors: each carries one line that says what is wrong and what to do.

The CLI prints these without a traceback; anything else is a bug and keeps its traceback.
"""


class GanforgeError(Exception):
    """A problem the user can fix (bad input, missing file, bad option)."""


class ConfigError(GanforgeError):
    """A bad config value, unknown key, preset or option."""


class DataError(GanforgeError):
    """A dataset that is missing, corrupt or of the wrong shape."""


class CheckpointError(GanforgeError):
    """A checkpoint or run folder that cannot be used as asked."""


class TrainingDiverged(GanforgeError):
    """Losses or weights became NaN/Inf; the last good checkpoint is kept."""


class CheckpointRefused(CheckpointError):
    """A checkpoint that would need more than plain data to load (it could run code): never loaded."""


class CheckpointDamaged(CheckpointError):
    """A checkpoint that cannot be read (cut short, overwritten); resume falls back to the one before."""


class RunBusy(GanforgeError):
    """Another process is training the run folder; it holds the folder's writer lock."""


class WriteError(GanforgeError, OSError):
    """A file that could not be written (disk full, read-only folder, no permission). What was there
    before is intact. Also an OSError, so code that handles OSError keeps doing so."""


class DistributedError(GanforgeError):
    """A distributed run stopped because one of its ranks did (training/failures.py says which, and why)."""


class RequestError(GanforgeError):
    """A web page request that cannot be served as asked (`ganforge serve`); `status` is its HTTP status."""

    status = 400


class NotFound(RequestError):
    """No such run or file in the served folder; also what any path leaving that folder gets."""

    status = 404


class TooLarge(RequestError):
    """An upload over the page's limit; refused before the rest of it is read."""

    status = 413
