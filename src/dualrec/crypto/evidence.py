# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Evidence packages: a ready recording exported for offline verification.

A court, a regulator or a customer receives one ZIP file and checks it
without our database or servers.  This module imports nothing from Tryton
(only the standard library and ``cryptography``) so this single file is also
the verifier handed out with the packages::

    python evidence.py verify PACKAGE.zip --public-key FILE [--json]
    python evidence.py verify PACKAGE.zip --any-key     (integrity only)
    python evidence.py keygen PRIVATE_KEY.pem

A package of format 'dualrec-evidence/1' holds exactly these entries:

    README.txt      how to verify, in Chinese and English; a fixed text,
                    UTF-8 with a BOM and CRLF line ends for old Notepads
    manifest.json   the manifest as canonical_json() bytes (build_manifest
                    describes its fields); the bytes that are signed
    manifest.sig    the standard base64 of the 64-byte Ed25519 signature of
                    manifest.json, then one LF
    public_key.pem  the signer's public key: SubjectPublicKeyInfo PEM on
                    three LF-terminated lines, as public_key_pem() writes it
    recording.mp4   the recording, stored uncompressed (it already is)

The manifest lists the SHA-256 and size of README.txt and recording.mp4, and
manifest.sig and public_key.pem must be in their one canonical spelling, so
a change of any byte of any file fails the verification.  The ZIP container
itself (entry dates, order, compression, attributes) is not evidence and is
not checked.  A valid signature proves the package is intact and was signed
by the key it contains; that this key is the institution's is proven only by
comparing its fingerprint with the one the institution publishes (the
``trusted_public_key`` argument, ``--public-key`` on the command line).

Every refusal raises EvidenceError with a stable ``code``:

    bad_format      not a package of a known format: not a ZIP, an unsafe,
                    duplicate or encrypted entry, oversized or non-canonical
                    metadata, a manifest outside the schema; also any value
                    given to canonical_json or build_manifest that is not
                    allowed (``params['field']`` names it)
    bad_signature   manifest.sig is damaged or does not match manifest.json
                    and public_key.pem
    untrusted_key   the embedded key is not the trusted key given
    missing_file    an entry of the layout is missing
    extra_file      an entry not in the layout is present
    hash_mismatch   a file's size or SHA-256 differs from the manifest (at
                    verification, or when writing the package)
    unmasked_pii    build_manifest found what looks like a plaintext
                    identity or mobile number (callers pass masked values)
    key_format      a key is not a usable Ed25519 key
    key_missing     no signing key is configured

The institution's public key comes from the institution by a channel of
its own (its web site, a letter), or from its server at
``/<database>/dualrec/api/v1/evidence/public_key`` (PEM; the fingerprint in
the X-Dualrec-Key-Fingerprint header) when that server is trusted.

Command line exit status: 0 verified (by the trusted key given, or intact
and signed by any key with ``--any-key``), 1 verification failed, 2 usage
error or unreadable file, 3 intact but the signer was not checked: no
``--public-key`` nor ``--fingerprint`` was given, and no ``--any-key``.
"""
import argparse
import base64
import binascii
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import re
import sys
import tempfile
import zipfile
import zlib

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey, Ed25519PublicKey)

FORMAT = 'dualrec-evidence/1'
README_NAME = 'README.txt'
MANIFEST_NAME = 'manifest.json'
SIGNATURE_NAME = 'manifest.sig'
PUBLIC_KEY_NAME = 'public_key.pem'
MP4_NAME = 'recording.mp4'

ENV_KEY = 'DUALREC_EVIDENCE_KEY'
ENV_KEY_FILE = 'DUALREC_EVIDENCE_KEY_FILE'

CHUNK_SIZE = 1 << 20  # bytes read or written at a time
# Limits checked on the sizes the ZIP declares, before reading anything, so
# a crafted package cannot make the verifier inflate gigabytes.
MAX_ENTRIES = 64
MAX_MANIFEST_SIZE = 1 << 20  # bytes; 1,000 timeline nodes take ~150 KB
MAX_PUBLIC_KEY_SIZE = 1024  # bytes; the canonical PEM has 113
MAX_SIGNATURE_SIZE = 128  # bytes; the canonical file has 89

# DER header of an Ed25519 SubjectPublicKeyInfo (RFC 8410), followed by the
# 32-byte raw key.
_SPKI_PREFIX = bytes.fromhex('302a300506032b6570032100')


class EvidenceError(ValueError):
    """An evidence package, manifest or key was refused.

    ``code`` is a short stable identifier (listed in the module docstring)
    meant to select a translated message; ``params`` holds the values to
    format it with.  ``message`` is an untranslated English fallback.
    """

    def __init__(self, code, message, params=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.params = dict(params or {})

    def __str__(self):
        return self.message

    def __repr__(self):
        return f'{type(self).__name__}({self.code!r}, {self.message!r})'


def _field_error(field, reason):
    return EvidenceError('bad_format',
        f"The manifest field {field or '(root)'} {reason}.", {'field': field})


def _join(parent, key):
    return f'{parent}.{key}' if parent else str(key)


# ---------------------------------------------------------------------------
# A. Canonical JSON
# ---------------------------------------------------------------------------

def _check_json(value, field):
    if value is None or isinstance(value, (bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _field_error(field, "is NaN or infinite")
    elif isinstance(value, str):
        try:
            value.encode('utf-8')
        except UnicodeEncodeError:
            raise _field_error(field, "is not valid Unicode") from None
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_json(item, f'{field}[{index}]')
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _field_error(field, "has a key that is not a string")
            _check_json(key, field)
            _check_json(item, _join(field, key))
    else:
        raise _field_error(field, f"is a {type(value).__name__}, not a JSON "
            "value")


def canonical_json(obj):
    """Return the canonical UTF-8 bytes of ``obj``, the bytes that are signed.

    Keys are sorted by code point, there is no whitespace, non-ASCII text
    is written as UTF-8 (not as \\u escapes) and floats use Python's
    shortest round-trip form, so equal values always give the same bytes.
    Strings are not Unicode-normalized: 'é' and 'e' + U+0301 differ.
    Allowed values: dict with str keys, list, tuple (written as a list),
    str, int, float, bool and None.  NaN, infinities, lone surrogates and
    any other type raise EvidenceError('bad_format') naming the field.
    A verifier never needs to re-serialize: it checks the stored bytes.
    """
    _check_json(obj, '')
    return json.dumps(obj, sort_keys=True, separators=(',', ':'),
        ensure_ascii=False, allow_nan=False).encode('utf-8')


def _reject_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f'duplicate key {key!r}')
        result[key] = value
    return result


def _reject_constant(name):
    raise ValueError(f'{name} is not allowed')


def parse_manifest(data):
    """Return the manifest stored as ``data`` (bytes), checked.

    ``data`` must be exactly canonical_json of a manifest valid for
    check_manifest, otherwise EvidenceError('bad_format') is raised.
    """
    try:
        manifest = json.loads(data.decode('utf-8'),
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant)
    except ValueError as exception:  # also JSON and Unicode decode errors
        raise EvidenceError('bad_format',
            f"{MANIFEST_NAME} is not valid JSON: {exception}.") from None
    check_manifest(manifest)
    if canonical_json(manifest) != data:
        raise EvidenceError('bad_format',
            f"{MANIFEST_NAME} is not in canonical form.")
    return manifest


# ---------------------------------------------------------------------------
# B. Keys
# ---------------------------------------------------------------------------

def generate_signing_key():
    "Return a new Ed25519 private key as unencrypted PKCS#8 PEM text."
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode('ascii')


def load_signing_key(value, password=None):
    """Return the Ed25519 private key written in configuration ``value``.

    Accepted: PKCS#8 or OpenSSL PEM text (encrypted if ``password``, bytes,
    is given), or the standard or urlsafe base64, padded or not, of the
    32-byte seed.  Surrounding whitespace is ignored; bytes are read as
    ASCII.  The key belongs in the configuration or the environment, never
    in the database.  Anything else raises EvidenceError('key_format'); the
    message never echoes the value.
    """
    error = EvidenceError('key_format',
        "The signing key must be an Ed25519 private key in PEM or the "
        "base64 of its 32-byte seed.")
    try:
        text = (value.decode('ascii') if isinstance(value, bytes)
            else value).strip().encode('ascii')
    except (AttributeError, UnicodeError):
        raise error from None
    if text.startswith(b'-----BEGIN'):
        try:
            key = serialization.load_pem_private_key(text, password=password)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise error from None
        if not isinstance(key, Ed25519PrivateKey):
            raise error
        return key
    if not re.fullmatch(rb'[A-Za-z0-9+/_-]+={0,2}', text):
        raise error
    text = text.rstrip(b'=').replace(b'-', b'+').replace(b'_', b'/')
    try:
        seed = base64.b64decode(text + b'=' * (-len(text) % 4), validate=True)
    except (ValueError, binascii.Error):
        raise error from None
    if len(seed) != 32:
        raise error
    return Ed25519PrivateKey.from_private_bytes(seed)


def signing_key_from_environ(environ=None):
    """Return the signing key of the environment (default ``os.environ``).

    DUALREC_EVIDENCE_KEY holds the key as load_signing_key reads it, or
    DUALREC_EVIDENCE_KEY_FILE the path of a file holding it; setting both
    raises EvidenceError('key_format'), neither (or an unreadable file)
    EvidenceError('key_missing').
    """
    environ = os.environ if environ is None else environ
    value, path = environ.get(ENV_KEY), environ.get(ENV_KEY_FILE)
    if value and path:
        raise EvidenceError('key_format',
            f"Set {ENV_KEY} or {ENV_KEY_FILE}, not both.")
    if path:
        try:
            with open(path, 'rb') as file:
                value = file.read(64 * 1024)
        except OSError:
            raise EvidenceError('key_missing',
                f"The signing key file {path} cannot be read.",
                {'path': path}) from None
    if not value:
        raise EvidenceError('key_missing',
            f"No signing key: set {ENV_KEY} or {ENV_KEY_FILE}.")
    return load_signing_key(value)


def _public_key(key):
    if isinstance(key, Ed25519PrivateKey):
        return key.public_key()
    if isinstance(key, Ed25519PublicKey):
        return key
    raise TypeError(f'expected an Ed25519 key, not {type(key).__name__}')


def _raw_public_key(key):
    return _public_key(key).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_pem(key):
    """Return the canonical PEM bytes of the public half of ``key``.

    Three lines ending with LF: the BEGIN line, the 60-character base64 of
    the 44-byte DER SubjectPublicKeyInfo and the END line (113 bytes).
    """
    der = _SPKI_PREFIX + _raw_public_key(key)
    return (b'-----BEGIN PUBLIC KEY-----\n' + base64.b64encode(der)
        + b'\n-----END PUBLIC KEY-----\n')


def _fingerprint_hex(key):
    return hashlib.sha256(_raw_public_key(key)).hexdigest()


def public_key_fingerprint(key):
    """Return the fingerprint of an Ed25519 (public or private) key.

    The SHA-256 of the 32-byte raw public key in 64 upper-case hexadecimal
    digits grouped by 4 ('3F2A 9C1B …', 79 characters).  The same digest
    (lower-case, ungrouped) is printed by ``openssl pkey -pubin -in
    public_key.pem -outform DER | tail -c 32 | openssl dgst -sha256``.
    """
    digits = _fingerprint_hex(key).upper()
    return ' '.join(digits[i:i + 4] for i in range(0, len(digits), 4))


def _parse_public_key_pem(data):
    "Return the key of public_key.pem or None if not in canonical form."
    match = re.fullmatch(rb'-----BEGIN PUBLIC KEY-----\n([A-Za-z0-9+/]{59}=)'
        rb'\n-----END PUBLIC KEY-----\n', data)
    if not match:
        return None
    der = base64.b64decode(match.group(1))
    if len(der) != 44 or not der.startswith(_SPKI_PREFIX):
        return None
    try:
        key = Ed25519PublicKey.from_public_bytes(der[len(_SPKI_PREFIX):])
    except ValueError:
        return None
    # The last base64 character has unused bits: only one spelling passes.
    return key if public_key_pem(key) == data else None


def _trusted_fingerprint(value):
    """Return the hexadecimal fingerprint of a trusted key.

    ``value`` is an Ed25519 key object, PEM text or bytes of a public key,
    or a fingerprint: 64 hexadecimal digits, in any case, grouped by spaces
    or colons or not, optionally prefixed with 'SHA256:'.
    """
    if isinstance(value, (Ed25519PublicKey, Ed25519PrivateKey)):
        return _fingerprint_hex(value)
    error = EvidenceError('key_format',
        "The trusted key must be an Ed25519 public key in PEM or its "
        "SHA-256 fingerprint (64 hexadecimal digits).")
    try:
        text = (value.decode('ascii') if isinstance(value, bytes)
            else value).strip()
    except (AttributeError, UnicodeError):
        raise error from None
    if text.startswith('-----BEGIN'):
        try:
            key = serialization.load_pem_public_key(text.encode('ascii'))
        except (ValueError, UnicodeError, UnsupportedAlgorithm):
            raise error from None
        if not isinstance(key, Ed25519PublicKey):
            raise error
        return _fingerprint_hex(key)
    digits = re.sub(r'[\s:]', '', re.sub(r'(?i)^sha-?256:', '', text))
    if not re.fullmatch(r'[0-9A-Fa-f]{64}', digits):
        raise error
    return digits.lower()


# ---------------------------------------------------------------------------
# C. Manifest
# ---------------------------------------------------------------------------

README_TEXT = """\
双录证据包 / Dual-recording evidence package
============================================

本包包含 / Contents:
  recording.mp4   双录视频 / the sales recording
  manifest.json   清单：单号、产品、机构、销售人员、录制与上传时间、
                  各文件的 SHA-256 摘要等 / the manifest: ticket, product,
                  branch, salesperson, recording and upload times, the
                  SHA-256 digest of each file, ...
  manifest.sig    机构对 manifest.json 的 Ed25519 签名（Base64）/
                  the institution's Ed25519 signature of manifest.json
                  (base64)
  public_key.pem  签名公钥 / the public key that signed
  README.txt      本说明 / this note

如何验证 / How to verify
------------------------
1. 使用机构提供的验证程序 / With the verifier given by the institution:
     python evidence.py verify 证据包.zip --public-key 机构公钥.pem

2. 或使用 OpenSSL 3 手工验证 / Or by hand with OpenSSL 3, in the
   extracted folder:
   a. 签名 / Signature (must print "Signature Verified Successfully"):
        openssl base64 -d -A -in manifest.sig -out manifest.sig.bin
        openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin
                -in manifest.json -sigfile manifest.sig.bin
   b. 文件摘要须与 manifest.json 中 "files" 一致 / The digests must equal
      those under "files" in manifest.json:
        openssl dgst -sha256 recording.mp4 README.txt
   c. 公钥指纹须与机构公布的一致 / The key fingerprint must equal the one
      the institution publishes:
        openssl pkey -pubin -in public_key.pem -outform DER | tail -c 32
                | openssl dgst -sha256

签名有效只说明本包完整且由包内公钥签名；只有指纹与机构公布的一致，
才能证明签名者是该机构。任何字节被改动，以上某一步都会失败。
A valid signature proves only that the package is intact and signed by
the key it contains; the key is the institution's only if its fingerprint
equals the published one.  If any byte was changed, one step fails.
"""
README_BYTES = ('\ufeff' + README_TEXT.replace('\n', '\r\n')).encode('utf-8')
# Every README text released, by SHA-256.  A package may be written again
# later from a stored manifest and must then hold the README the manifest
# lists: add a new text here rather than editing a released one.
READMES = {hashlib.sha256(README_BYTES).hexdigest(): README_BYTES}

_TIMESTAMP_RE = re.compile(
    r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z', re.ASCII)


def _is_timestamp(value):
    if not isinstance(value, str) or not _TIMESTAMP_RE.fullmatch(value):
        return False
    try:
        dt.datetime.strptime(value[:19], '%Y-%m-%dT%H:%M:%S')
    except ValueError:
        return False
    return True


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) \
        and value >= 0


_CHECKS = {
    'text': (lambda v: isinstance(v, str) and bool(v.strip()),
        "must be a non-empty text"),
    'count': (_is_count, "must be an integer ≥ 0"),
    'number': (lambda v: (_is_count(v) or isinstance(v, float)) and v >= 0,
        "must be a number ≥ 0"),
    'time': (_is_timestamp,
        "must be a UTC time as YYYY-MM-DDTHH:MM:SS[.ffffff]Z"),
    'sha256': (lambda v: isinstance(v, str)
        and bool(re.fullmatch(r'[0-9a-f]{64}', v)),
        "must be 64 lower-case hexadecimal digits"),
    'format': (lambda v: v == FORMAT, f"must be {FORMAT!r}"),
    'object': (lambda v: isinstance(v, dict), "must be an object"),
    'details': (lambda v: isinstance(v, dict) and all(
            x is None or isinstance(x, (str, int, float))
            for x in v.values()),
        "must be an object of texts and numbers"),
    }
_DIGEST = {'sha256': 'sha256', 'size': 'count'}
_NODE = {
    'sequence': 'count', 'node': 'text',
    'started_at': 'time?', 'confirmed_at': 'time?',
    }
# A key ending with '?' may be null; every key must be present.
_SCHEMA = {
    'format': 'format',
    'created_at': 'time',
    'issuer': 'text?',
    'ticket': {
        'number': 'text', 'product': 'text', 'branch': 'text',
        'salesperson': 'text', 'details': 'details',
        },
    'recording': {
        'version': 'count', 'recorded_at': 'time', 'uploaded_at': 'time',
        'duration': 'number?', 'video_codec': 'text?',
        'audio_codec': 'text?', 'width': 'count?', 'height': 'count?',
        'device': 'text?', 'key_id': 'text?', 'original': _DIGEST,
        },
    'timeline': [_NODE],
    'pipeline': 'object',
    'files': {MP4_NAME: _DIGEST, README_NAME: _DIGEST},
    }


def _check_schema(value, schema, field):
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            raise _field_error(field, "must be an object")
        missing = sorted(schema.keys() - value.keys())
        if missing:
            raise _field_error(_join(field, missing[0]), "is missing")
        unknown = sorted(value.keys() - schema.keys())
        if unknown:
            raise _field_error(_join(field, unknown[0]), "is not allowed")
        for key, item in schema.items():
            _check_schema(value[key], item, _join(field, key))
    elif isinstance(schema, list):
        if not isinstance(value, list):
            raise _field_error(field, "must be a list")
        for index, item in enumerate(value):
            _check_schema(item, schema[0], f'{field}[{index}]')
    elif value is None:
        if not schema.endswith('?'):
            raise _field_error(field, "is missing")
    else:
        check, reason = _CHECKS[schema.rstrip('?')]
        if not check(value):
            raise _field_error(field, reason)


def check_manifest(manifest):
    """Raise EvidenceError('bad_format') unless ``manifest`` fits format 1.

    Every field of the schema (see build_manifest) must be present, with
    null only where optional, and no other field is allowed: a new field
    needs a new format.  The field is named in ``params['field']``.
    """
    _check_json(manifest, '')
    _check_schema(manifest, _SCHEMA, '')


def _timestamp(value):
    """Return a datetime as the manifest writes it, anything else as is.

    A naive datetime is taken as UTC, as Tryton stores timestamps; an
    aware one is converted.  Microseconds are written only when not zero.
    """
    if not isinstance(value, dt.datetime):
        return value
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.isoformat(
        timespec='microseconds' if value.microsecond else 'seconds') + 'Z'


def _lower(value):
    return value.lower() if isinstance(value, str) else value


# GB 11643-1999 check of 18-character identity numbers, as in pii.py, copied
# because this file must run alone.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_RE = re.compile(r'(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])', re.ASCII)
_MOBILE_RE = re.compile(
    r'(?<![0-9A-Za-z])(?:\+?86[- ]?)?1[3-9]\d{9}(?![0-9A-Za-z])', re.ASCII)


def _looks_unmasked(text):
    for match in _ID_RE.finditer(text):
        number = match.group().upper()
        total = sum(int(d) * w for d, w in zip(number, _ID_WEIGHTS))
        if '10X98765432'[total % 11] == number[17]:
            return True
    return bool(_MOBILE_RE.search(text))


def _check_masked(value, field):
    if isinstance(value, str):
        if _looks_unmasked(value):
            raise EvidenceError('unmasked_pii',
                f"The manifest field {field} looks like it holds an "
                "unmasked identity or mobile number; pass masked values.",
                {'field': field})
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_masked(item, _join(field, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_masked(item, f'{field}[{index}]')


def build_manifest(*, ticket_number, product, branch, salesperson,
        recorded_at, uploaded_at, mp4_sha256, mp4_size, original_sha256,
        original_size, timeline=(), duration=None, video_codec=None,
        audio_codec=None, width=None, height=None, recording_version=1,
        device=None, key_id=None, pipeline=None, details=None, issuer=None,
        created_at=None):
    """Return the manifest of a recording, a dict ready to sign.

    Texts (``ticket_number``, ``product``, ``branch``, ``salesperson``,
    ``issuer``, ``device``, ``key_id``, codecs) are written as given:
    pass display names, and masked values for personal data.
    ``details`` is a flat dict of further ticket facts (e.g. the masked
    policyholder name and ID number); ``pipeline`` any JSON object of the
    processing settings (ffmpeg version, CRF, target bitrate, ...).
    Times are datetimes (naive ones are UTC) or strings already as
    'YYYY-MM-DDTHH:MM:SSZ'; ``created_at`` defaults to now, to the second.
    ``timeline`` is a sequence of mappings with 'sequence' (int), 'node'
    (text) and optional 'started_at' and 'confirmed_at'.  Digests are
    SHA-256 in hexadecimal, sizes in bytes, ``duration`` in seconds and
    ``width`` and ``height`` in pixels; ``key_id`` names the storage key
    that encrypts the recording at rest.

    The result also lists README.txt's digest under 'files'.  An invalid
    value raises EvidenceError('bad_format') naming the field, a text in
    ``details``, ``timeline``, ``pipeline`` or the ticket that looks like
    a plaintext resident ID (valid check digit) or mainland mobile number
    raises EvidenceError('unmasked_pii'); names cannot be checked.
    """
    if created_at is None:
        created_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    nodes = []
    for index, node in enumerate(timeline):
        node = dict(node)
        unknown = sorted(node.keys() - _NODE.keys())
        if unknown:
            raise _field_error(f'timeline[{index}].{unknown[0]}',
                "is not allowed")
        nodes.append({key: _timestamp(node.get(key)) for key in _NODE})
    manifest = {
        'format': FORMAT,
        'created_at': _timestamp(created_at),
        'issuer': issuer,
        'ticket': {
            'number': ticket_number,
            'product': product,
            'branch': branch,
            'salesperson': salesperson,
            'details': dict(details or {}),
            },
        'recording': {
            'version': recording_version,
            'recorded_at': _timestamp(recorded_at),
            'uploaded_at': _timestamp(uploaded_at),
            'duration': duration,
            'video_codec': video_codec,
            'audio_codec': audio_codec,
            'width': width,
            'height': height,
            'device': device,
            'key_id': key_id,
            'original': {
                'sha256': _lower(original_sha256), 'size': original_size},
            },
        'timeline': nodes,
        'pipeline': dict(pipeline or {}),
        'files': {
            MP4_NAME: {'sha256': _lower(mp4_sha256), 'size': mp4_size},
            README_NAME: {
                'sha256': hashlib.sha256(README_BYTES).hexdigest(),
                'size': len(README_BYTES),
                },
            },
        }
    check_manifest(manifest)
    for key in ['issuer', 'ticket', 'timeline', 'pipeline']:
        _check_masked(manifest[key], key)
    _check_masked(device, 'recording.device')
    return manifest


def sign_manifest(manifest, private_key):
    """Return the 64-byte Ed25519 signature of canonical_json(manifest).

    The manifest is checked first (EvidenceError('bad_format')).
    """
    if not isinstance(private_key, Ed25519PrivateKey):
        raise TypeError('private_key must be an Ed25519PrivateKey')
    check_manifest(manifest)
    return private_key.sign(canonical_json(manifest))


# ---------------------------------------------------------------------------
# D. Writing
# ---------------------------------------------------------------------------

def _mismatch(name, expected, size, sha256=None):
    what = f"SHA-256 {sha256}" if sha256 else f"{size} bytes"
    return EvidenceError('hash_mismatch',
        f"{name} does not match the manifest: {what} instead of "
        f"{expected['sha256'] if sha256 else expected['size']}.",
        {'file': name, 'size': size, 'sha256': sha256,
            'expected_size': expected['size'],
            'expected_sha256': expected['sha256']})


def _chunks(source):
    if isinstance(source, (str, os.PathLike)):
        with open(source, 'rb') as file:
            yield from iter(lambda: file.read(CHUNK_SIZE), b'')
    elif hasattr(source, 'read'):
        yield from iter(lambda: source.read(CHUNK_SIZE), b'')
    else:
        for chunk in source:
            if not isinstance(chunk, (bytes, bytearray, memoryview)):
                raise TypeError(
                    f'chunks must be bytes, not {type(chunk).__name__}')
            yield chunk


def _zip_info(name, created_at, compress_type):
    date_time = dt.datetime.strptime(created_at[:19], '%Y-%m-%dT%H:%M:%S')
    info = zipfile.ZipInfo(name, max(date_time.timetuple()[:6],
            (1980, 1, 1, 0, 0, 0)))
    info.compress_type = compress_type
    info.create_system = 3  # Unix, whatever the writing system
    info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
    return info


def _write_zip(file, mp4_source, manifest, signature, public_pem, readme):
    created_at = manifest['created_at']
    expected = manifest['files'][MP4_NAME]
    with zipfile.ZipFile(file, 'w') as package:
        for name, data in [
                (README_NAME, readme),
                (MANIFEST_NAME, canonical_json(manifest)),
                (SIGNATURE_NAME, base64.b64encode(signature) + b'\n'),
                (PUBLIC_KEY_NAME, public_pem),
                ]:
            package.writestr(
                _zip_info(name, created_at, zipfile.ZIP_DEFLATED), data)
        info = _zip_info(MP4_NAME, created_at, zipfile.ZIP_STORED)
        # The size announced up front makes zipfile use ZIP64 when needed.
        info.file_size = expected['size']
        digest, size = hashlib.sha256(), 0
        with package.open(info, 'w') as entry:
            for chunk in _chunks(mp4_source):
                size += memoryview(chunk).nbytes
                if size > expected['size']:
                    raise _mismatch(MP4_NAME, expected, size)
                digest.update(chunk)
                entry.write(chunk)
        if size != expected['size']:
            raise _mismatch(MP4_NAME, expected, size)
        if digest.hexdigest() != expected['sha256']:
            raise _mismatch(MP4_NAME, expected, size, digest.hexdigest())


def write_package(target, mp4_source, manifest, private_key):
    """Write the evidence package of ``manifest`` and return its signature.

    ``target`` is a path or a binary file object (seekable or not).
    ``mp4_source`` is a path, a binary file object or an iterable of bytes
    chunks (e.g. decrypted on the fly from the store): it is streamed into
    the package, never held in memory, and its SHA-256 and size computed
    on the way must equal the manifest's 'recording.mp4' entry, otherwise
    EvidenceError('hash_mismatch') is raised.  A path target is written to
    a temporary file in the same directory (mode 0600) and renamed only
    once complete, so it never holds a partial package; a file object
    holds garbage after an error and must be discarded.
    Returns the raw 64-byte signature (manifest.sig holds its base64).
    """
    if isinstance(mp4_source, (bytes, bytearray, memoryview)):
        # bytes would also be a valid path: refuse the ambiguity.
        raise TypeError('mp4_source must be a path, a file or an iterable '
            'of chunks; wrap in-memory content in a list')
    signature = sign_manifest(manifest, private_key)
    expected = manifest['files'][README_NAME]
    readme = READMES.get(expected['sha256'], README_BYTES)
    if len(readme) != expected['size'] or (
            hashlib.sha256(readme).hexdigest() != expected['sha256']):
        raise _mismatch(README_NAME, expected, len(readme),
            hashlib.sha256(readme).hexdigest())
    public_pem = public_key_pem(private_key)
    if not isinstance(target, (str, os.PathLike)):
        _write_zip(target, mp4_source, manifest, signature, public_pem,
            readme)
        return signature
    directory = os.path.dirname(os.path.abspath(target))
    fd, temporary = tempfile.mkstemp(
        prefix='.evidence-', suffix='.part', dir=directory)
    try:
        with os.fdopen(fd, 'w+b') as file:
            _write_zip(file, mp4_source, manifest, signature, public_pem,
                readme)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return signature


# ---------------------------------------------------------------------------
# E. Verification
# ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class FileCheck:
    "A file of the package whose size (bytes) and SHA-256 match the manifest."
    name: str
    size: int
    sha256: str


@dataclasses.dataclass(frozen=True)
class Verification:
    """What a package proves; only returned when every check passed.

    The signature of manifest.json by the embedded key is valid, every
    file listed in the manifest is present with its size and SHA-256, and
    the package holds no other entry.  ``fingerprint`` is the embedded
    key's (grouped, see public_key_fingerprint); ``trusted`` is True when
    it is the trusted key given, None when no trusted key was given (the
    signer is then unproven).
    """
    manifest: dict
    fingerprint: str
    trusted: bool | None
    files: tuple

    def as_dict(self):
        "Return the result as JSON-able data."
        return {
            'ok': True,
            'format': self.manifest['format'],
            'signature': 'valid',
            'signer_fingerprint': self.fingerprint,
            'trusted_key': {True: 'match', None: 'not_given'}[self.trusted],
            'files': [dataclasses.asdict(f) for f in self.files],
            'extra_files': [],
            'manifest': self.manifest,
            }


# What zipfile raises on a damaged archive: besides BadZipFile, offsets
# pointing outside the file give ValueError (negative seek) or OSError.
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError)


def _unsafe_name(name):
    parts = name.removesuffix('/').split('/')
    return (not name or '\\' in name or name.startswith('/')
        or re.match(r'[A-Za-z]:', name)
        or any(part in ('', '.', '..') for part in parts)
        or any(ord(c) < 32 or c == '\x7f' for c in name))


def _entries(package):
    "Return the entries of the package by name, refusing unsafe ones."
    infos = package.infolist()
    if len(infos) > MAX_ENTRIES:
        raise EvidenceError('bad_format',
            f"The package has {len(infos)} entries, more than "
            f"{MAX_ENTRIES}.", {'count': len(infos)})
    entries = {}
    for info in infos:
        name = info.orig_filename
        if _unsafe_name(name) or name != info.filename:
            raise EvidenceError('bad_format',
                f"The package has an entry with an unsafe path {name!r}.",
                {'name': name})
        if name in entries:
            raise EvidenceError('bad_format',
                f"The package has two entries named {name!r}.",
                {'name': name})
        if info.flag_bits & 0x1 or info.compress_type not in (
                zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise EvidenceError('bad_format',
                f"The entry {name!r} is encrypted or compressed with an "
                "unsupported method.", {'name': name})
        entries[name] = info
    return entries


def _missing(name):
    return EvidenceError('missing_file',
        f"The package has no {name}.", {'file': name})


def _read_small(package, info, limit, code):
    "Return the content of a metadata entry; ``code`` if it is damaged."
    if info.file_size > limit:
        raise EvidenceError('bad_format',
            f"{info.filename} is larger than {limit} bytes.",
            {'file': info.filename, 'size': info.file_size})
    try:
        with package.open(info) as entry:
            return entry.read(limit)
    except _DAMAGED as exception:
        raise EvidenceError(code, f"{info.filename} is damaged: {exception}.",
            {'file': info.filename}) from None


def _check_file(package, info, expected):
    name = info.filename
    # Checked on the declared size before reading: no inflating bombs.
    if info.file_size != expected['size']:
        raise _mismatch(name, expected, info.file_size)
    digest, size = hashlib.sha256(), 0
    try:
        with package.open(info) as entry:
            for chunk in iter(lambda: entry.read(CHUNK_SIZE), b''):
                size += len(chunk)
                if size > expected['size']:
                    raise _mismatch(name, expected, size)
                digest.update(chunk)
    except EvidenceError:  # a ValueError too, but not a damaged archive
        raise
    except _DAMAGED as exception:
        raise EvidenceError('hash_mismatch',
            f"{name} is damaged: {exception}.", {'file': name}) from None
    if size != expected['size']:
        raise _mismatch(name, expected, size)
    if digest.hexdigest() != expected['sha256']:
        raise _mismatch(name, expected, size, digest.hexdigest())
    return FileCheck(name, size, expected['sha256'])


def verify_package(package, trusted_public_key=None):
    """Verify the evidence package ``package`` (path or binary file).

    ``trusted_public_key`` is the institution's key obtained by another
    channel: an Ed25519 key, PEM text or bytes, or a fingerprint (see
    public_key_fingerprint; hexadecimal, spaces and colons ignored); an
    unreadable one raises EvidenceError('key_format').  Return a
    Verification or raise EvidenceError with the first failure, checked
    in this order: the container and entry names ('bad_format'), the
    metadata files are present ('missing_file'), the signature file
    ('bad_signature') and key ('bad_format') are well formed, the key is
    the trusted one ('untrusted_key'), the signature is valid
    ('bad_signature'), the manifest is canonical and in the schema
    ('bad_format'), its files are present ('missing_file') and nothing
    else is ('extra_file'), and each file has its size and SHA-256
    ('hash_mismatch').  A package file that cannot be opened raises
    OSError.
    """
    trusted = (None if trusted_public_key is None
        else _trusted_fingerprint(trusted_public_key))
    if isinstance(package, (str, os.PathLike)):
        with open(package, 'rb') as file:
            return _verify(file, trusted)
    return _verify(package, trusted)


def _verify(file, trusted):
    try:
        archive = zipfile.ZipFile(file)
    except _DAMAGED as exception:
        raise EvidenceError('bad_format',
            f"The package is not a valid ZIP file: {exception}.") from None
    with archive:
        entries = _entries(archive)
        for name in (MANIFEST_NAME, SIGNATURE_NAME, PUBLIC_KEY_NAME):
            if name not in entries:
                raise _missing(name)
        text = _read_small(archive, entries[SIGNATURE_NAME],
            MAX_SIGNATURE_SIZE, 'bad_signature')
        signature = None
        if re.fullmatch(rb'[A-Za-z0-9+/]{86}==\n', text):
            signature = base64.b64decode(text)
            if base64.b64encode(signature) + b'\n' != text:
                signature = None
        if signature is None:
            raise EvidenceError('bad_signature',
                f"{SIGNATURE_NAME} is not the base64 of a 64-byte "
                "signature.")
        public_key = _parse_public_key_pem(_read_small(archive,
                entries[PUBLIC_KEY_NAME], MAX_PUBLIC_KEY_SIZE, 'bad_format'))
        if public_key is None:
            raise EvidenceError('bad_format',
                f"{PUBLIC_KEY_NAME} is not an Ed25519 public key in "
                "canonical PEM.")
        fingerprint = public_key_fingerprint(public_key)
        if trusted is not None and _fingerprint_hex(public_key) != trusted:
            raise EvidenceError('untrusted_key',
                f"The package was signed by the key {fingerprint}, not by "
                "the trusted key.", {'fingerprint': fingerprint})
        data = _read_small(archive, entries[MANIFEST_NAME],
            MAX_MANIFEST_SIZE, 'bad_signature')
        try:
            public_key.verify(signature, data)
        except InvalidSignature:
            raise EvidenceError('bad_signature',
                f"The signature does not match {MANIFEST_NAME} and "
                f"{PUBLIC_KEY_NAME}.", {'fingerprint': fingerprint}) from None
        manifest = parse_manifest(data)
        files = manifest['files']
        for name in sorted(files):
            if name not in entries:
                raise _missing(name)
        extra = sorted(entries.keys()
            - {MANIFEST_NAME, SIGNATURE_NAME, PUBLIC_KEY_NAME} - files.keys())
        if extra:
            raise EvidenceError('extra_file',
                f"The package holds files it should not: {', '.join(extra)}.",
                {'files': extra})
        checks = tuple(_check_file(archive, entries[name], files[name])
            for name in sorted(files))
    return Verification(manifest, fingerprint,
        True if trusted is not None else None, checks)


# ---------------------------------------------------------------------------
# F. Command line
# ---------------------------------------------------------------------------

def _show_time(value):
    "Return a manifest time in UTC and in Beijing time (UTC+8, no DST)."
    if value is None:
        return '-'
    moment = dt.datetime.strptime(value[:19], '%Y-%m-%dT%H:%M:%S')
    beijing = moment + dt.timedelta(hours=8)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC (北京时间 {beijing:%Y-%m-%d %H:%M:%S})"


def _report(result):
    manifest = result.manifest
    ticket, recording = manifest['ticket'], manifest['recording']
    codecs = ' / '.join(c for c in [
            recording['video_codec'], recording['audio_codec']] if c)
    size = (f"{recording['width']}x{recording['height']}"
        if recording['width'] and recording['height'] else '')
    rows = [
        ("Ticket", "双录单号", ticket['number']),
        ("Product", "产品", ticket['product']),
        ("Branch", "机构", ticket['branch']),
        ("Salesperson", "销售人员", ticket['salesperson']),
        *((key, None, value) for key, value in ticket['details'].items()),
        ("Recorded at", "录制时间", _show_time(recording['recorded_at'])),
        ("Uploaded at", "上传时间", _show_time(recording['uploaded_at'])),
        ("Duration", "时长", '-' if recording['duration'] is None
            else f"{recording['duration']} s"),
        ("Video", "视频", ' '.join(x for x in [codecs, size] if x) or '-'),
        ("Original upload SHA-256", "原始上传文件摘要",
            f"{recording['original']['sha256']} "
            f"({recording['original']['size']} bytes)"),
        ("Issuer", "出具机构", manifest['issuer'] or '-'),
        ("Package created", "生成时间", _show_time(manifest['created_at'])),
        ]
    lines = [
        "VERIFIED 验证通过" if result.trusted else
        "INTEGRITY ONLY 仅校验完整性",
        "The signature is valid and every file is intact and listed; "
        "nothing was added.",
        "签名有效，所有文件完整且与清单一致，无多余文件。",
        ]
    if not result.trusted:
        lines += [INTEGRITY_ONLY, INTEGRITY_ONLY_ZH]
    lines.append("")
    lines += [f"{en}{f' ({zh})' if zh else ''}: {value}"
        for en, zh, value in rows]
    lines.append("Timeline (环节): started 开始 / confirmed 确认")
    lines += [f"  {node['sequence']}. {node['node']}: "
        f"{_show_time(node['started_at'])} / "
        f"{_show_time(node['confirmed_at'])}"
        for node in manifest['timeline']]
    lines.append("Files (文件):")
    lines += [f"  {f.name}  {f.size} bytes  SHA-256 {f.sha256}"
        for f in result.files]
    lines.append(f"Signer key fingerprint (签名公钥指纹): {result.fingerprint}")
    if result.trusted:
        lines.append("Trusted key (可信公钥): MATCHES the trusted key given "
            "与指定的可信公钥一致")
    else:
        lines += [
            "Trusted key (可信公钥): NOT CHECKED 未核对",
            "  Compare the fingerprint above with the one the institution "
            "publishes, or pass --public-key.",
            "  请将上述指纹与机构公布的指纹核对，或使用 --public-key 参数。",
            ]
    return '\n'.join(lines)


INTEGRITY_ONLY = ("integrity only: the signer was not checked against the "
    "institution's key")
INTEGRITY_ONLY_ZH = "仅校验了完整性：未核对签名者是否为机构的公钥"
EXIT_INTEGRITY_ONLY = 3


def _verify_command(args):
    trusted = None
    if args.public_key:
        try:
            with open(args.public_key, 'rb') as file:
                trusted = file.read(64 * 1024)
        except OSError as exception:
            print(f"error: {exception}", file=sys.stderr)
            return 2
    elif args.fingerprint:
        trusted = args.fingerprint
    try:
        result = verify_package(args.package, trusted_public_key=trusted)
    except OSError as exception:
        print(f"error: {exception}", file=sys.stderr)
        return 2
    except EvidenceError as error:
        if error.code == 'key_format':
            print(f"error: {error.message}", file=sys.stderr)
            return 2
        if args.json:
            print(json.dumps({'ok': False, 'code': error.code,
                        'message': error.message, 'params': error.params},
                    sort_keys=True, indent=2))
        else:
            print(f"NOT VERIFIED 验证失败 [{error.code}]\n{error.message}")
        return 1
    if args.json:
        report = result.as_dict()
        if not result.trusted:
            report['integrity_only'] = INTEGRITY_ONLY
        print(json.dumps(report, sort_keys=True, indent=2))
    else:
        print(_report(result))
    if not result.trusted and not args.any_key:
        print(f"{INTEGRITY_ONLY}: pass --public-key (or --fingerprint) "
            "with the institution's key, or --any-key to accept any "
            "signer.", file=sys.stderr)
        return EXIT_INTEGRITY_ONLY
    return 0


def _keygen_command(args):
    pem = generate_signing_key()
    flags = os.O_WRONLY | os.O_CREAT | (
        os.O_TRUNC if args.force else os.O_EXCL)
    try:
        fd = os.open(args.output, flags, 0o600)
        # O_CREAT's mode does not apply to a file that already exists.
        os.chmod(args.output, 0o600)
        with os.fdopen(fd, 'w', encoding='ascii') as file:
            file.write(pem)
    except FileExistsError:
        print(f"error: {args.output} exists; use --force to replace it.",
            file=sys.stderr)
        return 2
    except OSError as exception:
        print(f"error: {exception}", file=sys.stderr)
        return 2
    key = load_signing_key(pem)
    print(f"Private key written to {args.output} (mode 0600): keep it "
        "secret, in the configuration, never in the database.")
    print(f"Public key fingerprint (公钥指纹): {public_key_fingerprint(key)}")
    print(public_key_pem(key).decode('ascii'), end='')
    return 0


def main(argv=None):
    "Run the command line; return the exit status."
    parser = argparse.ArgumentParser(prog='evidence',
        description="Verify dual-recording evidence packages or create "
        "their signing key.")
    commands = parser.add_subparsers(dest='command', required=True)
    verify = commands.add_parser('verify', help="verify a package",
        description="Exit status: 0 verified, 1 not verified, 2 error, "
        "3 intact but the signer not checked (no --public-key, "
        "--fingerprint nor --any-key).")
    verify.add_argument('package', help="the package ZIP file")
    trust = verify.add_mutually_exclusive_group()
    trust.add_argument('--public-key', metavar='FILE',
        help="the institution's public key (PEM) or a file holding its "
        "fingerprint")
    trust.add_argument('--fingerprint',
        help="the institution's key fingerprint (64 hexadecimal digits)")
    trust.add_argument('--any-key', action='store_true',
        help="accept a package signed by any key: check its integrity "
        "only, not that the institution signed it")
    verify.add_argument('--json', action='store_true',
        help="print the result as JSON")
    keygen = commands.add_parser('keygen', help="create a signing key")
    keygen.add_argument('output', help="the private key PEM file to write")
    keygen.add_argument('--force', action='store_true',
        help="overwrite an existing file")
    args = parser.parse_args(argv)
    # A console that cannot show Chinese must not hide the verdict.
    if hasattr(sys.stdout, 'reconfigure'):
        sys.stdout.reconfigure(errors='replace')
    if args.command == 'verify':
        return _verify_command(args)
    return _keygen_command(args)


if __name__ == '__main__':
    sys.exit(main())
