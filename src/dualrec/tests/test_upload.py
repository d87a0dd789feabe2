# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import errno
import hashlib
import io
import json
import os
import random
import tempfile
import threading
import tracemalloc
import unittest
from datetime import datetime, timedelta, timezone
from pathlib import Path
from unittest import mock

from dualrec import upload
from dualrec.crypto import envelope
from dualrec.upload import (
    SNIFF_BYTES, UploadError, UploadStore, merge_ranges,
    missing_ranges, sniff_container)

MiB = 1024 * 1024
# An ISO BMFF ftyp box of 24 bytes as written by common encoders.
MP4_HEAD = b'\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2avc1mp41'
NOW = datetime(2024, 5, 6, 9, 30)
KEYRING = envelope.Keyring({'kupload': bytes(range(32))})


def plaintext(path):
    "Return the decrypted bytes of the envelope at path"
    with envelope.open_decrypted(KEYRING, path) as reader:
        return reader.read()


def windows(data, size=64):
    "The windows of data at every size bytes, to look for in files"
    return {data[i:i + size] for i in range(0, len(data) - size + 1, size)}


def leaks(directory, data, size=64):
    "Return the files under directory holding a window of data"
    found = []
    pieces = windows(data, size)
    for path in Path(directory).rglob('*'):
        if path.is_file():
            content = path.read_bytes()
            if any(piece in content for piece in pieces):
                found.append(path)
    return found


def video_bytes(size, seed=0):
    "Return size bytes of random data that sniff as an MP4 file"
    body = random.Random(seed).randbytes(max(size - len(MP4_HEAD), 0))
    return (MP4_HEAD + body)[:size]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class ShortReadStream(io.RawIOBase):
    "A stream returning at most step bytes per read, like a socket"

    def __init__(self, data, step):
        self._data = memoryview(data)
        self._step = step

    def readable(self):
        return True

    def read(self, size=-1):
        size = self._step if size < 0 else min(size, self._step)
        block, self._data = self._data[:size], self._data[size:]
        return bytes(block)


class GeneratorStream:
    "A read(n) stream over a generator of byte blocks"

    def __init__(self, blocks):
        self._blocks = blocks
        self._pending = b''

    def read(self, size):
        if not self._pending:
            self._pending = next(self._blocks, b'')
        block = self._pending[:size]
        self._pending = self._pending[size:]
        return block


def pattern_blocks(pattern, start, length):
    """Yield the bytes [start, start + length) of a video made of pattern
    repeated, with MP4_HEAD over its first bytes, in blocks of len(pattern)
    (pattern and start are multiples of the block)."""
    position, end = start, start + length
    while position < end:
        block = pattern[:end - position]
        if position == 0:
            block = MP4_HEAD + block[len(MP4_HEAD):]
        yield block
        position += len(block)


class SniffTestCase(unittest.TestCase):
    "Test container sniffing"

    def test_containers(self):
        "Real-looking headers are recognised"
        ebml = b'\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01'
        cases = [
            (MP4_HEAD + b'\x00\x00\x00\x08free', 'mp4'),
            (b'\x00\x00\x00\x1cftypmp42\x00\x00\x00\x00mp42isom', 'mp4'),
            (b'\x00\x00\x00\x14ftyp3gp4\x00\x00\x00\x00', 'mp4'),
            (b'\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ', 'mov'),
            (ebml + b'\x42\x82\x84webm\x42\x87\x81\x04', 'webm'),
            (ebml + b'\x42\x82\x88matroska\x42\x87\x81\x04', 'matroska'),
            (b'RIFF\x24\x10\x00\x00AVI LIST\x10\x00\x00\x00hdrl', 'avi'),
            ]
        for head, expected in cases:
            with self.subTest(head=head):
                self.assertEqual(sniff_container(head), expected)

    def test_not_video(self):
        "Other files, short heads and the empty head are refused"
        cases = [
            b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR',
            b'%PDF-1.7\n',
            b'Hello, this is a plain text file, not a video at all.\n',
            b'',
            b'\x00\x00\x00\x18ftyp',
            b'RIFF\x24\x10\x00\x00WAVEfmt ',
            b'\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic',
            b'\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00M4A mp42',
            b'\xff\xd8\xff\xe0\x00\x10JFIF',
            ]
        for head in cases:
            with self.subTest(head=head):
                self.assertIsNone(sniff_container(head))

    def test_only_head_is_read(self):
        "Only the first SNIFF_BYTES bytes decide"
        head = b'\x1a\x45\xdf\xa3' + bytes(SNIFF_BYTES) + b'webm'
        self.assertEqual(sniff_container(head), 'matroska')
        self.assertIsNone(sniff_container(bytes(SNIFF_BYTES) + MP4_HEAD))


class RangesTestCase(unittest.TestCase):
    "Test range arithmetic"

    def test_merge(self):
        "Ranges are sorted and overlapping or adjacent ones joined"
        cases = [
            ([], []),
            ([[0, 10]], [[0, 10]]),
            ([(5, 10), (0, 5)], [[0, 10]]),
            ([[0, 4], [6, 10]], [[0, 4], [6, 10]]),
            ([[0, 10], [2, 3]], [[0, 10]]),
            ([[8, 12], [0, 4], [3, 9]], [[0, 12]]),
            ([[0, 4], [4, 4], [20, 30], [10, 20]], [[0, 4], [10, 30]]),
            ([[3, 3]], []),
            ([[0, 5], [0, 5]], [[0, 5]]),
            ]
        for ranges, expected in cases:
            with self.subTest(ranges=ranges):
                self.assertEqual(merge_ranges(ranges), expected)

    def test_merge_invalid(self):
        "Negative or reversed ranges are refused"
        for ranges in [[[-1, 3]], [[5, 2]]]:
            with self.subTest(ranges=ranges), self.assertRaises(ValueError):
                merge_ranges(ranges)

    def test_missing(self):
        "Missing ranges are the gaps of [0, total)"
        cases = [
            ([], 10, [[0, 10]]),
            ([[0, 10]], 10, []),
            ([[0, 4]], 10, [[4, 10]]),
            ([[6, 10]], 10, [[0, 6]]),
            ([[2, 4], [6, 8]], 10, [[0, 2], [4, 6], [8, 10]]),
            ([[6, 8], [2, 4], [3, 5]], 10, [[0, 2], [5, 6], [8, 10]]),
            ([[0, 20]], 10, []),
            ([[12, 20]], 10, [[0, 10]]),
            ([], 0, []),
            ]
        for ranges, total, expected in cases:
            with self.subTest(ranges=ranges, total=total):
                self.assertEqual(missing_ranges(ranges, total), expected)


class UploadStoreTestCase(unittest.TestCase):
    "Test the upload store"

    def setUp(self):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.tmp = Path(directory.name)
        self.root = self.tmp / 'uploads'
        self.store = UploadStore(self.root, max_size=1000, chunk_size=100,
            keyring=KEYRING, unit=100)

    def assertUploadError(self, code, status, function, *args, **kwargs):
        with self.assertRaises(UploadError) as context:
            function(*args, **kwargs)
        self.assertEqual(context.exception.code, code)
        self.assertEqual(context.exception.status, status)
        return context.exception

    def create(self, data, session_id='session-1', content_type='video/mp4'):
        return self.store.create(
            session_id, len(data), sha256(data), content_type, NOW)

    def write(self, data, offset, length, session_id='session-1'):
        return self.store.write_chunk(
            session_id, offset, io.BytesIO(data[offset:offset + length]),
            length)

    def test_error(self):
        "UploadError carries a code, a status and parameters"
        error = UploadError('too_large', 413, {'max_size': 5})
        self.assertEqual(
            (error.code, error.status, error.params),
            ('too_large', 413, {'max_size': 5}))
        self.assertEqual(UploadError('incomplete', 409).params, {})
        self.assertIn('too_large', str(error))

    def test_create(self):
        "A new session has nothing received"
        data = video_bytes(250)
        state = self.create(data)
        self.assertEqual(state, {
                'id': 'session-1',
                'total_size': 250,
                'received': [],
                'received_bytes': 0,
                'missing': [[0, 250]],
                'complete_ready': False,
                'completed': False,
                'verified': False,
                'container': None,
                'content_type': 'video/mp4',
                'sha256': sha256(data),
                'created_at': '2024-05-06T09:30:00',
                })
        self.assertEqual(self.store.state('session-1'), state)
        part = self.root / 'session-1' / 'data.part'
        # the envelope: its header then room for 3 sealed chunks
        self.assertEqual(part.stat().st_size,
            envelope.encrypted_size(250, 100))
        self.assertEqual(
            envelope.read_header(part)[:3], (1, 100, 250))
        meta = json.loads((self.root / 'session-1' / 'meta.json').read_text())
        self.assertEqual(meta['received'], [])
        self.assertEqual(meta['total_size'], 250)

    def test_create_validation(self):
        "Invalid create requests are refused with their code"
        valid = {
            'session_id': 'abcd1234', 'total_size': 10, 'sha256': 'a' * 64,
            'content_type': 'video/mp4', 'now': NOW}
        cases = [
            ({'session_id': 'short'}, 'session_id', 400),
            ({'session_id': 'x' * 65}, 'session_id', 400),
            ({'session_id': '../../etc'}, 'session_id', 400),
            ({'session_id': 'abcd1234\n'}, 'session_id', 400),
            ({'session_id': 'abcd 1234'}, 'session_id', 400),
            ({'session_id': None}, 'session_id', 400),
            ({'total_size': 0}, 'size_invalid', 400),
            ({'total_size': -5}, 'size_invalid', 400),
            ({'total_size': '10'}, 'size_invalid', 400),
            ({'total_size': 10.0}, 'size_invalid', 400),
            ({'total_size': True}, 'size_invalid', 400),
            ({'total_size': 1001}, 'too_large', 413),
            ({'sha256': 'a' * 63}, 'sha256_invalid', 400),
            ({'sha256': 'g' * 64}, 'sha256_invalid', 400),
            ({'sha256': None}, 'sha256_invalid', 400),
            ({'content_type': 'image/png'}, 'content_type', 415),
            ({'content_type': 'text/plain'}, 'content_type', 415),
            ({'content_type': None}, 'content_type', 415),
            ]
        for change, code, status in cases:
            with self.subTest(change=change):
                self.assertUploadError(
                    code, status, self.store.create, **{**valid, **change})
        self.assertEqual(list(self.root.iterdir()), [])
        error = self.assertUploadError(
            'too_large', 413, self.store.create,
            **{**valid, 'total_size': 1001})
        self.assertEqual(error.params, {'max_size': 1000})

        for content_type in sorted(upload.CONTENT_TYPES):
            with self.subTest(content_type=content_type):
                state = self.store.create(
                    **{**valid, 'content_type': content_type,
                        'session_id': 'id-' + content_type.replace('/', '_')
                        .replace('.', '_')})
                self.assertEqual(state['content_type'], content_type)
        self.store.create(**{**valid, 'session_id': 'A_b-' + 'z' * 60,
                'total_size': 1000})

    def test_create_idempotent(self):
        "Creating again with the same parameters returns the same state"
        data = video_bytes(250)
        first = self.create(data)
        self.write(data, 0, 100)
        again = self.store.create(
            'session-1', 250, sha256(data).upper(),
            'Video/MP4; codecs="avc1"', NOW + timedelta(hours=1))
        self.assertEqual(again, self.store.state('session-1'))
        self.assertEqual(again['received'], [[0, 100]])
        self.assertEqual(again['created_at'], first['created_at'])

    def test_create_conflict(self):
        "Creating again with other parameters is a conflict"
        data = video_bytes(250)
        self.create(data)
        for args in [
                (251, sha256(data), 'video/mp4'),
                (250, sha256(b'other'), 'video/mp4'),
                (250, sha256(data), 'video/webm')]:
            with self.subTest(args=args):
                self.assertUploadError(
                    'session_exists', 409,
                    self.store.create, 'session-1', *args, NOW)
        self.assertEqual(self.store.state('session-1')['total_size'], 250)

    def test_reverse_order(self):
        "Chunks sent from last to first give back the same file"
        data = video_bytes(950, seed=1)
        self.create(data)
        for offset in reversed(range(0, 950, 100)):
            state = self.write(data, offset, min(100, 950 - offset))
            self.assertEqual(state['received'], [[offset, 950]])
        self.assertTrue(state['complete_ready'])
        self.assertEqual(state['missing'], [])
        self.assertEqual(state['received_bytes'], 950)
        self.assertFalse(state['completed'])

        state = self.store.complete('session-1')
        self.assertTrue(state['completed'])
        self.assertFalse(state['verified'])
        self.assertEqual(self.store.complete('session-1'), state)
        state = self.store.verify('session-1')
        self.assertEqual((state['verified'], state['container']),
            (True, 'mp4'))
        self.assertEqual(self.store.verify('session-1'), state)
        dest = self.tmp / 'out.enc'
        self.store.take('session-1', dest)
        self.assertEqual(plaintext(dest), data)

    def taken(self, session_id='session-1'):
        "Complete, verify and take a session; return its plaintext"
        self.store.complete(session_id)
        self.store.verify(session_id)
        dest = self.tmp / ('%s.enc' % session_id)
        self.store.take(session_id, dest)
        return plaintext(dest)

    def test_resend_chunk(self):
        "A chunk sent twice is stored once, never sealed twice"
        data = video_bytes(300, seed=2)
        self.create(data)
        self.write(data, 0, 100)
        part = self.root / 'session-1' / 'data.part'
        sealed = part.read_bytes()
        # other bytes for a received unit: left as they were
        state = self.store.write_chunk(
            'session-1', 0, io.BytesIO(MP4_HEAD + bytes(76)), 100)
        self.assertEqual(part.read_bytes(), sealed)
        self.assertEqual(state['received'], [[0, 100]])
        self.assertEqual(state['received_bytes'], 100)
        self.write(data, 200, 100)
        self.write(data, 200, 100)
        state = self.write(data, 100, 100)
        self.assertEqual(state['received'], [[0, 300]])
        self.assertEqual(self.taken(), data)

    def test_short_reads(self):
        "A stream returning few bytes per read is read to the end"
        data = video_bytes(100, seed=3)
        self.create(data)
        state = self.store.write_chunk(
            'session-1', 0, ShortReadStream(data, 7), 100)
        self.assertEqual(state['received'], [[0, 100]])
        self.assertEqual(self.taken(), data)

    def test_longer_stream(self):
        "Bytes after the chunk length are not written"
        data = video_bytes(150, seed=4)
        self.create(data)
        self.store.write_chunk('session-1', 100, io.BytesIO(b'\xff' * 150), 50)
        self.write(data, 0, 100)
        self.store.complete('session-1')
        self.assertUploadError('checksum_mismatch', 422, self.store.verify,
            'session-1')

    def test_alignment(self):
        "A chunk must start at a unit and be whole units or end the file"
        data = video_bytes(250)
        self.create(data)
        for offset, length in [(50, 100), (0, 50), (100, 50), (150, 100)]:
            with self.subTest(offset=offset, length=length):
                error = self.assertUploadError(
                    'chunk_alignment', 400, self.write, data, offset, length)
                self.assertEqual(error.params, {'unit': 100})
        self.assertEqual(self.store.state('session-1')['received'], [])
        self.assertEqual(self.write(data, 200, 50)['received'], [[200, 250]])

    def test_chunk_size_rounded(self):
        "The largest chunk is rounded down to whole units"
        store = UploadStore(self.root, max_size=1000, chunk_size=250,
            keyring=KEYRING, unit=100)
        self.assertEqual(store.chunk_size, 200)
        store = UploadStore(self.root, max_size=1000, chunk_size=50,
            keyring=KEYRING, unit=100)
        self.assertEqual(store.chunk_size, 100)

    def test_never_plaintext(self):
        "No stored file ever holds the plaintext, at any step"
        data = video_bytes(1000, seed=12)
        self.store = UploadStore(self.root, max_size=1000, chunk_size=200,
            keyring=KEYRING, unit=100)
        self.create(data)
        for offset in [400, 0, 800, 200, 600]:
            self.write(data, offset, 200)
            self.assertEqual(leaks(self.tmp, data), [])
        self.store.complete('session-1')
        self.assertEqual(leaks(self.tmp, data), [])
        self.assertEqual(self.taken(), data)
        self.assertEqual(leaks(self.tmp, data), [])

    def test_interrupted_chunk(self):
        "A stream ending early records nothing"
        data = video_bytes(300, seed=5)
        self.create(data)
        self.write(data, 100, 100)
        for offset in [0, 200]:
            with self.subTest(offset=offset):
                error = self.assertUploadError(
                    'chunk_truncated', 400, self.store.write_chunk,
                    'session-1', offset,
                    io.BytesIO(data[offset:offset + 60]), 100)
                self.assertEqual(
                    error.params, {'length': 100, 'received': 60})
                state = self.store.state('session-1')
                self.assertEqual(state['received'], [[100, 200]])
        # Too short even to be sniffed
        self.assertUploadError(
            'chunk_truncated', 400, self.store.write_chunk,
            'session-1', 0, io.BytesIO(data[:10]), 100)
        self.assertEqual(
            self.store.state('session-1')['received'], [[100, 200]])

    def test_out_of_range(self):
        "Chunks not within the file are refused"
        data = video_bytes(250)
        self.create(data)
        for offset, length in [(200, 51), (250, 1), (-1, 10), (1000, 10)]:
            with self.subTest(offset=offset, length=length):
                self.assertUploadError(
                    'chunk_out_of_range', 416, self.store.write_chunk,
                    'session-1', offset, io.BytesIO(bytes(length)), length)
        self.assertEqual(self.store.state('session-1')['received'], [])
        self.write(data, 200, 50)

    def test_chunk_size(self):
        "Chunks larger than chunk_size or empty are refused"
        self.create(video_bytes(250))
        for length in [101, 0, -1]:
            with self.subTest(length=length):
                error = self.assertUploadError(
                    'chunk_size', 413, self.store.write_chunk,
                    'session-1', 0, io.BytesIO(video_bytes(200)), length)
                self.assertEqual(error.params, {'chunk_size': 100})
        self.assertEqual(self.store.state('session-1')['received'], [])

    def test_not_video(self):
        "A first chunk that is not a video is refused and nothing stored"
        png = b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR' + bytes(84)
        self.store.create('session-1', 200, 'a' * 64, 'video/mp4', NOW)
        before = self.store.state('session-1')
        self.assertUploadError(
            'not_video', 415, self.store.write_chunk,
            'session-1', 0, io.BytesIO(png), 100)
        self.assertEqual(self.store.state('session-1'), before)
        part = self.root / 'session-1' / 'data.part'
        self.assertEqual(part.read_bytes()[envelope.HEADER_SIZE:],
            bytes(envelope.encrypted_size(200, 100) - envelope.HEADER_SIZE))
        # Only the first chunk is sniffed.
        state = self.store.write_chunk(
            'session-1', 100, io.BytesIO(png), 100)
        self.assertEqual(state['received'], [[100, 200]])

    def test_unknown_session(self):
        "Unknown sessions are reported"
        for function, args in [
                (self.store.state, ()),
                (self.store.write_chunk, (0, io.BytesIO(MP4_HEAD), 24)),
                (self.store.complete, ()),
                (self.store.verify, ()),
                (self.store.take, (self.tmp / 'out.mp4',)),
                ]:
            with self.subTest(function=function.__name__):
                self.assertUploadError(
                    'session_unknown', 404, function, 'missing-1', *args)
                self.assertUploadError(
                    'session_id', 400, function, '../uploads', *args)

    def test_write_after_complete(self):
        "A completed session takes no more chunks"
        data = video_bytes(100)
        self.create(data)
        self.write(data, 0, 100)
        self.store.complete('session-1')
        self.assertUploadError(
            'session_completed', 409, self.write, data, 0, 100)

    def test_writer_overtaken_by_complete(self):
        "A chunk being written when the session completes is stopped"
        store = UploadStore(self.root, max_size=4 * MiB, chunk_size=2 * MiB,
            keyring=KEYRING)
        data = video_bytes(4 * MiB, seed=6)
        store.create('session-1', len(data), sha256(data), 'video/mp4', NOW)
        store.write_chunk('session-1', 0, io.BytesIO(data[:2 * MiB]),
            2 * MiB)
        states = []

        def blocks():
            # While a request sends the last chunk, a retry of it is
            # written in full and another request completes the session
            # between two of the first request's blocks.
            yield data[2 * MiB:3 * MiB]
            store.write_chunk('session-1', 2 * MiB,
                io.BytesIO(data[2 * MiB:]), 2 * MiB)
            states.append(store.complete('session-1'))
            yield data[3 * MiB:]

        self.assertUploadError(
            'session_completed', 409, store.write_chunk,
            'session-1', 2 * MiB, GeneratorStream(blocks()), 2 * MiB)
        self.assertEqual(len(states), 1)
        self.assertTrue(states[0]['completed'])
        self.assertTrue(store.verify('session-1')['verified'])

    def test_checksum_mismatch(self):
        "A file not matching its digest is deleted"
        data = video_bytes(200, seed=7)
        self.store.create('session-1', 200, 'b' * 64, 'video/mp4', NOW)
        self.write(data, 0, 100)
        self.write(data, 100, 100)
        self.store.complete('session-1')
        error = self.assertUploadError(
            'checksum_mismatch', 422, self.store.verify, 'session-1')
        self.assertEqual(
            error.params, {'expected': 'b' * 64, 'actual': sha256(data)})
        self.assertUploadError(
            'session_unknown', 404, self.store.state, 'session-1')
        self.assertEqual(list(self.root.iterdir()), [])
        # The client may start again with the same id.
        self.create(data)

    def test_verify_damaged(self):
        "A stored chunk that fails its authentication is deleted"
        data = video_bytes(100)
        self.create(data)
        self.write(data, 0, 100)
        self.store.complete('session-1')
        with open(self.root / 'session-1' / 'data', 'r+b') as file:
            file.seek(envelope.HEADER_SIZE + 10)
            file.write(b'garbage!')
        error = self.assertUploadError(
            'damaged', 422, self.store.verify, 'session-1')
        self.assertEqual(error.params, {'reason': 'tampered'})
        self.assertEqual(list(self.root.iterdir()), [])

    def test_verify_not_completed(self):
        "Verifying needs a completed session"
        data = video_bytes(100)
        self.create(data)
        self.write(data, 0, 100)
        self.assertUploadError(
            'not_completed', 409, self.store.verify, 'session-1')

    def test_old_format_removed(self):
        "A session of the plaintext format is unknown and cleaned at once"
        data = video_bytes(100)
        self.create(data)
        meta_path = self.root / 'session-1' / 'meta.json'
        meta = json.loads(meta_path.read_text())
        meta['version'] = 1
        meta_path.write_text(json.dumps(meta))
        self.assertUploadError(
            'session_unknown', 404, self.store.state, 'session-1')
        self.assertEqual(self.store.clean(NOW, timedelta(hours=24)),
            ['session-1'])
        self.assertEqual(list(self.root.iterdir()), [])

    def test_complete_incomplete(self):
        "Completing before every byte is received lists what is missing"
        data = video_bytes(500)
        self.create(data)
        self.write(data, 100, 100)
        self.write(data, 300, 100)
        error = self.assertUploadError(
            'incomplete', 409, self.store.complete, 'session-1')
        self.assertEqual(
            error.params, {'missing': [[0, 100], [200, 300], [400, 500]]})
        self.assertFalse(self.store.state('session-1')['completed'])
        self.write(data, 100, 100)

    def test_take(self):
        "Taking moves the completed file and removes the session"
        data = video_bytes(150, seed=8)
        self.create(data)
        self.write(data, 0, 100)
        self.assertUploadError(
            'not_completed', 409, self.store.take, 'session-1',
            self.tmp / 'out.mp4')
        self.write(data, 100, 50)
        self.store.complete('session-1')
        self.assertUploadError(
            'not_completed', 409, self.store.take, 'session-1',
            self.tmp / 'out.mp4')
        self.store.verify('session-1')
        dest = self.tmp / 'storage' / 'ab' / 'recording.mp4'
        self.assertEqual(self.store.take('session-1', dest), dest)
        self.assertEqual(plaintext(dest), data)
        self.assertEqual(list(self.root.iterdir()), [])
        self.assertUploadError(
            'session_unknown', 404, self.store.take, 'session-1', dest)

    def test_take_other_file_system(self):
        "Taking copies the file when it cannot be renamed"
        data = video_bytes(100, seed=9)
        self.create(data)
        self.write(data, 0, 100)
        self.store.complete('session-1')
        self.store.verify('session-1')
        source = self.root / 'session-1' / 'data'
        replace = os.replace

        def cross_device(src, dst):
            if Path(src) == source:
                raise OSError(errno.EXDEV, 'Invalid cross-device link')
            return replace(src, dst)

        dest = self.tmp / 'storage' / 'recording.mp4'
        with mock.patch.object(upload.os, 'replace', cross_device):
            self.store.take('session-1', str(dest))
        self.assertEqual(plaintext(dest), data)
        self.assertEqual(os.listdir(dest.parent), ['recording.mp4'])
        self.assertEqual(list(self.root.iterdir()), [])

    def test_abort(self):
        "Aborting removes the session, even twice"
        data = video_bytes(100)
        self.create(data)
        self.write(data, 0, 100)
        self.store.abort('session-1')
        self.assertEqual(list(self.root.iterdir()), [])
        self.store.abort('session-1')
        self.assertUploadError(
            'session_unknown', 404, self.store.state, 'session-1')

    def test_expiry(self):
        "Sessions not completed in time expire and are cleaned"
        data = video_bytes(100)
        for session_id, hours in [
                ('old-session', 0), ('old-completed', 0),
                ('new-session', 20)]:
            self.store.create(
                session_id, 100, sha256(data), 'video/mp4',
                NOW + timedelta(hours=hours))
        self.write(data, 0, 100, session_id='old-completed')
        self.store.complete('old-completed')
        # A leftover of a creation interrupted by a crash
        staging = self.root / '.new-lost-session-0123'
        staging.mkdir()
        (staging / 'meta.json').write_text(
            json.dumps({'created_at': NOW.isoformat()}))
        max_age = timedelta(hours=24)

        self.assertEqual(self.store.expired(NOW + max_age, max_age), [])
        later = NOW + max_age + timedelta(seconds=1)
        self.assertEqual(self.store.expired(later, max_age), ['old-session'])
        aware = later.replace(tzinfo=timezone.utc).astimezone(
            timezone(timedelta(hours=8)))
        self.assertEqual(self.store.expired(aware, max_age), ['old-session'])

        self.assertEqual(self.store.clean(later, max_age), ['old-session'])
        self.assertEqual(
            sorted(p.name for p in self.root.iterdir()),
            ['new-session', 'old-completed'])
        self.assertEqual(self.store.clean(later, max_age), [])
        much_later = NOW + timedelta(days=30)
        self.assertEqual(
            self.store.clean(much_later, max_age), ['new-session'])
        self.assertTrue(self.store.state('old-completed')['completed'])

    def test_too_fragmented(self):
        "The number of disjoint ranges is bounded"
        store = UploadStore(self.root, max_size=1000, chunk_size=100,
            keyring=KEYRING, unit=10, max_ranges=2)
        data = video_bytes(500)
        store.create('session-1', 500, sha256(data), 'video/mp4', NOW)
        for offset in [100, 300]:
            store.write_chunk(
                'session-1', offset, io.BytesIO(data[offset:offset + 10]),
                10)
        self.assertUploadError(
            'too_fragmented', 409, store.write_chunk,
            'session-1', 450, io.BytesIO(data[450:460]), 10)
        self.assertEqual(
            store.state('session-1')['received'], [[100, 110], [300, 310]])
        state = store.write_chunk(
            'session-1', 110, io.BytesIO(data[110:200]), 90)
        self.assertEqual(state['received'], [[100, 200], [300, 310]])

    def test_concurrent_writers(self):
        "Chunks of one session may be written at the same time"
        store = UploadStore(self.root, max_size=64 * MiB, chunk_size=4 * MiB,
            keyring=KEYRING)
        data = video_bytes(8 * MiB, seed=10)
        store.create('session-1', len(data), sha256(data), 'video/mp4', NOW)
        barrier = threading.Barrier(2)
        errors = []

        def send(offset):
            chunk = data[offset:offset + 4 * MiB]
            # Both requests stream their blocks interleaved.
            stream = ShortReadStream(chunk, 256 * 1024)
            try:
                barrier.wait()
                store.write_chunk('session-1', offset, stream, len(chunk))
            except Exception as exception:
                errors.append(exception)

        threads = [
            threading.Thread(target=send, args=(offset,))
            for offset in [0, 4 * MiB]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(errors, [])
        self.assertEqual(
            store.state('session-1')['received'], [[0, len(data)]])
        store.complete('session-1')
        self.assertTrue(store.verify('session-1')['verified'])

    def test_flat_memory(self):
        "Memory does not grow with the size of the file or of the chunks"
        total, chunk_size = 64 * MiB, 8 * MiB
        store = UploadStore(
            self.root, max_size=total, chunk_size=chunk_size,
            keyring=KEYRING)
        pattern = random.Random(11).randbytes(MiB)
        digest = hashlib.sha256()
        for block in pattern_blocks(pattern, 0, total):
            digest.update(block)

        tracemalloc.start()
        try:
            store.create(
                'big-session', total, digest.hexdigest(), 'video/mp4', NOW)
            for offset in range(0, total, chunk_size):
                state = store.write_chunk(
                    'big-session', offset,
                    GeneratorStream(
                        pattern_blocks(pattern, offset, chunk_size)),
                    chunk_size)
            store.complete('big-session')
            state = store.verify('big-session')
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        self.assertTrue(state['verified'])
        self.assertLess(peak, 12 * MiB)
