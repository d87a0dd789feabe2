# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The self-signed certificate that serves the recorder over a LAN."""
import ipaddress
import ssl
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from cryptography import x509

from .server import ROOT


class CertificateTestCase(unittest.TestCase):
    "Test scripts/make_cert.py"

    def test_certificate_for_lan_names(self):
        "The certificate names the LAN address and host; the key is private"
        with tempfile.TemporaryDirectory() as directory:
            subprocess.run([sys.executable,
                    str(ROOT / 'scripts' / 'make_cert.py'), '--out',
                    directory, '192.168.1.20', 'counter.lan'],
                check=True, capture_output=True)
            cert = Path(directory, 'cert.pem')
            key = Path(directory, 'key.pem')
            certificate = x509.load_pem_x509_certificate(cert.read_bytes())
            names = certificate.extensions.get_extension_for_class(
                x509.SubjectAlternativeName).value
            self.assertEqual(names.get_values_for_type(x509.IPAddress),
                [ipaddress.ip_address('192.168.1.20')])
            self.assertEqual(names.get_values_for_type(x509.DNSName),
                ['counter.lan'])
            self.assertEqual(key.stat().st_mode & 0o077, 0)
            # what the server loads: the pair must match
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)


if __name__ == '__main__':
    unittest.main()
