"""Throwaway certificates and an HTTPS-terminating reverse proxy for tests.

    files = make_ca_and_cert(tmp_path)                 # CA + cert for 127.0.0.1/localhost
    with TLSTerminatingProxy(node_url, files.server_cert, files.server_key) as proxy:
        requests.get(proxy.url, verify=files.ca_cert)  # ok
        requests.get(proxy.url)                        # SSLError: CERTIFICATE_VERIFY_FAILED

    bad = make_untrusted_cert(tmp_path / "bad")        # same names, signed by another CA

Needs the ``cryptography`` package (``pip install cryptography``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .relay import RelayProxy, server_ssl_context

__all__ = ["TLSFiles", "make_ca_and_cert", "make_untrusted_cert", "TLSTerminatingProxy"]

DEFAULT_DNS_NAMES = ("localhost",)
DEFAULT_IP_ADDRESSES = ("127.0.0.1",)


@dataclass(frozen=True)
class TLSFiles:
    """PEM files: the CA that issued the server certificate, the certificate, its key."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def _new_key() -> rsa.RSAPrivateKey:
    # RSA 2048 keeps the files usable by any TLS stack (Python, Java, curl).
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "es-s3-snapshot tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _validity() -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.timezone.utc)
    return now - dt.timedelta(days=1), now + dt.timedelta(days=30)


def _make_ca(common_name: str) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = _new_key()
    not_before, not_after = _validity()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
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
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _make_server_cert(
    issuer_cert: x509.Certificate | None,
    issuer_key: rsa.RSAPrivateKey | None,
    dns_names,
    ip_addresses,
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """Server certificate signed by issuer, or self-signed when issuer is None."""
    key = _new_key()
    subject = _name(next(iter(dns_names), "127.0.0.1"))
    signing_key = issuer_key or key
    issuer_name = issuer_cert.subject if issuer_cert is not None else subject
    issuer_public = issuer_cert.public_key() if issuer_cert is not None else key.public_key()
    not_before, not_after = _validity()
    san = [x509.DNSName(name) for name in dns_names] + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False)
        .sign(signing_key, hashes.SHA256())
    )
    return cert, key


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> Path:
    # PKCS#8 ("BEGIN PRIVATE KEY"), unencrypted: what Python, curl and Java accept.
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


def make_ca_and_cert(
    directory,
    *,
    dns_names=DEFAULT_DNS_NAMES,
    ip_addresses=DEFAULT_IP_ADDRESSES,
    prefix: str = "",
) -> TLSFiles:
    """Write ``{prefix}ca.pem``, ``{prefix}server.pem``, ``{prefix}server-key.pem`` to directory.

    The server certificate is valid for ``dns_names`` and ``ip_addresses``
    (default: localhost and 127.0.0.1); add e.g. an AWS-looking host name for
    region-inference tests.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = _make_ca(f"es-s3-snapshot test CA {prefix}".strip())
    cert, key = _make_server_cert(ca_cert, ca_key, tuple(dns_names), tuple(ip_addresses))
    return TLSFiles(
        ca_cert=_write_cert(directory / f"{prefix}ca.pem", ca_cert),
        server_cert=_write_cert(directory / f"{prefix}server.pem", cert),
        server_key=_write_key(directory / f"{prefix}server-key.pem", key),
    )


def make_untrusted_cert(
    directory,
    *,
    self_signed: bool = False,
    dns_names=DEFAULT_DNS_NAMES,
    ip_addresses=DEFAULT_IP_ADDRESSES,
    prefix: str = "untrusted-",
) -> TLSFiles:
    """A server certificate for the same names that a client trusting only another CA must reject.

    By default it is issued by a fresh CA (``ca_cert`` of the result, which
    the test should NOT give to the client); with ``self_signed=True`` the
    certificate signs itself and ``ca_cert`` is the certificate itself.
    """
    if not self_signed:
        return make_ca_and_cert(directory, dns_names=dns_names, ip_addresses=ip_addresses, prefix=prefix)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = _make_server_cert(None, None, tuple(dns_names), tuple(ip_addresses))
    cert_path = _write_cert(directory / f"{prefix}server.pem", cert)
    return TLSFiles(
        ca_cert=cert_path,
        server_cert=cert_path,
        server_key=_write_key(directory / f"{prefix}server-key.pem", key),
    )


class TLSTerminatingProxy(RelayProxy):
    """HTTPS on a free 127.0.0.1 port, relaying to an HTTP (or HTTPS) node.

    ``url`` is ``https://127.0.0.1:PORT``; ``url_for_host("localhost")`` gives
    the DNS-name form.  ``handshake_failures`` counts clients that dropped the
    connection during the handshake (e.g. because they rejected the
    certificate).
    """

    def __init__(self, upstream_url: str, cert, key, *, upstream_timeout: float = 120.0) -> None:
        super().__init__(
            upstream_url,
            ssl_context=server_ssl_context(cert, key),
            upstream_timeout=upstream_timeout,
        )
