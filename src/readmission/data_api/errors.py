"""Domain errors of the data API; the Flask layer maps each to a JSON answer."""

from __future__ import annotations


class DataApiError(Exception):
    """Base class of every data API error."""

    status = 500
    code = "data_api_error"


class DataFileError(DataApiError):
    """The CSV is missing or does not match the schema."""

    code = "data_file_error"


class StateFileError(DataApiError):
    """The persisted cycle state cannot be read."""

    code = "state_file_error"


class InvalidBatchError(DataApiError):
    """A batch number that is not an integer."""

    status = 400
    code = "invalid_batch"

    def __init__(self, raw: str) -> None:
        super().__init__(f"batch must be an integer, got {raw!r}")


class BatchNotFoundError(DataApiError):
    """An integer batch number outside 1..total."""

    status = 404
    code = "batch_not_found"

    def __init__(self, number: int, total: int) -> None:
        super().__init__(f"batch {number} does not exist: batches are numbered 1 to {total}")
        self.number = number
        self.total = total
