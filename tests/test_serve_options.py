"""`provider serve` options: TLS with a test certificate, several workers sharing one database."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.oidc import BrowserClient, pkce_pair
from tests.servers import ProviderServer, dispose, new_server


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, written as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[ProviderServer, Path]]:
    cert, key = make_certificate(tmp_path)
    server = new_server(tmp_path / "data")
    server.scheme = "https"
    server.start("--tls-cert", str(cert), "--tls-key", str(key))
    yield server, cert
    dispose(server)


def test_tls_serves_discovery_with_https_issuer_and_secure_cookies(
    tls_server: tuple[ProviderServer, Path],
) -> None:
    """Over TLS the issuer is https, the certificate verifies, and cookies are Secure + HSTS."""
    server, cert = tls_server
    context = ssl.create_default_context(cafile=str(cert))
    answer = httpx.get(server.base_url + "/.well-known/openid-configuration", verify=context)
    assert answer.status_code == 200
    assert answer.json()["issuer"] == server.issuer
    assert server.issuer.startswith("https://")
    login = httpx.get(server.base_url + "/login", verify=context)
    assert "secure" in login.headers["set-cookie"].lower()
    assert "max-age" in login.headers["strict-transport-security"]


def test_two_workers_share_one_database(tmp_path: Path) -> None:
    """With --workers 2, a sign-in and code exchange spread over both processes works, and
    a code can still be used only once."""
    server = new_server(tmp_path / "data")
    server.start("--workers", "2")
    try:
        redirect = "https://rp.example/cb"
        client = server.cli_json(
            "clients",
            "create",
            "--name",
            "w",
            "--public",
            "--first-party",
            "--redirect-uri",
            redirect,
        )
        verifier, challenge = pkce_pair()
        browser = BrowserClient(server.base_url)
        result = browser.sign_in(
            "demo@example.com",
            "demo-password",
            response_type="code",
            client_id=client["client_id"],
            redirect_uri=redirect,
            scope="openid",
            code_challenge=challenge,
            code_challenge_method="S256",
            state="s",
        )
        exchange = {
            "grant_type": "authorization_code",
            "code": result.params["code"],
            "redirect_uri": redirect,
            "client_id": client["client_id"],
            "code_verifier": verifier,
        }
        statuses = [
            httpx.post(server.base_url + "/oauth/token", data=exchange).status_code
            for _ in range(4)
        ]
        assert statuses.count(200) == 1
        assert all(s == 400 for s in statuses if s != 200)
        browser.close()
    finally:
        dispose(server)
