"""holdcue serve behind a TLS proxy: a real nginx on loopback (installed by scripts/setup
--test) in front of a real server. The page's POSTs carry the proxy's origin (https://),
which the origin check takes from X-Forwarded-Proto when the proxy is trusted."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from holdcue import web
from holdcue.web.auth import Access
from service_support import wait_until
from test_web_api import Running

NGINX = "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def proxied(tmp_path, monkeypatch):
    """(the server, the proxy's port, the token): nginx terminating TLS on loopback, passing
    requests on to holdcue's server as the usual proxy setup does."""
    if shutil.which("openssl") is None or not Path(NGINX).exists():
        pytest.fail("nginx and openssl are needed: scripts/setup --test installs them")
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path))
    token_file = web.TokenFile(tmp_path / "token")
    token = token_file.load()
    running = Running(host="0.0.0.0", token=token_file)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
        check=True,
        capture_output=True,
    )
    port = free_port()
    (tmp_path / "nginx.conf").write_text(
        f"""
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {tmp_path}/cert.pem;
        ssl_certificate_key {tmp_path}/key.pem;
        location / {{
            proxy_pass http://127.0.0.1:{running.server.port};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
        }}
    }}
}}
"""
    )
    nginx = subprocess.Popen(
        [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off; user root;"],
        stderr=subprocess.PIPE,
    )

    def listening() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_until(listening, what="nginx to listen")
        yield running, port, token
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        running.close()


def through(port: int, method: str, path: str, headers: dict[str, str], body: bytes | None = None):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    connection.request(method, path, body=body, headers=headers)
    return connection, connection.getresponse()


def test_the_pages_posts_are_accepted_through_a_tls_proxy(proxied):
    running, port, token = proxied
    own = {"Authorization": f"Bearer {token}", "Origin": f"https://127.0.0.1:{port}"}
    connection, response = through(port, "POST", "/api/volume", own, b'{"volume": 0.5}')
    assert response.status == 200 and json.loads(response.read())["volume"] == 0.5
    connection.close()
    for origin in (f"http://127.0.0.1:{port}", "https://elsewhere.example", f"https://127.0.0.1:{port + 1}"):
        connection, response = through(port, "POST", "/api/volume", {**own, "Origin": origin}, b'{"volume": 1}')
        assert response.status == 403, origin
        connection.close()
    assert running.controller.status().volume == 0.5


def test_the_event_stream_works_through_the_proxy(proxied):
    running, port, token = proxied
    connection, response = through(port, "GET", "/api/events", {"Authorization": f"Bearer {token}"})
    assert response.status == 200
    began = time.monotonic()
    while not (line := response.fp.readline()).startswith(b"data:"):
        assert line and time.monotonic() - began < 10
    running.controller.set_volume(0.7)
    while b'"volume": 0.7' not in line:
        line = response.fp.readline()
        assert line and time.monotonic() - began < 10
    connection.close()


def test_forwarded_schemes_are_believed_from_loopback_and_trusted_addresses_only(tmp_path):
    access = Access("0.0.0.0", web.TokenFile(tmp_path / "token"), trusted_proxies=("192.168.1.0/24", "fd00::5"))
    assert access.trusts("127.0.0.1") and access.trusts("::1") and access.trusts("::ffff:127.0.0.1")
    assert access.trusts("192.168.1.7") and access.trusts("fd00::5")
    assert not access.trusts("192.168.2.7") and not access.trusts("10.0.0.1") and not access.trusts("-")
    headers = http.client.HTTPMessage()
    headers["Host"] = "pi.local"
    headers["Origin"] = "https://pi.local"
    headers["X-Forwarded-Proto"] = "https"
    access.check_origin(headers, "192.168.1.7")
    with pytest.raises(web.Refused):
        access.check_origin(headers, "192.168.2.7")  # anyone else's word for the scheme is not taken
