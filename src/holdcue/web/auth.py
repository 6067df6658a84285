"""Who may ask (docs/service.md, "Pairing a phone, and who may ask"): the pairing token and
its file, the checks every request goes through (the Host header, the token as a cookie
or ``Authorization: Bearer``, the Origin of a POST), the pairing link that turns the token
into a cookie, and the addresses that link names.

On a loopback address nothing but the machine itself can reach the service, and only
requests naming it by a loopback name are answered (a web page cannot reach it by DNS
rebinding). On any other address every request needs the token. Requests that change
something (POST) from a page of another origin are refused either way.
"""

from __future__ import annotations

import hmac
import http.cookies
import ipaddress
import logging
import os
import secrets
import socket
import stat
from email.message import Message
from pathlib import Path
from urllib.parse import urlsplit

from holdcue.errors import HoldcueError
from holdcue.web.errors import Refused

log = logging.getLogger("holdcue.web")  # one logger for the web layer, as the service's log has always named it

COOKIE = "holdcue_token"
COOKIE_AGE = 400 * 24 * 3600  # seconds: as long as browsers keep a cookie
TOKEN_BYTES = 32  # 256 bits, 43 characters in the URL


# -- the token ---------------------------------------------------------------------------


class TokenFile:
    """The pairing token in a file only its owner can read. Read again when the file
    changes, so ``holdcue pair --renew`` shuts old phones out of a running service."""

    def __init__(self, path: Path):
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._token = ""

    def load(self, create: bool = True) -> str:
        """The token, made first when there is none (and ``create``)."""
        if create and not self.path.is_symlink() and not self.path.exists():
            self._write(secrets.token_urlsafe(TOKEN_BYTES), replace=False)
        return self.current()

    def renew(self) -> str:
        self._write(secrets.token_urlsafe(TOKEN_BYTES), replace=True)
        return self.current()

    def current(self) -> str:
        """The token; HoldcueError (saying what to run) when the file is gone, is not a
        regular file of its owner's (a link is never followed), or is damaged."""
        try:  # opened without following a link and without blocking (a FIFO): checked and read on the open file
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError as error:
            raise HoldcueError(f"the token file {self.path} is gone: run holdcue pair to make a new one") from error
        except OSError as error:  # ELOOP: a symbolic link
            raise HoldcueError(
                f"the token file {self.path} cannot be read ({error.strerror}): run holdcue pair --renew"
            ) from error
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(fd)
            seen = (info.st_ino, info.st_mtime_ns, info.st_size)
            if seen == self._seen:
                return self._token
            if not stat.S_ISREG(info.st_mode) or info.st_size > 1024:
                raise HoldcueError(f"the token file {self.path} cannot be read: run holdcue pair --renew")
            if info.st_mode & 0o077:
                os.fchmod(fd, 0o600)  # this file, not what a link might point to
                log.warning("%s could be read by others: made readable by its owner only", self.path)
            token = file.read(1024).decode("ascii", errors="replace").strip()
        if len(token) < 32 or not all(c.isalnum() or c in "-_" for c in token):
            raise HoldcueError(f"the token file {self.path} is damaged: run holdcue pair --renew")
        self._token, self._seen = token, seen
        return self._token

    def matches(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), self.current().encode())

    def _write(self, token: str, replace: bool) -> None:
        """Written whole to a new file that only its owner may read, then put in place:
        never a moment when the token file is empty or readable by others."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as file:
                file.write(token + "\n")
            if replace:
                os.replace(temporary, self.path)
            else:
                try:
                    os.link(temporary, self.path)  # fails if another start made one meanwhile: keep that
                except FileExistsError:
                    pass
        finally:
            temporary.unlink(missing_ok=True)


# -- the checks ----------------------------------------------------------------------------


class Access:
    """The checks of one server: what it listens on says whether a token is needed."""

    def __init__(
        self,
        host: str,
        token: TokenFile | None = None,
        require_token: bool | None = None,
        trusted_proxies: tuple[str, ...] = (),
    ):
        """``require_token``: None: a token is needed on any address but a loopback one.
        ``trusted_proxies``: addresses (or networks) besides loopback whose
        ``X-Forwarded-Proto`` is believed: the TLS proxies in front of the service."""
        self.proxies = [ipaddress.ip_network(address, strict=False) for address in trusted_proxies]
        self.require_token = not is_loopback(host) if require_token is None else require_token
        if self.require_token and token is None:
            raise ValueError("a server that requires a token needs the token file")
        self.token = token
        self._problem = ""  # what is wrong with the token file, as last logged
        self.allowed_hosts = {"localhost", "127.0.0.1", "[::1]", host if ":" not in host else f"[{host}]"}

    def check_host(self, headers: Message) -> None:
        """Without a token, answer only to the names of this machine's loopback: a page
        that points its own domain name at 127.0.0.1 (DNS rebinding) gets nothing."""
        if self.require_token:
            return
        host = (headers.get("Host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name not in self.allowed_hosts:
            raise Refused(403, "this address is answered only on the machine itself (Host header refused)")

    def check_token(self, headers: Message) -> None:
        if not self.require_token:
            return
        header = headers.get("Authorization") or ""
        bearer = header[7:].strip() if header[:7].lower() == "bearer " else None
        if self._matches(bearer) or self._matches(_cookie(headers)):
            return
        raise Refused(401, "a token is needed: open the link that holdcue pair shows, or send Authorization: Bearer")

    def _matches(self, candidate: str | None) -> bool:
        """Whether ``candidate`` is the token; never when the token file cannot be read
        (gone, damaged, a link): that is logged, and every request is refused until
        holdcue pair makes the file again."""
        if candidate is None:
            return False
        assert self.token is not None
        try:
            matches = self.token.matches(candidate)
        except HoldcueError as error:
            if str(error) != self._problem:  # once, not once a request
                log.error("every request is refused: %s", error)
                self._problem = str(error)
            return False
        if self._problem:
            log.info("the token file can be read again")
            self._problem = ""
        return matches

    def check_origin(self, headers: Message, peer: str) -> None:
        """A POST from a page of another origin (a form or script elsewhere) is refused;
        programs that send neither Origin nor Referer (curl, home automation) are not.
        The service's own origin is the scheme, host and port the browser used: behind a
        TLS proxy (on loopback, or a trusted address) the scheme is the proxy's
        ``X-Forwarded-Proto``, and the proxy must pass the Host header on as it came."""
        origin = headers.get("Origin")
        if origin is None and headers.get("Referer"):
            origin = headers["Referer"]
        if origin is None:
            return
        scheme = "http"
        forwarded = (headers.get("X-Forwarded-Proto") or "").split(",")[0].strip().lower()
        if forwarded in ("http", "https") and self.trusts(peer):
            scheme = forwarded
        own = _site(f"{scheme}://{headers.get('Host') or ''}")
        if own is None or _site(origin) != own:
            raise Refused(403, "requests from another site's page are refused")

    def trusts(self, peer: str) -> bool:
        """Whether ``peer`` is a proxy whose forwarded headers are believed."""
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return address.is_loopback or any(address in network for network in self.proxies)

    def pair(self, candidate: str) -> dict[str, str]:
        """The headers of the pairing link's answer (a redirect to ``/``): the token becomes
        a cookie, and the address bar loses it."""
        if not self.require_token:
            return {"Location": "/"}
        assert self.token is not None
        if not self._matches(candidate):
            raise Refused(401, "this pairing link is no longer valid: run holdcue pair for the current one")
        cookie = f"{COOKIE}={self.token.current()}; Path=/; Max-Age={COOKIE_AGE}; HttpOnly; SameSite=Strict"
        return {"Location": "/", "Set-Cookie": cookie}


def _site(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL, the port filled in from the scheme; None for what is
    not an http(s) URL."""
    try:
        parts = urlsplit(url.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _cookie(headers: Message) -> str | None:
    jar = http.cookies.SimpleCookie()
    try:
        jar.load(headers.get("Cookie") or "")
    except http.cookies.CookieError:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


# -- addresses and the pairing link ------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def lan_address() -> str:
    """This machine's address on its network: the one its traffic to the outside leaves
    from (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere real
            return str(probe.getsockname()[0])
        except OSError:
            return socket.gethostname()


def pairing_url(host: str, port: int, token: str | None) -> str:
    shown = lan_address() if host in ("0.0.0.0", "::", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts connections at ``host``:``port`` (nothing is sent)."""
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=timeout):
            return True
    except OSError:
        return False
