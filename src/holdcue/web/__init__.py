"""The phone remote (docs/service.md): an HTTP server with a small JSON API and the page
that uses it, a front end of the core like the terminal and the button.

    server.py   Server and its request handler: reading bodies within their limits, the
                event stream, sending every answer with the security headers
    auth.py     who may ask: the token file, the Host, token and Origin checks, pairing
    routes.py   the API: (method, path) -> handler, and the core's errors as HTTP statuses
    page.py     the page's HTML (today's session, the routines with their chips), the
                manifest, the page a browser gets for a refused request
    icons.py    the home-screen icons, drawn
    status.py   the core's status (core.Snapshot) as the API's JSON
    errors.py   Refused: a request answered with an error status

index.html, app.js, style.css and favicon.svg sit beside them: the page's files.
"""

from holdcue.web.auth import TokenFile, is_loopback, lan_address, pairing_url
from holdcue.web.errors import Refused
from holdcue.web.server import DEFAULT_PORT, Handler, Server

__all__ = [
    "DEFAULT_PORT",
    "Handler",
    "Refused",
    "Server",
    "TokenFile",
    "is_loopback",
    "lan_address",
    "pairing_url",
]
