# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Envelope encryption of recorded media files at rest.

This module needs no database and imports nothing from Tryton.  Each file
gets a random 256-bit data key; the media is cut into fixed-size plaintext
chunks, each sealed with AES-256-GCM under the data key, and the data key is
wrapped (AES-256-GCM) by a master key of the ``Keyring`` named by a short
key id.  Master keys come from the configuration or the environment, never
from the database.  Every refusal raises EnvelopeError whose ``code`` is a
short stable string; ``params`` never holds key material.

File layout (integers big-endian, HEADER_SIZE = 136 bytes)::

    offset size  field
         0    8  magic b'\\x89DRE\\r\\n\\x1a\\n'
         8    1  format version (1)
         9    3  reserved, zero
        12    4  chunk size: plaintext bytes per chunk
        16    8  plaintext size
        24   16  file id, random
      ---- the 40 bytes above are the "file part"
        40    1  key id length n (1 to 32)
        41    3  reserved, zero
        44   32  key id: n ASCII bytes then zeros
        76   12  wrap nonce, random
        88   48  wrapped data key: AES-256-GCM of the 32-byte data key under
                 the wrap key of the master key, associated data bytes 0-75
       136       chunk 0, chunk 1, ... chunk count - 1

Chunk i is AES-256-GCM(data key, nonce, plaintext, associated data) with
nonce = i on 11 bytes + 1 if it is the last chunk else 0 and associated data
= the file part: its length is its plaintext length + 16 (the tag).  All
chunks are full but the last; an empty file has one empty last chunk, so a
file always has max(1, ceil(size / chunk size)) chunks.

What this detects: a changed header byte (the wrap authenticates the whole
header and every chunk the file part), reordered chunks (index in the
nonce), a chunk from another file (other data key), a removed last chunk or
appended data (file length fixed by the authenticated plaintext size, and
the last-chunk flag in the nonce).  The chunks do not depend on the key id
or wrapped key, so ``rewrap`` changes the master key by rewriting only the
header; the media chunks are copied unchanged.

``ChunkSealer`` writes the same format piece by piece, in any order, for a
plaintext of known size that arrives in parts (the upload store), and
``digest_file`` checks such a file without writing its plaintext anywhere.
"""
import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import struct
import sys
import tempfile
import time
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import CodedError
from ..pii import PIIError, load_master_key

MAGIC = b'\x89DRE\r\n\x1a\n'
VERSION = 1
KEY_SIZE = 32  # bytes: master keys and data keys, AES-256
NONCE_SIZE = 12
TAG_SIZE = 16
KEY_ID_MAX = 32
DEFAULT_CHUNK_SIZE = 1024 * 1024
MAX_CHUNK_SIZE = 64 * 1024 * 1024

# The environment variables read by Keyring.from_env.
KEYS_ENV = 'DUALREC_MEDIA_KEYS'
ACTIVE_ENV = 'DUALREC_MEDIA_KEY_ACTIVE'

# The master key is not used as is: a wrap key is derived with this label so
# the same secret configured for another purpose (e.g. the PII key) still
# yields independent keys.
WRAP_INFO = b'dualrec media envelope wrap key v1'

_FILE_PART = struct.Struct('>8sB3sIQ16s')
_KEY_PART = struct.Struct('>B3s32s')
_HEADER = struct.Struct('>8sB3sIQ16sB3s32s12s48s')
HEADER_SIZE = _HEADER.size
FILE_PART_SIZE = _FILE_PART.size
_WRAP_AD_SIZE = _FILE_PART.size + _KEY_PART.size
_KEY_ID_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9._-]{0,31}', re.ASCII)

# Streaming works on slots of whole chunks: reading, hashing, sealing and
# writing of successive slots overlap in threads (hashlib, the AEAD and file
# I/O release the GIL), and memory stays about SLOTS * 2 * max(SLOT_BYTES,
# chunk size) whatever the file size.  Bigger slots were measured no faster.
SLOT_BYTES = 1024 * 1024
SLOTS = 3
COPY_BYTES = 1024 * 1024

MB = 1000 * 1000


class EnvelopeError(CodedError):
    """An encrypted file or a master key was refused.

    ``code`` is a short stable identifier meant to select a translated
    message: 'no_key', 'bad_key', 'bad_key_id', 'duplicate_key',
    'unknown_key', 'bad_format', 'truncated', 'tampered', 'bad_range',
    'source_changed'.  ``params`` holds the values to format it with, never
    key material.  ``message`` is an untranslated English fallback.
    """


# ---------------------------------------------------------------------------
# Keyring
# ---------------------------------------------------------------------------

def check_key_id(key_id):
    "Raise EnvelopeError('bad_key_id') unless key_id is a valid key id."
    if not isinstance(key_id, str) or not _KEY_ID_RE.fullmatch(key_id):
        raise EnvelopeError('bad_key_id',
            "A key id must be 1 to 32 letters, digits, '.', '_' or '-', "
            "starting with a letter or a digit.", {'key_id': str(key_id)})


def decode_key(value, key_id=None):
    """Return the 32 bytes of a master key written as text.

    Accepted spellings: 64 hexadecimal characters, or standard or urlsafe
    base64, padded or not, of exactly 32 bytes.  Anything else raises
    EnvelopeError('bad_key'); the message never echoes the value.
    """
    error = EnvelopeError('bad_key',
        f"The media master key {key_id or ''} must be 64 hexadecimal "
        f"characters or the base64 of {KEY_SIZE} bytes.",
        {'key_id': key_id, 'size': KEY_SIZE})
    try:
        key = load_master_key(value)
    except PIIError:
        raise error from None
    if len(key) != KEY_SIZE:
        raise error
    return key


def _derive_wrap_key(master):
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None,
        info=WRAP_INFO).derive(master)


class Keyring:
    """The master keys: several to decrypt, one active to encrypt.

    ``keys`` is a mapping or an iterable of (key id, 32 bytes) pairs;
    ``active`` the id of the key used by encrypt_file and rewrap, by default
    the first one.  Build it from the configuration with from_string or
    from_env: master keys never come from the database.
    """

    def __init__(self, keys, active=None):
        if hasattr(keys, 'items'):
            keys = keys.items()
        self._wrappers = {}
        for key_id, key in keys:
            check_key_id(key_id)
            if key_id in self._wrappers:
                raise EnvelopeError('duplicate_key',
                    f"The master key {key_id} is given twice.",
                    {'key_id': key_id})
            if (not isinstance(key, (bytes, bytearray))
                    or len(key) != KEY_SIZE):
                raise EnvelopeError('bad_key',
                    f"The master key {key_id} must be {KEY_SIZE} bytes.",
                    {'key_id': key_id, 'size': KEY_SIZE})
            self._wrappers[key_id] = AESGCM(_derive_wrap_key(bytes(key)))
        if not self._wrappers:
            raise EnvelopeError('no_key', "No media master key is set.")
        if active is None:
            active = next(iter(self._wrappers))
        self._wrapper(active)
        self._active = active

    @classmethod
    def from_string(cls, spec, active=None):
        """Return the keyring described by ``spec``.

        ``spec`` is 'key_id:key' entries separated by commas or whitespace,
        e.g. 'k2026:BASE64KEY,k2025:BASE64KEY', each key spelled as
        decode_key accepts.  The active key is ``active`` or else the first
        entry.  Empty entries (a trailing comma) are ignored.
        """
        if not isinstance(spec, str):
            raise TypeError(f'spec must be a str, not {type(spec).__name__}')
        keys = []
        for number, entry in enumerate(
                (e for e in re.split(r'[,\s]+', spec) if e), 1):
            key_id, sep, value = entry.partition(':')
            if not sep:
                raise EnvelopeError('bad_key',
                    f"Entry {number} of the media key list is not "
                    "'key_id:key'.", {'entry': number})
            check_key_id(key_id)
            keys.append((key_id, decode_key(value, key_id)))
        return cls(keys, active=active or None)

    @classmethod
    def from_env(cls, environ=None, name=KEYS_ENV, active_name=ACTIVE_ENV):
        """Return the keyring of the environment variable ``name``.

        The variable holds a from_string spec; ``active_name``, when set and
        not empty, names the active key.  ``environ`` defaults to
        os.environ.  A missing or empty variable raises
        EnvelopeError('no_key').
        """
        if environ is None:
            environ = os.environ
        spec = environ.get(name, '')
        if not spec.strip():
            raise EnvelopeError('no_key',
                f"The environment variable {name} holds no media master "
                "key.", {'name': name})
        active = environ.get(active_name, '').strip() if active_name else ''
        return cls.from_string(spec, active=active or None)

    @property
    def active_id(self):
        return self._active

    @property
    def key_ids(self):
        return tuple(self._wrappers)

    def __contains__(self, key_id):
        return key_id in self._wrappers

    def __len__(self):
        return len(self._wrappers)

    def __repr__(self):
        return (f'{type(self).__name__}(key_ids={self.key_ids!r}, '
            f'active={self._active!r})')

    def _wrapper(self, key_id):
        try:
            return self._wrappers[key_id]
        except KeyError:
            raise EnvelopeError('unknown_key',
                f"The media master key {key_id} is not configured.",
                {'key_id': key_id}) from None

    def _seal(self, key_id, file_part, data_key):
        "Return the header: file_part followed by the wrapped data key."
        encoded = key_id.encode('ascii')
        key_part = _KEY_PART.pack(len(encoded), b'', encoded)
        nonce = os.urandom(NONCE_SIZE)
        wrapped = self._wrapper(key_id).encrypt(
            nonce, data_key, file_part + key_part)
        return file_part + key_part + nonce + wrapped

    def _unwrap(self, header):
        "Return the data key of header, which it authenticates."
        wrapper = self._wrapper(header.key_id)
        try:
            data_key = wrapper.decrypt(header.wrap_nonce, header.wrapped_key,
                header.raw[:_WRAP_AD_SIZE])
        except InvalidTag:
            raise EnvelopeError('tampered',
                "The header of the encrypted file was altered.",
                {'key_id': header.key_id}) from None
        # Written by us and authenticated: only a bug could trip this.
        if not 0 < header.chunk_size <= MAX_CHUNK_SIZE:
            raise EnvelopeError('bad_format',
                "The chunk size of the encrypted file is invalid.")
        return data_key


# ---------------------------------------------------------------------------
# Header
# ---------------------------------------------------------------------------

Header = namedtuple('Header', ['version', 'chunk_size', 'size', 'file_id',
        'key_id', 'wrap_nonce', 'wrapped_key', 'raw'])
Header.__doc__ = """The parsed, not yet authenticated, header of a file.

``size`` is the plaintext size, ``raw`` the HEADER_SIZE bytes read.
"""


def _file_part(chunk_size, size, file_id):
    return _FILE_PART.pack(MAGIC, VERSION, b'', chunk_size, size, file_id)


def parse_header(raw, length=None):
    """Return the Header of ``raw``, the first bytes of a file.

    Only the structure is checked (magic, version, reserved bytes, key
    id): the header is authenticated when the data key is unwrapped.
    ``length``, the file length, defaults to len(raw).  Not an encrypted
    file raises EnvelopeError('bad_format'), a file shorter than the header
    EnvelopeError('truncated').
    """
    if length is None:
        length = len(raw)
    if not MAGIC.startswith(bytes(raw[:len(MAGIC)])):
        raise EnvelopeError('bad_format', "The file is not encrypted media.")
    if len(raw) < HEADER_SIZE:
        raise EnvelopeError('truncated',
            "The encrypted file is shorter than its header.",
            {'length': length})
    raw = bytes(raw[:HEADER_SIZE])
    (_, version, reserved, chunk_size, size, file_id, id_length, reserved2,
        key_id, wrap_nonce, wrapped_key) = _HEADER.unpack(raw)
    if version != VERSION:
        raise EnvelopeError('bad_format',
            f"The encrypted file format version {version} is not supported.",
            {'version': version})
    if (any(reserved + reserved2) or not 0 < id_length <= KEY_ID_MAX
            or any(key_id[id_length:])):
        raise EnvelopeError('bad_format',
            "The header of the encrypted file is malformed.")
    try:
        key_id = key_id[:id_length].decode('ascii')
        check_key_id(key_id)
    except (UnicodeDecodeError, EnvelopeError):
        raise EnvelopeError('bad_format',
            "The header of the encrypted file is malformed.") from None
    return Header(version, chunk_size, size, file_id, key_id, wrap_nonce,
        wrapped_key, raw)


def read_header(path):
    "Return the Header of the file at ``path`` (see parse_header)."
    with open(path, 'rb') as file:
        raw = file.read(HEADER_SIZE)
        return parse_header(raw, os.fstat(file.fileno()).st_size)


def key_id_of(path):
    "Return the id of the master key wrapping the data key of ``path``."
    return read_header(path).key_id


def chunk_count(size, chunk_size):
    "Return the number of chunks of a ``size`` bytes plaintext (at least 1)."
    return max(1, -(-size // chunk_size))


def encrypted_size(size, chunk_size=DEFAULT_CHUNK_SIZE):
    "Return the length in bytes of the encryption of ``size`` bytes."
    return HEADER_SIZE + size + TAG_SIZE * chunk_count(size, chunk_size)


def _nonce(index, count):
    return index.to_bytes(11, 'big') + (b'\x01' if index == count - 1
        else b'\x00')


# ---------------------------------------------------------------------------
# I/O helpers
# ---------------------------------------------------------------------------

def _pread_full(fd, view, offset):
    "Fill view from fd at offset; return the bytes read (short at EOF)."
    done = 0
    while done < len(view):
        got = os.preadv(fd, [view[done:]], offset + done)
        if not got:
            break
        done += got
    return done


def _write_full(file, view):
    view = memoryview(view)
    while view:
        view = view[file.write(view):]


@contextlib.contextmanager
def _atomic_output(path, mode=None):
    """Yield an unbuffered binary file that replaces ``path`` on success.

    The data goes to a temporary file in the same directory, fsync'd, then
    renamed over ``path`` and the directory fsync'd; on any error the
    temporary file is removed and ``path`` is left as it was.  The file is
    created with mode 0600 unless ``mode`` is given.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=directory, suffix='.part',
        prefix='.' + os.path.basename(path) + '.')
    try:
        with open(fd, 'wb', buffering=0) as out:
            if mode is not None:
                os.fchmod(out.fileno(), mode)
            yield out
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _lanes(count):
    """Yield ``count`` single-thread executors: each runs its calls in order.

    On error, queued calls are cancelled; running ones are always waited
    for, so no thread touches a buffer or file after the block.
    """
    lanes = [ThreadPoolExecutor(1, thread_name_prefix='envelope')
        for _ in range(count)]
    failed = True
    try:
        yield lanes
        failed = False
    finally:
        for lane in lanes:
            lane.shutdown(wait=True, cancel_futures=failed)


def _slots(chunk_size, first, second):
    "Return SLOTS [buffer of first, buffer of second, futures] and per slot."
    per = max(1, SLOT_BYTES // chunk_size)
    return [[bytearray(per * first), bytearray(per * second), ()]
        for _ in range(SLOTS)], per


def _wait(futures):
    for future in futures:
        future.result()


# ---------------------------------------------------------------------------
# Encryption
# ---------------------------------------------------------------------------

def _seal_chunks(aead, ad, plain, cipher, first, number, count, chunk_size):
    "Seal chunks first..first+number-1 of plain into cipher; return length."
    start = end = 0
    for index in range(first, first + number):
        piece = plain[start:start + chunk_size]
        start += len(piece)
        begin, end = end, end + len(piece) + TAG_SIZE
        aead.encrypt_into(
            _nonce(index, count), piece, ad, cipher[begin:end])
    return end


def _source_changed(path):
    return EnvelopeError('source_changed',
        "The file changed while it was encrypted.",
        {'path': os.fspath(path)})


def encrypt_file(keyring, src_path, dst_path, chunk_size=DEFAULT_CHUNK_SIZE):
    """Encrypt ``src_path`` into ``dst_path`` with the active master key.

    Returns a dict: 'key_id', 'file_id' (hex), 'chunk_size',
    'plaintext_size' and 'size' (bytes), 'plaintext_sha256' and 'sha256'
    (hex, of the encrypted file).  ``dst_path`` is written atomically
    (mode 0600) and may be ``src_path``.  A source whose size changes
    meanwhile raises EnvelopeError('source_changed').
    """
    if not isinstance(chunk_size, int) or not (
            0 < chunk_size <= MAX_CHUNK_SIZE):
        raise ValueError(
            f'chunk_size must be between 1 and {MAX_CHUNK_SIZE} bytes')
    key_id = keyring.active_id
    data_key = os.urandom(KEY_SIZE)
    file_id = os.urandom(16)
    plain_hash, cipher_hash = hashlib.sha256(), hashlib.sha256()
    with open(src_path, 'rb', buffering=0) as src:
        size = os.fstat(src.fileno()).st_size
        ad = _file_part(chunk_size, size, file_id)
        header = keyring._seal(key_id, ad, data_key)
        aead = AESGCM(data_key)
        count = chunk_count(size, chunk_size)
        slots, per = _slots(chunk_size, chunk_size, chunk_size + TAG_SIZE)
        with _atomic_output(dst_path) as out:

            def emit(view):
                cipher_hash.update(view)
                _write_full(out, view)
            emit(header)
            with _lanes(2) as (hasher, writer):
                index, offset, turn = 0, 0, 0
                while index < count:
                    slot = slots[turn % SLOTS]
                    turn += 1
                    _wait(slot[2])
                    number = min(per, count - index)
                    length = min(number * chunk_size, size - offset)
                    plain = memoryview(slot[0])[:length]
                    if _pread_full(src.fileno(), plain, offset) != length:
                        raise _source_changed(src_path)
                    hashed = hasher.submit(plain_hash.update, plain)
                    cipher = memoryview(slot[1])
                    end = _seal_chunks(aead, ad, plain, cipher, index,
                        number, count, chunk_size)
                    slot[2] = (hashed, writer.submit(emit, cipher[:end]))
                    index += number
                    offset += length
                for slot in slots:
                    _wait(slot[2])
            if os.pread(src.fileno(), 1, size):
                raise _source_changed(src_path)
    return {
        'key_id': key_id,
        'file_id': file_id.hex(),
        'chunk_size': chunk_size,
        'plaintext_size': size,
        'plaintext_sha256': plain_hash.hexdigest(),
        'size': encrypted_size(size, chunk_size),
        'sha256': cipher_hash.hexdigest(),
        }


class ChunkSealer:
    """Seal the chunks of one file independently, in any order.

    For a plaintext whose size is known before its bytes arrive, piece by
    piece and in any order (the upload store): ``header`` (HEADER_SIZE
    bytes) goes at offset 0 of the file and each sealed piece at the
    position ``seal`` returns.  Once every chunk is written the file is
    exactly what encrypt_file makes of the same plaintext with the same
    keys, so everything that reads encrypt_file's files reads it.

    Build one with ``new`` for a new file, or from the header of a file
    being assembled.  Sealing the same index twice with different bytes
    would reuse a GCM nonce under the data key: the caller seals each
    chunk once (or again with the same bytes).
    """

    def __init__(self, keyring, header):
        parsed = parse_header(header)
        self.header = parsed.raw
        self.key_id = parsed.key_id
        self.size = parsed.size
        self.chunk_size = parsed.chunk_size
        self.count = chunk_count(self.size, self.chunk_size)
        self._ad = parsed.raw[:FILE_PART_SIZE]
        self._aead = AESGCM(keyring._unwrap(parsed))

    @classmethod
    def new(cls, keyring, size, chunk_size=DEFAULT_CHUNK_SIZE):
        """Return a sealer of a new file of ``size`` plaintext bytes under
        a new data key wrapped by the active master key."""
        if not isinstance(chunk_size, int) or not (
                0 < chunk_size <= MAX_CHUNK_SIZE):
            raise ValueError(
                f'chunk_size must be between 1 and {MAX_CHUNK_SIZE} bytes')
        if not isinstance(size, int) or size < 0:
            raise ValueError('size must be a non-negative int')
        ad = _file_part(chunk_size, size, os.urandom(16))
        header = keyring._seal(keyring.active_id, ad, os.urandom(KEY_SIZE))
        return cls(keyring, header)

    @property
    def length(self):
        "The length in bytes of the whole encrypted file."
        return encrypted_size(self.size, self.chunk_size)

    def position(self, offset):
        "Return where the chunk holding plaintext ``offset`` starts."
        return HEADER_SIZE + (offset // self.chunk_size) * (
            self.chunk_size + TAG_SIZE)

    def seal(self, offset, plain):
        """Return (position in the file, sealed bytes) of ``plain``.

        ``plain`` is the plaintext from ``offset``, a chunk border, made of
        whole chunks or ending at the end of the file.  Anything else
        raises ValueError.
        """
        plain = memoryview(plain)
        end = offset + len(plain)
        if (offset < 0 or offset % self.chunk_size or end > self.size
                or (len(plain) % self.chunk_size and end != self.size)
                or (not plain and self.size)):
            raise ValueError(f'{len(plain)} bytes at {offset} are not '
                'whole chunks of the file')
        first = offset // self.chunk_size
        number = max(1, -(-len(plain) // self.chunk_size))
        cipher = bytearray(len(plain) + number * TAG_SIZE)
        _seal_chunks(self._aead, self._ad, plain, memoryview(cipher), first,
            number, self.count, self.chunk_size)
        return self.position(offset), bytes(cipher)


# ---------------------------------------------------------------------------
# Decryption
# ---------------------------------------------------------------------------

class _Envelope:
    "An open encrypted file whose header is authenticated."

    def __init__(self, keyring, path):
        self.file = open(path, 'rb', buffering=0)
        try:
            length = os.fstat(self.file.fileno()).st_size
            self.header = parse_header(
                self.file.read(HEADER_SIZE), length)
            self.data_key = keyring._unwrap(self.header)
            self.aead = AESGCM(self.data_key)
            self.length = length
            self.chunk_size = self.header.chunk_size
            self.size = self.header.size
            self.count = chunk_count(self.size, self.chunk_size)
            self.ad = self.header.raw[:FILE_PART_SIZE]
            expected = encrypted_size(self.size, self.chunk_size)
            if length < expected:
                raise EnvelopeError('truncated',
                    "The encrypted file is truncated.",
                    {'length': length, 'expected': expected})
            if length > expected:
                raise EnvelopeError('tampered',
                    "Data was appended to the encrypted file.",
                    {'length': length, 'expected': expected})
        except BaseException:
            self.file.close()
            raise

    def close(self):
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def open_chunks(self, first, number, cipher, plain):
        """Decrypt chunks first..first+number-1 into plain; return length.

        cipher is scratch space.  No byte of a chunk whose tag fails is
        returned: EnvelopeError('tampered') is raised instead.
        """
        start = first * self.chunk_size
        length = min(number * self.chunk_size, self.size - start)
        cipher = cipher[:length + number * TAG_SIZE]
        offset = HEADER_SIZE + first * (self.chunk_size + TAG_SIZE)
        if _pread_full(self.file.fileno(), cipher, offset) != len(cipher):
            raise EnvelopeError('truncated',
                "The encrypted file is truncated.")
        begin = end = 0
        for index in range(first, first + number):
            piece = min(self.chunk_size, length - end)
            try:
                self.aead.decrypt_into(_nonce(index, self.count),
                    cipher[begin:begin + piece + TAG_SIZE], self.ad,
                    plain[end:end + piece])
            except InvalidTag:
                raise EnvelopeError('tampered',
                    f"Chunk {index} of the encrypted file was altered.",
                    {'chunk': index}) from None
            begin += piece + TAG_SIZE
            end += piece
        return length


def decrypt_file(keyring, src_path, dst_path):
    """Decrypt ``src_path`` into ``dst_path``; return the plaintext size.

    ``dst_path`` is written atomically (mode 0600): on any error, e.g.
    EnvelopeError('tampered') at a chunk, it is left as it was.
    """
    with _Envelope(keyring, src_path) as envelope:
        size, chunk_size = envelope.size, envelope.chunk_size
        slots, per = _slots(chunk_size, chunk_size + TAG_SIZE, chunk_size)
        with _atomic_output(dst_path) as out, _lanes(1) as (writer,):
            index, turn = 0, 0
            while index < envelope.count:
                slot = slots[turn % SLOTS]
                turn += 1
                _wait(slot[2])
                number = min(per, envelope.count - index)
                plain = memoryview(slot[1])
                length = envelope.open_chunks(
                    index, number, memoryview(slot[0]), plain)
                slot[2] = (writer.submit(_write_full, out, plain[:length]),)
                index += number
            for slot in slots:
                _wait(slot[2])
    return size


def digest_file(keyring, path, head=0):
    """Return (hex SHA-256 of the plaintext, its first ``head`` bytes).

    The file is decrypted in memory, chunk after chunk, and nothing is
    written: EnvelopeError 'tampered' (a chunk never written reads as
    altered), 'truncated', 'unknown_key' or 'bad_format' is raised as by
    decrypt_file.
    """
    digest = hashlib.sha256()
    first = b''
    with _Envelope(keyring, path) as envelope:
        chunk_size = envelope.chunk_size
        per = max(1, SLOT_BYTES // chunk_size)
        cipher = memoryview(bytearray(per * (chunk_size + TAG_SIZE)))
        plain = memoryview(bytearray(per * chunk_size))
        index = 0
        while index < envelope.count:
            number = min(per, envelope.count - index)
            length = envelope.open_chunks(index, number, cipher, plain)
            if index == 0:
                first = bytes(plain[:min(head, length)])
            digest.update(plain[:length])
            index += number
    return digest.hexdigest(), first


class DecryptedReader(io.RawIOBase):
    """A read-only, seekable file of the plaintext of an encrypted file.

    Only the chunks covering what is read are read and decrypted; the last
    one is kept.  read() raises EnvelopeError('tampered') instead of
    returning any byte of an altered chunk.  ``size`` is the plaintext
    size.  Not thread-safe: open one reader per request.
    """

    def __init__(self, keyring, path):
        super().__init__()
        self._envelope = _Envelope(keyring, path)
        chunk_size = self._envelope.chunk_size
        self._cipher = bytearray(chunk_size + TAG_SIZE)
        self._plain = bytearray(chunk_size)
        self._loaded = None
        self._position = 0

    @property
    def size(self):
        return self._envelope.size

    @property
    def key_id(self):
        return self._envelope.header.key_id

    @property
    def chunk_size(self):
        return self._envelope.chunk_size

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        self._checkClosed()
        return self._position

    def seek(self, offset, whence=io.SEEK_SET):
        self._checkClosed()
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._position + offset
        elif whence == io.SEEK_END:
            position = self.size + offset
        else:
            raise ValueError(f'invalid whence ({whence!r})')
        if position < 0:
            raise ValueError(f'negative seek position {position}')
        self._position = position
        return position

    def _load(self, index):
        if self._loaded != index:
            self._loaded = None
            self._envelope.open_chunks(index, 1,
                memoryview(self._cipher), memoryview(self._plain))
            self._loaded = index

    def readinto(self, buffer):
        self._checkClosed()
        view = memoryview(buffer).cast('B')
        chunk_size, size = self.chunk_size, self.size
        done = 0
        while done < len(view) and self._position < size:
            index, skip = divmod(self._position, chunk_size)
            self._load(index)
            take = min(len(view) - done, chunk_size - skip,
                size - self._position)
            view[done:done + take] = self._plain[skip:skip + take]
            done += take
            self._position += take
        return done

    def read(self, size=-1):
        self._checkClosed()
        available = max(0, self.size - self._position)
        if size is None or size < 0 or size > available:
            size = available
        data = bytearray(size)
        return bytes(data[:self.readinto(data)])

    def readall(self):
        return self.read()

    def close(self):
        if not self.closed:
            self._envelope.close()
            self._cipher = self._plain = self._loaded = None
        super().close()


def open_decrypted(keyring, path):
    """Return a DecryptedReader of ``path``.

    The header is checked now: EnvelopeError 'unknown_key', 'tampered',
    'truncated' or 'bad_format' is raised before any read.
    """
    return DecryptedReader(keyring, path)


def decrypt_range(keyring, path, start=0, end=None):
    """Return an iterator over the plaintext bytes start to end inclusive.

    Meant for HTTP range requests: the file and its header are checked
    now, so errors other than an altered chunk come before any byte.  An
    ``end`` past the last byte, or None, means the last byte;
    start=0, end=None on an empty file gives nothing.  Otherwise a
    ``start`` outside the file or after ``end`` raises
    EnvelopeError('bad_range').  The pieces are at most one chunk each, cut
    at chunk borders; a piece's altered chunk raises
    EnvelopeError('tampered') instead of being yielded.
    """
    reader = DecryptedReader(keyring, path)
    try:
        size = reader.size
        last = size - 1 if end is None else min(end, size - 1)
        if not (start == 0 and end is None) and not 0 <= start <= last:
            raise EnvelopeError('bad_range',
                f"The range {start}-{end} is outside the {size} bytes.",
                {'start': start, 'end': end, 'size': size})
    except BaseException:
        reader.close()
        raise
    return _iter_range(reader, start, last)


def _iter_range(reader, start, last):
    with reader:
        reader.seek(start)
        chunk_size = reader.chunk_size
        position = start
        while position <= last:
            data = reader.read(
                min(last + 1 - position, chunk_size - position % chunk_size))
            position += len(data)
            yield data


# ---------------------------------------------------------------------------
# Rotation
# ---------------------------------------------------------------------------

def rewrap(keyring, path, new_key_id=None):
    """Wrap the data key of ``path`` with another master key.

    The key is the active one or ``new_key_id``; both it and the current
    one must be in ``keyring``.  Only the header changes: the chunks are
    copied unchanged, not re-encrypted, and the file is replaced
    atomically, keeping its mode.  Returns a dict: 'key_id',
    'previous_key_id', 'changed' (False when the file already used that
    key: it is then left untouched) and 'sha256', the new hex SHA-256 of
    the file to store in place of the old one (None when not changed).
    """
    key_id = new_key_id or keyring.active_id
    keyring._wrapper(key_id)
    with _Envelope(keyring, path) as envelope:
        previous = envelope.header.key_id
        result = {
            'key_id': key_id,
            'previous_key_id': previous,
            'changed': key_id != previous,
            'sha256': None,
            }
        if not result['changed']:
            return result
        header = keyring._seal(key_id, envelope.ad, envelope.data_key)
        digest = hashlib.sha256(header)
        view = memoryview(bytearray(COPY_BYTES))
        mode = os.fstat(envelope.file.fileno()).st_mode & 0o7777
        copied = 0
        with _atomic_output(path, mode) as out:
            _write_full(out, header)
            while got := _pread_full(
                    envelope.file.fileno(), view, HEADER_SIZE + copied):
                digest.update(view[:got])
                _write_full(out, view[:got])
                copied += got
            if copied != envelope.length - HEADER_SIZE:
                raise EnvelopeError('truncated',
                    "The encrypted file changed while it was rewrapped.")
    result['sha256'] = digest.hexdigest()
    return result


# ---------------------------------------------------------------------------
# Throughput
# ---------------------------------------------------------------------------

def benchmark(size_mb=256, directory=None):
    """Return the encryption and decryption throughput in MB/s (10^6 B).

    A file of ``size_mb`` MB (random bytes) is written in ``directory``
    (default: /dev/shm when it exists, so the figure measures this code and
    not the disk; give a directory on the storage volume to include it),
    encrypted and decrypted with encrypt_file and decrypt_file (fsync
    included) under a throw-away key, then removed.
    """
    if directory is None and os.path.isdir('/dev/shm'):
        directory = '/dev/shm'
    size = int(size_mb * MB)
    keyring = Keyring({'bench': os.urandom(KEY_SIZE)})
    block = os.urandom(8 * 1024 * 1024)
    with tempfile.TemporaryDirectory(dir=directory,
            prefix='envelope-bench-') as temp:
        plain = os.path.join(temp, 'plain')
        cipher = os.path.join(temp, 'cipher')
        clear = os.path.join(temp, 'clear')
        with open(plain, 'wb') as file:
            for offset in range(0, size, len(block)):
                file.write(block[:size - offset])
        start = time.perf_counter()
        encrypt_file(keyring, plain, cipher)
        encrypted = time.perf_counter()
        decrypt_file(keyring, cipher, clear)
        decrypted = time.perf_counter()
        if os.path.getsize(clear) != size:
            raise RuntimeError('benchmark round trip lost bytes')
        return {
            'size_mb': size / MB,
            'directory': os.path.dirname(temp),
            'encrypt_mb_per_s': round(size / MB / (encrypted - start), 1),
            'decrypt_mb_per_s': round(
                size / MB / (decrypted - encrypted), 1),
            }


def main(argv=None):
    """Run ``python -m dualrec.crypto.envelope throughput
    [--size-mb N] [--dir D]``: print benchmark()'s JSON."""
    parser = argparse.ArgumentParser(
        prog='python -m dualrec.crypto.envelope',
        description="Media envelope encryption tools.")
    commands = parser.add_subparsers(dest='command', required=True)
    throughput = commands.add_parser('throughput',
        help="print the encrypt and decrypt MB/s as JSON")
    throughput.add_argument('--size-mb', type=float, default=256)
    throughput.add_argument('--dir', default=None,
        help="where to write the files (default /dev/shm)")
    args = parser.parse_args(argv)
    result = benchmark(args.size_mb, args.dir)
    json.dump(result, sys.stdout)
    sys.stdout.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
