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


class RequestError(GanforgeError):
    """A web page request that cannot be served as asked (`ganforge serve`); `status` is its HTTP status."""

    status = 400


class NotFound(RequestError):
    """No such run or file in the served folder; also what any path leaving that folder gets."""

    status = 404
