# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import base64
import hashlib
import io
import os
import pathlib
import random
import stat
import tempfile
import unittest

from dualrec.crypto.envelope import (
    DEFAULT_CHUNK_SIZE, HEADER_SIZE, MAGIC, TAG_SIZE, ChunkSealer,
    EnvelopeError, Keyring, benchmark, chunk_count, decrypt_file,
    decrypt_range, digest_file, encrypt_file, encrypted_size, key_id_of,
    open_decrypted, rewrap)

KEY_2025 = bytes(range(32))
KEY_2026 = bytes(range(100, 132))
RING_2025 = Keyring({'k2025': KEY_2025})
RING_2026 = Keyring({'k2026': KEY_2026})
RING_BOTH = Keyring([('k2026', KEY_2026), ('k2025', KEY_2025)])

CHUNK = DEFAULT_CHUNK_SIZE
# Most files use tiny chunks so that tables of many files stay fast; the
# format does not depend on the chunk size.
SMALL = 64


def plaintext(size, seed=0):
    return random.Random(seed).randbytes(size)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def b64(key, urlsafe=False, padded=True):
    text = (base64.urlsafe_b64encode(key) if urlsafe
        else base64.b64encode(key)).decode('ascii')
    return text if padded else text.rstrip('=')


def chunk_offset(index, chunk_size=SMALL):
    return HEADER_SIZE + index * (chunk_size + TAG_SIZE)


def flip(offset):
    "Return a mutation flipping the lowest bit of the byte at offset."
    def mutate(data):
        data = bytearray(data)
        data[offset] ^= 1
        return bytes(data)
    return mutate


def swap(first, second, chunk_size=SMALL):
    "Return a mutation exchanging two full chunks."
    def mutate(data):
        length = chunk_size + TAG_SIZE
        a, b = chunk_offset(first), chunk_offset(second)
        data = bytearray(data)
        data[a:a + length], data[b:b + length] = (
            data[b:b + length], data[a:a + length])
        return bytes(data)
    return mutate


class EnvelopeTestCase(unittest.TestCase):

    def setUp(self):
        temp = tempfile.TemporaryDirectory(prefix='test-envelope-')
        self.addCleanup(temp.cleanup)
        self.directory = temp.name
        self.count = 0

    def path(self, name=None):
        if name is None:
            self.count += 1
            name = f'file{self.count}'
        return os.path.join(self.directory, name)

    def write(self, data, name=None):
        path = self.path(name)
        with open(path, 'wb') as file:
            file.write(data)
        return path

    def read(self, path):
        with open(path, 'rb') as file:
            return file.read()

    def encrypt(self, data, keyring=RING_2025, chunk_size=SMALL):
        "Return the path of data encrypted and its metadata."
        source = self.write(data)
        target = source + '.enc'
        metadata = encrypt_file(keyring, source, target, chunk_size)
        return target, metadata

    def decrypt(self, path, keyring=RING_2025):
        target = self.path()
        decrypt_file(keyring, path, target)
        return self.read(target)

    def assertEnvelopeError(self, code, func, *args, **kwargs):
        with self.assertRaises(EnvelopeError) as context:
            func(*args, **kwargs)
        self.assertEqual(context.exception.code, code,
            context.exception.message)
        return context.exception

    def assertNoTemporaryFile(self):
        leftovers = [n for n in os.listdir(self.directory)
            if n.endswith('.part')]
        self.assertEqual(leftovers, [])


class RoundTripTestCase(EnvelopeTestCase):

    def test_round_trip(self):
        "Decryption gives back the plaintext and the metadata is right."
        for chunk_size, sizes in [
                (CHUNK, [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5]),
                (SMALL, [0, 1, SMALL - 1, SMALL, SMALL + 1, 5 * SMALL,
                        7 * SMALL + 13]),
                (1, [0, 1, 5]),
                ]:
            for size in sizes:
                with self.subTest(chunk_size=chunk_size, size=size):
                    data = plaintext(size, seed=size)
                    path, metadata = self.encrypt(data, chunk_size=chunk_size)
                    encrypted = self.read(path)
                    self.assertEqual(self.decrypt(path), data)
                    with open_decrypted(RING_2025, path) as reader:
                        self.assertEqual(reader.size, size)
                        self.assertEqual(reader.read(), data)
                    self.assertEqual(
                        b''.join(decrypt_range(RING_2025, path)), data)
                    self.assertEqual(len(encrypted), HEADER_SIZE + size
                        + TAG_SIZE * max(1, -(-size // chunk_size)))
                    self.assertEqual(metadata, {
                            'key_id': 'k2025',
                            'file_id': metadata['file_id'],
                            'chunk_size': chunk_size,
                            'plaintext_size': size,
                            'plaintext_sha256': sha256(data),
                            'size': len(encrypted),
                            'sha256': sha256(encrypted),
                            })
                    self.assertEqual(len(bytes.fromhex(metadata['file_id'])),
                        16)
                    self.assertTrue(encrypted.startswith(MAGIC))

    def test_sizes(self):
        "The encrypted size is header + plaintext + one tag per chunk."
        for size, chunk_size, count in [
                (0, 10, 1), (1, 10, 1), (10, 10, 1), (11, 10, 2),
                (30, 10, 3), (31, 10, 4)]:
            with self.subTest(size=size, chunk_size=chunk_size):
                self.assertEqual(chunk_count(size, chunk_size), count)
                self.assertEqual(encrypted_size(size, chunk_size),
                    HEADER_SIZE + size + TAG_SIZE * count)

    def test_encryptions_differ(self):
        "Two encryptions of one file share no ciphertext, nor plaintext."
        data = b'\x00' * (3 * SMALL)
        first, _ = self.encrypt(data)
        second, _ = self.encrypt(data)
        first, second = self.read(first), self.read(second)
        self.assertNotEqual(first[HEADER_SIZE:], second[HEADER_SIZE:])
        self.assertNotIn(b'\x00' * 16, first[HEADER_SIZE:])

    def test_encrypt_in_place(self):
        "A file may be encrypted onto itself, paths may be Path objects."
        data = plaintext(500)
        path = pathlib.Path(self.write(data))
        encrypt_file(RING_2025, path, path, SMALL)
        self.assertEqual(self.decrypt(path), data)
        with open_decrypted(RING_2025, path) as reader:
            self.assertEqual(reader.read(), data)
        self.assertTrue(rewrap(RING_BOTH, path)['changed'])
        self.assertEqual(self.decrypt(path, RING_2026), data)
        self.assertNoTemporaryFile()

    def test_chunk_size_checked(self):
        "The chunk size is between 1 byte and 64 MiB."
        source = self.write(b'data')
        for chunk_size in [0, -1, 64 * CHUNK + 1, 1.5]:
            with self.subTest(chunk_size=chunk_size):
                with self.assertRaises(ValueError):
                    encrypt_file(RING_2025, source, self.path(), chunk_size)

    def test_key_id_of(self):
        "key_id_of reads the key id from the header."
        path, _ = self.encrypt(b'data', keyring=RING_BOTH)
        self.assertEqual(key_id_of(path), 'k2026')
        self.assertEnvelopeError('bad_format', key_id_of,
            self.write(b'not encrypted' * 20))
        self.assertEnvelopeError('truncated', key_id_of,
            self.write(self.read(path)[:HEADER_SIZE - 1]))

    def test_benchmark(self):
        "The benchmark returns positive throughputs."
        result = benchmark(size_mb=1, directory=self.directory)
        self.assertGreater(result['encrypt_mb_per_s'], 0)
        self.assertGreater(result['decrypt_mb_per_s'], 0)
        self.assertEqual(os.listdir(self.directory), [])


class ChunkSealerTestCase(EnvelopeTestCase):

    def assemble(self, data, pieces, keyring=RING_2025, chunk_size=SMALL):
        "Seal data's pieces (offset, length) in their order into a file."
        sealer = ChunkSealer.new(keyring, len(data), chunk_size)
        path = self.path()
        with open(path, 'wb') as file:
            file.truncate(sealer.length)
            file.write(sealer.header)
            for offset, length in pieces:
                where, sealed = sealer.seal(
                    offset, data[offset:offset + length])
                file.seek(where)
                file.write(sealed)
        return path

    def test_any_order(self):
        "Pieces sealed in any order make a file that decrypts as encrypt_file's"
        for size in [1, SMALL, 3 * SMALL, 5 * SMALL + 7]:
            data = plaintext(size, seed=size)
            pieces = [(o, min(2 * SMALL, size - o))
                for o in range(0, size, 2 * SMALL)]
            for order in [pieces, pieces[::-1]]:
                with self.subTest(size=size, order=order):
                    path = self.assemble(data, order)
                    self.assertEqual(os.path.getsize(path),
                        encrypted_size(size, SMALL))
                    self.assertEqual(self.decrypt(path), data)
                    self.assertEqual(digest_file(RING_2025, path, 10),
                        (sha256(data), data[:10]))

    def test_from_header(self):
        "A sealer rebuilt from the header seals under the same data key"
        data = plaintext(2 * SMALL, seed=3)
        first = ChunkSealer.new(RING_2025, len(data), SMALL)
        again = ChunkSealer(RING_2025, first.header)
        path = self.path()
        with open(path, 'wb') as file:
            file.write(first.header)
            file.write(first.seal(0, data[:SMALL])[1])
            file.write(again.seal(SMALL, data[SMALL:])[1])
        self.assertEqual(self.decrypt(path), data)
        self.assertEnvelopeError('unknown_key', ChunkSealer, RING_2026,
            first.header)

    def test_misaligned(self):
        "Only whole chunks at chunk borders are sealed"
        sealer = ChunkSealer.new(RING_2025, 3 * SMALL + 5, SMALL)
        for offset, length in [(1, SMALL), (0, SMALL + 1), (SMALL, 5),
                (2 * SMALL, 2 * SMALL), (-SMALL, SMALL), (0, 0)]:
            with self.subTest(offset=offset, length=length):
                with self.assertRaises(ValueError):
                    sealer.seal(offset, bytes(length))
        self.assertEqual(sealer.seal(3 * SMALL, bytes(5))[0],
            chunk_offset(3))

    def test_missing_chunk(self):
        "A chunk never written reads as altered"
        data = plaintext(3 * SMALL, seed=4)
        path = self.assemble(data, [(0, SMALL), (2 * SMALL, SMALL)])
        self.assertEnvelopeError('tampered', digest_file, RING_2025, path)
        self.assertEnvelopeError('tampered', self.decrypt, path)


class RandomAccessTestCase(EnvelopeTestCase):

    def test_read_slices(self):
        "Reads after a seek give the plaintext slice, across chunk borders."
        data = plaintext(95)
        path, _ = self.encrypt(data, chunk_size=10)
        with open_decrypted(RING_2025, path) as reader:
            for start in range(0, 100):
                for length in [0, 1, 9, 10, 11, 25, 100]:
                    with self.subTest(start=start, length=length):
                        self.assertEqual(reader.seek(start), start)
                        self.assertEqual(reader.read(length),
                            data[start:start + length])
                        self.assertEqual(reader.tell(), start if start >= 95
                            else min(start + length, 95))

    def test_read_slices_default_chunk(self):
        "Reads around the borders of 1 MiB chunks give the plaintext slice."
        data = plaintext(3 * CHUNK + 7)
        path, _ = self.encrypt(data, chunk_size=CHUNK)
        with open_decrypted(RING_2025, path) as reader:
            for start, length in [
                    (0, 10), (CHUNK - 3, 6), (CHUNK, 1), (2 * CHUNK - 1, 2),
                    (CHUNK - 1, CHUNK + 2), (3 * CHUNK, 100), (5, 3 * CHUNK),
                    (3 * CHUNK + 6, 1)]:
                with self.subTest(start=start, length=length):
                    reader.seek(start)
                    self.assertEqual(reader.read(length),
                        data[start:start + length])
                    self.assertEqual(
                        b''.join(decrypt_range(RING_2025, path, start,
                                start + length - 1)),
                        data[start:start + length])

    def test_decrypt_range(self):
        "decrypt_range yields bytes start to end inclusive, cut at chunks."
        data = plaintext(95)
        path, _ = self.encrypt(data, chunk_size=10)
        for start in range(0, 95, 3):
            for end in range(start, 100, 4):
                with self.subTest(start=start, end=end):
                    pieces = list(decrypt_range(RING_2025, path, start, end))
                    self.assertEqual(b''.join(pieces), data[start:end + 1])
                    self.assertTrue(all(0 < len(p) <= 10 for p in pieces))
        self.assertEqual(b''.join(decrypt_range(RING_2025, path, 90)),
            data[90:])

    def test_decrypt_range_refused(self):
        "A range outside the file raises 'bad_range' at once."
        path, _ = self.encrypt(plaintext(95), chunk_size=10)
        for start, end in [(-1, 5), (95, None), (95, 100), (10, 9)]:
            with self.subTest(start=start, end=end):
                self.assertEnvelopeError('bad_range', decrypt_range,
                    RING_2025, path, start, end)
        empty, _ = self.encrypt(b'')
        self.assertEqual(list(decrypt_range(RING_2025, empty)), [])
        self.assertEnvelopeError('bad_range', decrypt_range,
            RING_2025, empty, 0, 0)

    def test_reader_file_interface(self):
        "The reader behaves as a read-only seekable binary file."
        data = plaintext(95)
        path, _ = self.encrypt(data, chunk_size=10)
        reader = open_decrypted(RING_2025, path)
        self.assertTrue(reader.readable())
        self.assertTrue(reader.seekable())
        self.assertFalse(reader.writable())
        self.assertEqual(reader.key_id, 'k2025')
        self.assertEqual(reader.seek(-5, io.SEEK_END), 90)
        self.assertEqual(reader.read(), data[90:])
        self.assertEqual(reader.read(10), b'')
        self.assertEqual(reader.seek(-20, io.SEEK_CUR), 75)
        buffer = bytearray(12)
        self.assertEqual(reader.readinto(buffer), 12)
        self.assertEqual(bytes(buffer), data[75:87])
        self.assertEqual(reader.seek(200), 200)
        self.assertEqual(reader.read(), b'')
        with self.assertRaises(ValueError):
            reader.seek(-1)
        reader.seek(0)
        buffered = io.BufferedReader(reader, buffer_size=7)
        self.assertEqual(buffered.read(33), data[:33])
        self.assertEqual(buffered.read(), data[33:])
        reader.close()
        with self.assertRaises(ValueError):
            reader.read(1)


# The file every mutation starts from: 5 chunks of 64 bytes, the last of 10.
TAMPER_SIZE = 4 * SMALL + 10
TAMPER_CASES = [
    # (name, mutation, expected code)
    ('chunk 0 ciphertext', flip(chunk_offset(0)), 'tampered'),
    ('chunk 2 tag', flip(chunk_offset(3) - 1), 'tampered'),
    ('last chunk ciphertext', flip(chunk_offset(4) + 3), 'tampered'),
    ('last byte', flip(-1), 'tampered'),
    ('magic', flip(0), 'bad_format'),
    ('version', flip(8), 'bad_format'),
    ('reserved', flip(10), 'bad_format'),
    ('chunk size', flip(15), 'tampered'),
    ('chunk size high byte', flip(12), 'tampered'),
    ('plaintext size', flip(23), 'tampered'),
    ('plaintext size high byte', flip(16), 'tampered'),
    ('file id first byte', flip(24), 'tampered'),
    ('file id last byte', flip(39), 'tampered'),
    ('key id length', flip(40), 'bad_format'),
    ('key reserved', flip(42), 'bad_format'),
    ('key id', flip(44), 'unknown_key'),
    ('key id padding', flip(60), 'bad_format'),
    ('wrap nonce', flip(76), 'tampered'),
    ('wrapped key', flip(88), 'tampered'),
    ('wrapped key middle', flip(110), 'tampered'),
    ('wrapped key tag', flip(HEADER_SIZE - 1), 'tampered'),
    ('chunks 0 and 1 swapped', swap(0, 1), 'tampered'),
    ('chunks 1 and 3 swapped', swap(1, 3), 'tampered'),
    ('chunk 0 repeated', lambda d: (d[:chunk_offset(1)]
            + d[chunk_offset(0):chunk_offset(1)] + d[chunk_offset(2):]),
        'tampered'),
    ('last chunk removed', lambda d: d[:chunk_offset(4)], 'truncated'),
    ('last full chunk removed',
        lambda d: d[:chunk_offset(3)] + d[chunk_offset(4):], 'truncated'),
    ('cut mid-chunk', lambda d: d[:chunk_offset(2) + 30], 'truncated'),
    ('cut in the last tag', lambda d: d[:-1], 'truncated'),
    ('only the header', lambda d: d[:HEADER_SIZE], 'truncated'),
    ('cut in the header', lambda d: d[:HEADER_SIZE - 1], 'truncated'),
    ('cut in the magic', lambda d: d[:3], 'truncated'),
    ('empty', lambda d: b'', 'truncated'),
    ('one byte appended', lambda d: d + b'\x00', 'tampered'),
    ('chunk appended', lambda d: d + d[chunk_offset(0):chunk_offset(1)],
        'tampered'),
    ('not encrypted', lambda d: b'\x00\x00\x00\x18ftypisom' * 30,
        'bad_format'),
    ]


class TamperTestCase(EnvelopeTestCase):

    def setUp(self):
        super().setUp()
        self.data = plaintext(TAMPER_SIZE)
        self.path_, _ = self.encrypt(self.data)
        self.encrypted = self.read(self.path_)

    def assertRefused(self, code, encrypted, keyring=RING_2025):
        "Assert that every reading function refuses encrypted with code."
        path = self.write(encrypted)
        target = self.path()
        self.assertEnvelopeError(code, decrypt_file, keyring, path, target)
        self.assertFalse(os.path.exists(target))
        self.assertNoTemporaryFile()

        def read_all():
            with open_decrypted(keyring, path) as reader:
                return reader.read()
        self.assertEnvelopeError(code, read_all)
        self.assertEnvelopeError(code,
            lambda: list(decrypt_range(keyring, path)))

    def test_mutations(self):
        "Any change to an encrypted file is refused with its code."
        for name, mutate, code in TAMPER_CASES:
            with self.subTest(name):
                mutated = mutate(self.encrypted)
                self.assertNotEqual(mutated, self.encrypted)
                self.assertRefused(code, mutated)

    def test_chunk_from_other_file(self):
        "A chunk spliced from a file encrypted with the same key is refused."
        other, _ = self.encrypt(plaintext(TAMPER_SIZE, seed=1))
        other = self.read(other)
        start, end = chunk_offset(1), chunk_offset(2)
        self.assertRefused('tampered',
            self.encrypted[:start] + other[start:end]
            + self.encrypted[end:])

    def test_header_from_other_file(self):
        "The header of another file of the same size is refused."
        other, _ = self.encrypt(plaintext(TAMPER_SIZE, seed=1))
        other = self.read(other)
        self.assertRefused('tampered',
            other[:HEADER_SIZE] + self.encrypted[HEADER_SIZE:])

    def test_other_key(self):
        "A file is refused by a keyring without its master key."
        self.assertRefused('unknown_key', self.encrypted, RING_2026)
        same_id = Keyring({'k2025': KEY_2026})
        self.assertRefused('tampered', self.encrypted, same_id)

    def test_altered_chunk_never_returned(self):
        "Bytes before an altered chunk are served, the chunk never is."
        path = self.write(flip(chunk_offset(2) + 5)(self.encrypted))
        with open_decrypted(RING_2025, path) as reader:
            self.assertEqual(reader.read(2 * SMALL), self.data[:2 * SMALL])
            reader.seek(SMALL + 10)
            self.assertEnvelopeError('tampered', reader.read, SMALL)
            reader.seek(3 * SMALL)
            self.assertEqual(reader.read(), self.data[3 * SMALL:])
            reader.seek(2 * SMALL + 1)
            error = self.assertEnvelopeError('tampered', reader.read, 1)
            self.assertEqual(error.params, {'chunk': 2})
        pieces = []
        with self.assertRaises(EnvelopeError):
            for piece in decrypt_range(RING_2025, path):
                pieces.append(piece)
        self.assertEqual(b''.join(pieces), self.data[:2 * SMALL])

    def test_failed_decryption_keeps_target(self):
        "A failed decryption leaves an existing target as it was."
        path = self.write(flip(chunk_offset(4))(self.encrypted))
        target = self.write(b'previous')
        self.assertEnvelopeError('tampered', decrypt_file,
            RING_2025, path, target)
        self.assertEqual(self.read(target), b'previous')
        self.assertNoTemporaryFile()

    @unittest.skipUnless(os.path.exists('/dev/zero'), "needs /dev/zero")
    def test_failed_encryption_keeps_target(self):
        "A source that grows during encryption is refused, nothing written."
        target = self.write(b'previous')
        self.assertEnvelopeError('source_changed', encrypt_file,
            RING_2025, '/dev/zero', target)
        self.assertEqual(self.read(target), b'previous')
        self.assertNoTemporaryFile()


class RewrapTestCase(EnvelopeTestCase):

    def test_rewrap(self):
        "After a rewrap only the new key decrypts; the chunks are unchanged."
        data = plaintext(5 * SMALL + 3)
        path, _ = self.encrypt(data, keyring=RING_2025)
        before = self.read(path)
        os.chmod(path, 0o640)

        result = rewrap(RING_BOTH, path)
        after = self.read(path)
        self.assertEqual(result, {
                'key_id': 'k2026',
                'previous_key_id': 'k2025',
                'changed': True,
                'sha256': sha256(after),
                })
        self.assertEqual(key_id_of(path), 'k2026')
        self.assertEqual(after[HEADER_SIZE:], before[HEADER_SIZE:])
        self.assertEqual(after[:44], before[:44])
        self.assertEqual(self.decrypt(path, RING_2026), data)
        self.assertEnvelopeError('unknown_key', decrypt_file,
            RING_2025, path, self.path())
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o640)
        self.assertNoTemporaryFile()

        self.assertEqual(rewrap(RING_BOTH, path), {
                'key_id': 'k2026',
                'previous_key_id': 'k2026',
                'changed': False,
                'sha256': None,
                })
        self.assertEqual(self.read(path), after)

        rewrap(RING_BOTH, path, 'k2025')
        self.assertEqual(self.decrypt(path, RING_2025), data)

    def test_rewrap_refused(self):
        "A rewrap needs both keys and a sound file, else the file is kept."
        data = plaintext(3 * SMALL)
        path, _ = self.encrypt(data, keyring=RING_2025)
        encrypted = self.read(path)
        for name, keyring, key_id, content, code in [
                ('unknown target', RING_2025, 'k2027', encrypted,
                    'unknown_key'),
                ('current key missing', RING_2026, None, encrypted,
                    'unknown_key'),
                ('altered header', RING_BOTH, None, flip(30)(encrypted),
                    'tampered'),
                ('truncated', RING_BOTH, None, encrypted[:-1], 'truncated'),
                ('appended', RING_BOTH, None, encrypted + b'x', 'tampered'),
                ('not encrypted', RING_BOTH, None, b'x' * 300,
                    'bad_format'),
                ]:
            with self.subTest(name):
                target = self.write(content)
                self.assertEnvelopeError(code, rewrap, keyring, target,
                    key_id)
                self.assertEqual(self.read(target), content)
                self.assertNoTemporaryFile()


class KeyringTestCase(EnvelopeTestCase):

    def test_from_string(self):
        "Every key spelling is accepted; the first or named key is active."
        hex_2025, hex_2026 = KEY_2025.hex(), KEY_2026.hex().upper()
        for spec, active, expected_active in [
                (f'k2026:{b64(KEY_2026)},k2025:{b64(KEY_2025)}', None,
                    'k2026'),
                (f'k2026:{b64(KEY_2026, True, False)},'
                    f'k2025:{b64(KEY_2025, True)}', 'k2025', 'k2025'),
                (f' k2026:{hex_2026} , k2025:{hex_2025},', None, 'k2026'),
                (f'k2026:{b64(KEY_2026)}\n  k2025:{hex_2025}\n', None,
                    'k2026'),
                ]:
            with self.subTest(spec=spec, active=active):
                keyring = Keyring.from_string(spec, active=active)
                self.assertEqual(keyring.key_ids, ('k2026', 'k2025'))
                self.assertEqual(keyring.active_id, expected_active)
                self.assertIn('k2025', keyring)
                self.assertEqual(len(keyring), 2)
        # The parsed keys are the real ones: RING_BOTH's files decrypt.
        path, _ = self.encrypt(b'media', keyring=RING_BOTH)
        keyring = Keyring.from_string(f'k2026:{b64(KEY_2026, True, False)}')
        self.assertEqual(self.decrypt(path, keyring), b'media')

    def test_from_string_refused(self):
        "Malformed key lists are refused without echoing the key."
        good = b64(KEY_2025)
        key_31 = b64(bytes(31))
        key_33 = b64(bytes(33))
        for spec, active, code in [
                ('', None, 'no_key'),
                (' , ', None, 'no_key'),
                ('k2025', None, 'bad_key'),
                (good, None, 'bad_key'),
                ('k2025:', None, 'bad_key'),
                ('k2025:notakey!', None, 'bad_key'),
                (f'k2025:{key_31}', None, 'bad_key'),
                (f'k2025:{key_33}', None, 'bad_key'),
                (f'k2025:{KEY_2025.hex()[:-1]}', None, 'bad_key'),
                (f'k2025:{good[:-2]}', None, 'bad_key'),
                (f':{good}', None, 'bad_key_id'),
                (f'-k:{good}', None, 'bad_key_id'),
                (f'k/1:{good}', None, 'bad_key_id'),
                (f'{"k" * 33}:{good}', None, 'bad_key_id'),
                (f'k2025:{good},k2025:{b64(KEY_2026)}', None,
                    'duplicate_key'),
                (f'k2025:{good}', 'k2024', 'unknown_key'),
                ]:
            with self.subTest(spec=spec, active=active):
                error = self.assertEnvelopeError(code,
                    Keyring.from_string, spec, active)
                for value in [good, key_31, key_33, KEY_2025.hex()[:-1]]:
                    self.assertNotIn(value, str(error))
                    self.assertNotIn(value, repr(error.params))
        with self.assertRaises(TypeError):
            Keyring.from_string(None)

    def test_from_env(self):
        "The keys come from the environment, the active one may be named."
        spec = f'k2026:{b64(KEY_2026)},k2025:{b64(KEY_2025)}'
        keyring = Keyring.from_env({'DUALREC_MEDIA_KEYS': spec})
        self.assertEqual(keyring.active_id, 'k2026')
        keyring = Keyring.from_env({'DUALREC_MEDIA_KEYS': spec,
                'DUALREC_MEDIA_KEY_ACTIVE': 'k2025'})
        self.assertEqual(keyring.active_id, 'k2025')
        keyring = Keyring.from_env({'DUALREC_MEDIA_KEYS': spec,
                'DUALREC_MEDIA_KEY_ACTIVE': ''})
        self.assertEqual(keyring.active_id, 'k2026')
        keyring = Keyring.from_env({'OTHER': spec}, name='OTHER')
        self.assertEqual(keyring.key_ids, ('k2026', 'k2025'))
        for environ, code in [
                ({}, 'no_key'),
                ({'DUALREC_MEDIA_KEYS': '  '}, 'no_key'),
                ({'DUALREC_MEDIA_KEYS': spec,
                        'DUALREC_MEDIA_KEY_ACTIVE': 'k2024'}, 'unknown_key'),
                ]:
            with self.subTest(environ=environ):
                self.assertEnvelopeError(code, Keyring.from_env, environ)

    def test_constructor(self):
        "Keys are exactly 32 bytes under valid and distinct ids."
        for keys, active, code in [
                ({}, None, 'no_key'),
                ({'k1': bytes(16)}, None, 'bad_key'),
                ({'k1': 'x' * 32}, None, 'bad_key'),
                ({'k 1': bytes(32)}, None, 'bad_key_id'),
                ([('k1', bytes(32)), ('k1', bytes(32))], None,
                    'duplicate_key'),
                ({'k1': bytes(32)}, 'k2', 'unknown_key'),
                ]:
            with self.subTest(keys=keys, active=active):
                self.assertEnvelopeError(code, Keyring, keys, active)

    def test_repr_hides_keys(self):
        "The keyring representation shows the ids, never the keys."
        text = repr(RING_BOTH)
        self.assertIn('k2026', text)
        self.assertNotIn(KEY_2026.hex(), text)
        self.assertNotIn(b64(KEY_2026)[:10], text)
