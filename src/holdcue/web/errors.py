"""What a request is refused with: an HTTP status, a message for the JSON answer, and
headers to send with it (``Allow``, ``Retry-After``). Raised by the checks (auth.py), the
reading of the request (server.py) and the API's handlers (routes.py); server.py sends it."""

from __future__ import annotations


class Refused(Exception):
    """A request answered with an error status and a JSON message."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
