# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The HMAC keys derived from the suite's PII master key (coupon tokens,
plate QR codes): each purpose has its HKDF info, so its key is independent
of every other key derived from the same master."""
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ['KEY_SIZE', 'check_key', 'derive_key']

KEY_SIZE = 32  # bytes, HMAC-SHA256


def check_key(key, error):
    """Refuse a key that is not bytes (TypeError) or shorter than
    KEY_SIZE: error (a CodedError subclass) 'key_too_short'."""
    if not isinstance(key, (bytes, bytearray)):
        raise TypeError(f'key must be bytes, not {type(key).__name__}')
    if len(key) < KEY_SIZE:
        raise error('key_too_short',
            f"The key must be at least {KEY_SIZE} bytes.", {'size': KEY_SIZE})


def derive_key(master, info, error):
    "Return the KEY_SIZE-byte key of HKDF-SHA256(master, no salt, info)."
    check_key(master, error)
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None,
        info=info).derive(bytes(master))
