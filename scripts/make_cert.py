#!/usr/bin/env python3
# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Make a self-signed TLS certificate for serving the suite over a LAN.

    .venv/bin/python scripts/make_cert.py [--out var/tls] HOST_OR_IP...

Browsers give the camera and the microphone only to secure pages: https, or
http on localhost.  A counter PC or a phone reaching the server by its LAN
address needs https; this writes cert.pem and key.pem (ECDSA P-256, valid
825 days, readable by the owner only) for the names and addresses given.
Each device must trust cert.pem once (import it as a trusted certificate),
or the site of a real certificate authority is used instead.
"""
import argparse
import datetime as dt
import ipaddress
import os
import socket
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def subject_names(hosts):
    names = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def make(hosts, days=825):
    "Return (certificate PEM, private key PEM) for hosts."
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
            x509.NameAttribute(NameOID.COMMON_NAME, hosts[0]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'dualrec suite'),
            ])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(subject_names(hosts)),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0),
            critical=True)
        .add_extension(x509.ExtendedKeyUsage(
                [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256()))
    return (certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))


def default_hosts():
    "This machine's name, its LAN address and localhost."
    hosts = [socket.gethostname(), 'localhost', '127.0.0.1']
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(('192.0.2.1', 9))   # no packet is sent
            hosts.insert(1, probe.getsockname()[0])
    except OSError:
        pass
    return list(dict.fromkeys(hosts))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('hosts', nargs='*',
        help="names and addresses the devices use (default: this machine)")
    parser.add_argument('--out', default='var/tls')
    args = parser.parse_args()
    hosts = args.hosts or default_hosts()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    certificate, key = make(hosts)
    (out / 'cert.pem').write_bytes(certificate)
    fd = os.open(out / 'key.pem', os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
        0o600)
    with os.fdopen(fd, 'wb') as file:
        file.write(key)
    print(f"{out / 'cert.pem'} and {out / 'key.pem'} for {', '.join(hosts)}")


if __name__ == '__main__':
    main()
