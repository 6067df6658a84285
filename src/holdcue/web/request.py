"""Reading a request from the bytes a client sent: the request line and headers, how long
its body is, the body as a JSON object, and what of it may be shown in the log. No I/O:
the server (server.py) reads the bytes within its limits and time; every way a request
can be malformed is a Refused with a 4xx status here."""

from __future__ import annotations

import http.client
import io
import json
import re
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, urlsplit

from holdcue.text import printable
from holdcue.web.errors import Refused

MAX_HEAD = 16 * 1024  # bytes of request line and headers: a browser's are under 2 KB
MAX_BODY = 16 * 1024  # bytes: the API's requests are a few dozen
MAX_DEPTH = 16  # arrays and objects inside each other in a body: the API's have one level
METHOD = re.compile(r"[A-Z]{1,16}")
LENGTH = re.compile(r"[0-9]{1,12}")  # ASCII digits only: str.isdigit() takes "²", which int() refuses
SECRET = re.compile(r"[A-Za-z0-9_-]{32,}")  # a run as long as a token is shown as "…"


@dataclass
class Request:
    method: str
    path: str  # without the query
    query: dict[str, list[str]]
    headers: Message
    peer: str  # the client's address
    body: bytes = b""


def parse_head(head: bytes, peer: str) -> Request:
    """The request whose line and headers are ``head`` (up to and with the empty line)."""
    line, _, rest = head.partition(b"\r\n")
    words = line.decode("latin-1").split(" ")
    if len(words) != 3:
        raise Refused(400, "the request line is not: METHOD /path HTTP/1.1")
    method, target, version = words
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise Refused(400, "only HTTP/1.0 and HTTP/1.1 are spoken here")
    if not METHOD.fullmatch(method):
        raise Refused(400, "the method is not a word in capitals")
    if not target.startswith("/"):
        raise Refused(400, "the path must start with /")
    try:
        parts = urlsplit(target)  # "//[" is taken as an address: ValueError
        query = parse_qs(parts.query, max_num_fields=20)  # more: ValueError
        headers = http.client.parse_headers(io.BytesIO(rest))
    except (ValueError, http.client.HTTPException) as error:
        raise Refused(400, "the request's path, query or headers cannot be read") from error
    return Request(method, parts.path, query, headers, peer)


def body_length(headers: Message) -> int:
    """How many bytes of body follow the headers; Refused (411, 400, 413) for a body that
    is chunked, whose length is not a number, or that is too long to be read."""
    if headers.get("Transfer-Encoding"):
        raise Refused(411, "send the body with a Content-Length (chunked bodies are refused)")
    given = {value.strip() for value in headers.get_all("Content-Length") or []}
    if not given:
        return 0
    text = given.pop()
    if given or not LENGTH.fullmatch(text):
        raise Refused(400, "Content-Length is not a number")
    length = int(text)
    if length > MAX_BODY:
        raise Refused(413, f"the body is {length} bytes; at most {MAX_BODY} are accepted")
    return length


def json_body(data: bytes) -> dict[str, Any]:
    """The body as a JSON object ({} when empty); Refused (400) for anything else."""
    if not data.strip():
        return {}
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise Refused(400, f"the body is not valid JSON: {error}") from error
    except RecursionError as error:  # thousands of [ : deeper than the parser goes
        raise Refused(400, f"the body is nested too deep (at most {MAX_DEPTH} levels)") from error
    if not isinstance(value, dict):
        raise Refused(400, "the body must be a JSON object")
    if _depth(value) > MAX_DEPTH:  # what is taken apart later (a message, a repr) must not recurse deep either
        raise Refused(400, f"the body is nested too deep (at most {MAX_DEPTH} levels)")
    return value


def _depth(value: object) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def shown(text: str, limit: int = 120) -> str:
    """What of a client's words may go to the log: no query (the pairing link's token is
    one), nothing as long as a token, no control characters, not too long."""
    text = SECRET.sub("…", text.split("?", 1)[0])
    return printable(text[:limit] + ("…" if len(text) > limit else ""))
