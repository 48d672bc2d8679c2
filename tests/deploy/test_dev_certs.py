"""deploy/make-dev-certs makes files threadgate serves: a CA, a server certificate for
the names compose.yaml uses, and a client certificate for mTLS."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cryptography import x509

from adapters.tls import TlsFiles, read_material

ROOT = Path(__file__).resolve().parents[2]


def test_dev_certificates_load_and_chain_to_their_ca(tmp_path: Path) -> None:
    out = tmp_path / "tls"
    subprocess.run(
        [str(ROOT / "deploy" / "make-dev-certs"), str(out), "threadgate.example", "10.1.2.3"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    read_material(TlsFiles(out / "server.crt", out / "server.key", out / "ca.crt"))
    read_material(TlsFiles(out / "client.crt", out / "client.key"))
    ca = x509.load_pem_x509_certificate((out / "ca.crt").read_bytes())
    server = x509.load_pem_x509_certificate((out / "server.crt").read_bytes())
    client = x509.load_pem_x509_certificate((out / "client.crt").read_bytes())
    for leaf in (server, client):
        leaf.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "replica-tls", "balancer-tls", "threadgate.example"} <= set(
        names.get_values_for_type(x509.DNSName)
    )
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "10.1.2.3"}
    assert (out / "server.key").stat().st_mode & 0o077 == 0  # keys readable by their owner only
