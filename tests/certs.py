"""A throw-away certificate authority for the TLS tests, made at test time.

:func:`make_ca` writes a self-signed CA; :meth:`CA.issue` writes a certificate and key it
signed, for a server (``localhost`` and 127.0.0.1) or a client (mTLS).  Everything is
PEM, as an operator's files would be.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from pathlib import Path

from attrs import frozen
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from testkit.ports import HOST


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)


@frozen
class Issued:
    cert: Path
    key: Path

    @property
    def serial(self) -> int:
        return x509.load_pem_x509_certificate(self.cert.read_bytes()).serial_number


@frozen
class CA:
    cert: Path
    key: Path
    name: str

    def _signing_key(self) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_pem_private_key(self.key.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key

    def issue(self, directory: Path, stem: str, *, client: bool = False) -> Issued:
        """A leaf certificate signed by this CA: a server's for ``localhost`` and 127.0.0.1,
        or a client's (``client=True``)."""
        ca_cert = x509.load_pem_x509_certificate(self.cert.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(stem))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._signing_key().public_key()),
                critical=False,
            )
        )
        if not client:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
                ),
                critical=False,
            )
        cert = builder.sign(self._signing_key(), hashes.SHA256())
        directory.mkdir(parents=True, exist_ok=True)
        issued = Issued(directory / f"{stem}.crt", directory / f"{stem}.key")
        issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, issued.key)
        return issued


def make_ca(directory: Path, name: str = "threadgate test CA") -> CA:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    stem = name.replace(" ", "-")
    ca = CA(directory / f"{stem}.crt", directory / f"{stem}.key", name)
    ca.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, ca.key)
    return ca


@frozen
class Pki:
    """What the TLS tests need: a CA with a server and a client certificate, and a second,
    unrelated CA with its own (what a client or server without the right CA holds)."""

    ca: CA
    server: Issued
    client: Issued
    other_ca: CA
    other_server: Issued
    other_client: Issued


def make_pki(directory: Path) -> Pki:
    ca = make_ca(directory / "ca")
    other = make_ca(directory / "other-ca", "another test CA")
    return Pki(
        ca=ca,
        server=ca.issue(directory / "ca", "server"),
        client=ca.issue(directory / "ca", "client", client=True),
        other_ca=other,
        other_server=other.issue(directory / "other-ca", "server"),
        other_client=other.issue(directory / "other-ca", "client", client=True),
    )


def presented_serial(port: int, ca: Path) -> int:
    """The serial number of the certificate a new TLS connection to ``port`` is shown
    (verified against ``ca``; ALPN h2, which both listeners speak)."""
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(["h2"])
    with (
        socket.create_connection((HOST, port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def trusting(ca: Path, client: Issued | None = None) -> ssl.SSLContext:
    """What httpx's ``verify=`` takes (a path there is deprecated since httpx 0.28): trust
    ``ca``, and present ``client`` for mTLS."""
    ctx = ssl.create_default_context(cafile=ca)
    if client is not None:
        ctx.load_cert_chain(client.cert, client.key)
    return ctx
