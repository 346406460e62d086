"""The one exception hierarchy of honed, and the table that maps it to HTTP status codes.

    HonedError
    ├── InvalidRequestError        400  bad input; the message names the field
    ├── AuthenticationRequiredError 401  no credentials were sent
    ├── PermissionDeniedError      403  unknown or revoked token, or not allowed
    ├── NotFoundError              404  missing, deleted route, or another tenant's object
    ├── MethodNotAllowedError      405
    ├── ConflictError              409  e.g. the search space has no free point left
    ├── PayloadTooLargeError       413
    ├── UnprocessableError         422  e.g. an Idempotency-Key reused for another request
    ├── RateLimitedError           429
    └── ServiceUnavailableError    503  the database cannot be reached

The server renders every one as SigOpt's ``{"message", "status"}``; the client raises the
same class back from the status code, so callers catch one tree on both sides of the wire.
"""

from __future__ import annotations


class HonedError(Exception):
    """Root of every error honed raises on purpose."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequestError(HonedError):
    status_code = 400


class AuthenticationRequiredError(HonedError):
    status_code = 401


class PermissionDeniedError(HonedError):
    status_code = 403


class NotFoundError(HonedError):
    status_code = 404

    def __init__(self, message: str = "The requested resource could not be found") -> None:
        super().__init__(message)


class MethodNotAllowedError(HonedError):
    status_code = 405


class ConflictError(HonedError):
    status_code = 409


class PayloadTooLargeError(HonedError):
    status_code = 413


class UnprocessableError(HonedError):
    status_code = 422


class RateLimitedError(HonedError):
    status_code = 429

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        #: Seconds after which the request may be sent again (the Retry-After header).
        self.retry_after = retry_after


class ServiceUnavailableError(HonedError):
    status_code = 503


ERROR_BY_STATUS: dict[int, type[HonedError]] = {
    cls.status_code: cls
    for cls in (
        InvalidRequestError,
        AuthenticationRequiredError,
        PermissionDeniedError,
        NotFoundError,
        MethodNotAllowedError,
        ConflictError,
        PayloadTooLargeError,
        UnprocessableError,
        RateLimitedError,
        ServiceUnavailableError,
    )
}


def error_for_status(status: int, message: str) -> HonedError:
    """The exception a client raises for an error response (HonedError for unknown codes)."""
    error = ERROR_BY_STATUS.get(status, HonedError)(message)
    error.status_code = status
    return error
