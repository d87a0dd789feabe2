# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Server side of the resumable chunked upload of sales recordings.

Recordings are video files of up to several GiB sent over unreliable
networks, so the client cuts them into chunks that it may send in any order,
resend after a failure and resume after a restart.  This module only knows
about files: the web route validates the user, calls it and translates the
``UploadError.code`` it raises.  It needs no database, so it can be tested
without the framework.

No plaintext is ever written: the file is received as an encrypted
envelope (``dualrec.crypto.envelope``, a data key of its own wrapped by
the active media master key).  Its size is known from the start, so the
header is written when the session is created and every envelope chunk is
sealed at its index as it arrives; a chunk sent must therefore start at a
multiple of the envelope chunk size ``unit`` and be whole units (or end
the file).  The completed file is a valid envelope, taken as is by the
media pipeline.

Memory stays flat whatever the file size: chunks are sealed and written
one unit at a time, and ``verify`` computes the SHA-256 of the plaintext
by decrypting the file in memory, in blocks.  Completing is cheap (every
range received); the checks of size, SHA-256 and container run in
``verify``, meant for a queued task.

Layout of one session, ``root/<session_id>/``:

``data.part``
    the envelope being received, preallocated as a sparse file of its
    encrypted size so that every chunk is written in place;
``data``
    the same file, renamed by ``complete`` (which stops late chunk
    writers); it is checked by ``verify``;
``meta.json``
    total size, expected SHA-256, content type, creation time, the merged
    list of received ``[start, end)`` plaintext byte ranges, whether it is
    completed and verified.  It is replaced atomically and a range is
    recorded only after its bytes are synced to disk, so a crash never
    records bytes that are not there;
``lock``
    the file locked with ``fcntl.flock``: exclusively to update
    ``meta.json`` or to complete, shared to write a block of data (many
    chunks of one session may be written at the same time).

Sizes and offsets are in bytes.  Times are ``datetime``; naive values are
taken as UTC and aware ones converted to naive UTC.  POSIX only (flock).
"""
import contextlib
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
from datetime import datetime, timezone
from pathlib import Path

from .crypto import envelope
from .errors import CodedError

__all__ = [
    'BLOCK_SIZE', 'CONTENT_TYPES', 'MAX_RANGES', 'SNIFF_BYTES',
    'UploadError', 'UploadStore', 'merge_ranges', 'missing_ranges',
    'sniff_container']

# Number of leading bytes sniff_container looks at.
SNIFF_BYTES = 64
# The envelope chunk size: a chunk is read and sealed one such unit at a
# time, which bounds memory use.
BLOCK_SIZE = 1024 * 1024
# A client sending tiny chunks at scattered offsets could make meta.json,
# which is read and rewritten for every chunk, grow without limit.
MAX_RANGES = 4096
CONTENT_TYPES = frozenset({
        'video/mp4',
        'video/quicktime',
        'video/webm',
        'video/x-matroska',
        'video/avi',
        'video/x-msvideo',
        'application/octet-stream',
        })

_SESSION_ID = re.compile(r'[A-Za-z0-9_-]{8,64}')
_SHA256 = re.compile(r'[0-9a-fA-F]{64}')
_EBML_MAGIC = b'\x1a\x45\xdf\xa3'
# ISO BMFF is also used by still images and audio-only files, which are not
# recordings even though they start with an ftyp box.
_NOT_VIDEO_BRANDS = frozenset({
        b'heic', b'heix', b'heim', b'heis', b'mif1', b'avif',  # images
        b'M4A ', b'M4B ', b'M4P ',  # audio
        })
_DATA_PART = 'data.part'
_DATA = 'data'
_META = 'meta.json'
_LOCK = 'lock'
# Prefixes of work directories in root; a session id never starts with '.'.
_STAGING = '.new-'
_TRASH = '.del-'
# 1: plaintext data (before encryption on arrival), never taken again
_META_VERSION = 2


class UploadError(CodedError):
    """A refused upload request.

    ``code`` is a stable short string for the web layer to translate,
    ``status`` the HTTP status to answer with and ``params`` a JSON-able
    dict of details (e.g. the missing ranges).
    """

    def __init__(self, code, status, params=None):
        super().__init__(code, code, params, status)

    def __str__(self):
        if self.params:
            return '%s (%s) %s' % (self.code, self.status, self.params)
        return '%s (%s)' % (self.code, self.status)


def sniff_container(head):
    """Return the container of a file from its first bytes, or None.

    Only ``head[:SNIFF_BYTES]`` is looked at.  The answer is 'mp4' (ISO
    base media file: MP4, 3GP...), 'mov' (QuickTime, brand 'qt  '),
    'webm', 'matroska' or 'avi'.  None is returned for anything else,
    including ISO files whose major brand is a still image (HEIF, AVIF) or
    audio only (M4A), old QuickTime files that do not start with an ftyp
    box and heads too short to hold the signature (empty included).
    """
    head = bytes(head[:SNIFF_BYTES])
    if len(head) >= 12 and head[4:8] == b'ftyp':
        brand = head[8:12]
        if brand in _NOT_VIDEO_BRANDS:
            return None
        if brand == b'qt  ':
            return 'mov'
        return 'mp4'
    if head.startswith(_EBML_MAGIC):
        # The DocType element comes right after the magic in the EBML
        # header, well within the first 64 bytes.
        if b'webm' in head:
            return 'webm'
        return 'matroska'
    if len(head) >= 12 and head[:4] == b'RIFF' and head[8:12] == b'AVI ':
        return 'avi'
    return None


def merge_ranges(ranges):
    """Return the sorted union of ``[start, end)`` ranges.

    Overlapping and adjacent ranges are joined and empty ones dropped; the
    result is a new list of ``[start, end]`` lists (JSON-able).  A range
    with a negative start or an end before its start raises ValueError.
    """
    pairs = []
    for start, end in ranges:
        if start < 0 or end < start:
            raise ValueError('invalid range [%r, %r)' % (start, end))
        if start < end:
            pairs.append((start, end))
    pairs.sort()
    merged = []
    for start, end in pairs:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def missing_ranges(ranges, total):
    """Return the ``[start, end)`` ranges of ``[0, total)`` not in ranges.

    ``ranges`` need not be merged; the parts beyond ``total`` are ignored.
    A total of 0 or less has nothing missing.
    """
    missing = []
    position = 0
    for start, end in merge_ranges(ranges):
        if start >= total:
            break
        if start > position:
            missing.append([position, start])
        position = max(position, end)
    if position < total:
        missing.append([position, total])
    return missing


def _covered(ranges, start, end):
    "Whether ``[start, end)`` lies within one of the merged ``ranges``."
    return any(low <= start and end <= high for low, high in ranges)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _utc_naive(value):
    if not isinstance(value, datetime):
        raise TypeError('a datetime is expected, not %r' % (value,))
    if value.utcoffset() is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _fsync_dir(path):
    # Makes a rename or a new entry in the directory durable.
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pwrite_all(fd, data, position):
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, position)
        view = view[written:]
        position += written


def _read_exact(stream, size):
    # A stream may return fewer bytes than asked without being at its end.
    parts = []
    remaining = size
    while remaining:
        data = stream.read(remaining)
        if not data:
            break
        data = data[:remaining]
        parts.append(data)
        remaining -= len(data)
    return b''.join(parts)


@contextlib.contextmanager
def _storage_errors():
    # A full disk must be answered, not turn into an internal error; the
    # data file is sparse so space is only taken when chunks are written.
    try:
        yield
    except OSError as exception:
        if exception.errno in {errno.ENOSPC, errno.EDQUOT}:
            raise UploadError('storage_full', 507) from exception
        raise


def _unknown(session_id):
    return UploadError('session_unknown', 404, {'id': session_id})


class _SessionLock:
    "The lock file of one session, opened once and locked many times"

    def __init__(self, session_id, directory):
        self.session_id = session_id
        self.path = directory / _LOCK
        try:
            self.fd = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            raise _unknown(session_id) from None

    def close(self):
        os.close(self.fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    @contextlib.contextmanager
    def hold(self, shared=False):
        """Lock the session, exclusively unless ``shared``.

        Raise 'session_unknown' if the session directory was removed (and
        maybe created again) since the lock file was opened: the lock then
        no longer guards the session.
        """
        fcntl.flock(self.fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            try:
                current = os.stat(self.path)
            except FileNotFoundError:
                raise _unknown(self.session_id) from None
            own = os.fstat(self.fd)
            if (current.st_dev, current.st_ino) != (own.st_dev, own.st_ino):
                raise _unknown(self.session_id)
            yield
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)


class UploadStore:
    """Resumable chunked uploads kept encrypted under ``root``.

    ``max_size`` is the largest file accepted and ``chunk_size`` the
    largest chunk, both in bytes, rounded down to a multiple of ``unit``
    (at least one unit); ``unit`` is the envelope chunk size; ``keyring``
    the media master keys (envelope.Keyring) whose active key wraps the
    data key of new sessions; ``max_ranges`` bounds the number of disjoint
    received ranges of a session (see MAX_RANGES).

    Every method taking a session id raises 'session_id' (400) for an id
    that is not 8 to 64 characters among ``A-Z a-z 0-9 _ -``, which also
    keeps ids from escaping ``root``.
    """

    def __init__(self, root, max_size, chunk_size, keyring,
            unit=envelope.DEFAULT_CHUNK_SIZE, max_ranges=MAX_RANGES):
        for name, value in [
                ('max_size', max_size),
                ('chunk_size', chunk_size),
                ('unit', unit),
                ('max_ranges', max_ranges)]:
            if not _is_int(value) or value <= 0:
                raise ValueError('%s must be a positive int' % name)
        if unit > envelope.MAX_CHUNK_SIZE:
            raise ValueError('unit must be at most %d bytes'
                % envelope.MAX_CHUNK_SIZE)
        self.root = Path(root)
        self.max_size = max_size
        self.unit = unit
        self.chunk_size = max(unit, chunk_size // unit * unit)
        self.keyring = keyring
        self.max_ranges = max_ranges
        self.root.mkdir(parents=True, exist_ok=True)

    # Paths and metadata

    def _directory(self, session_id):
        if (not isinstance(session_id, str)
                or not _SESSION_ID.fullmatch(session_id)):
            raise UploadError('session_id', 400)
        return self.root / session_id

    def _read_meta(self, session_id, directory):
        try:
            with open(directory / _META, 'rb') as file:
                meta = json.load(file)
        except FileNotFoundError:
            raise _unknown(session_id) from None
        if meta.get('version') != _META_VERSION:
            # an older session held plaintext: ``clean`` removes it
            raise _unknown(session_id)
        return meta

    def _write_meta(self, directory, meta):
        # Readers never lock, so they must see either the old or the new
        # file, never a partial one.
        temporary = directory / (_META + '.tmp')
        with _storage_errors():
            with open(temporary, 'w', encoding='utf-8') as file:
                json.dump(meta, file, separators=(',', ':'))
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, directory / _META)
            _fsync_dir(directory)

    def _remove(self, directory):
        # Renaming first makes the session disappear at once for readers
        # and lets the id be created again while the files are deleted.
        trash = self.root / ('%s%s-%s' % (
                _TRASH, directory.name, secrets.token_hex(8)))
        try:
            os.rename(directory, trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    @staticmethod
    def _state(session_id, meta):
        received = merge_ranges(meta['received'])
        missing = missing_ranges(received, meta['total_size'])
        return {
            'id': session_id,
            'total_size': meta['total_size'],
            'received': received,
            'received_bytes': sum(end - start for start, end in received),
            'missing': missing,
            'complete_ready': not missing,
            'completed': meta['completed'],
            'verified': meta.get('verified', False),
            'container': meta.get('container'),
            'content_type': meta['content_type'],
            'sha256': meta['sha256'],
            'created_at': meta['created_at'],
            }

    # Public API

    def state(self, session_id):
        """Return the state of a session as a JSON-able dict.

        Keys: 'id', 'total_size', 'received' and 'missing' (merged lists of
        ``[start, end)`` ranges), 'received_bytes', 'complete_ready' (every
        byte received), 'completed' (checked by ``complete``),
        'content_type', 'sha256' (lower case hex) and 'created_at' (ISO,
        naive UTC).  Raise 'session_unknown' (404).  No lock is taken:
        meta.json is always replaced atomically.
        """
        directory = self._directory(session_id)
        return self._state(session_id, self._read_meta(session_id, directory))

    def create(self, session_id, total_size, sha256, content_type, now):
        """Open an upload session and return its state.

        ``total_size`` is the file size in bytes, ``sha256`` its expected
        digest in hex (any case) and ``content_type`` the declared MIME
        type (parameters and case are ignored).  The envelope header (a
        new data key wrapped by the active master key) is written now.  Creating an existing
        session again with the same size, digest and type returns its
        state, so a client may safely retry; with other values it raises
        'session_exists' (409).

        Other errors: 'size_invalid' (400), 'too_large' (413),
        'sha256_invalid' (400), 'content_type' (415) and 'storage_full'
        (507) when the disk has less free space than the file needs (a
        hint only: other sessions may still fill it).
        """
        directory = self._directory(session_id)
        if not _is_int(total_size) or total_size <= 0:
            raise UploadError('size_invalid', 400)
        if total_size > self.max_size:
            raise UploadError('too_large', 413, {'max_size': self.max_size})
        if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
            raise UploadError('sha256_invalid', 400)
        if isinstance(content_type, str):
            content_type = content_type.split(';', 1)[0].strip().lower()
        if content_type not in CONTENT_TYPES:
            raise UploadError(
                'content_type', 415, {'allowed': sorted(CONTENT_TYPES)})
        meta = {
            'version': _META_VERSION,
            'total_size': total_size,
            'sha256': sha256.lower(),
            'content_type': content_type,
            'created_at': _utc_naive(now).isoformat(),
            'unit': self.unit,
            'received': [],
            'completed': False,
            'verified': False,
            'container': None,
            }
        if directory.exists():
            return self._existing(session_id, directory, meta)
        sealer = envelope.ChunkSealer.new(self.keyring, total_size, self.unit)
        if shutil.disk_usage(self.root).free < sealer.length:
            raise UploadError('storage_full', 507)

        # The session is built aside and renamed into place so that it
        # appears complete or not at all, even to a concurrent create.
        staging = self.root / ('%s%s-%s' % (
                _STAGING, session_id, secrets.token_hex(8)))
        staging.mkdir()
        try:
            (staging / _LOCK).touch()
            with _storage_errors(), open(staging / _DATA_PART, 'wb') as file:
                file.truncate(sealer.length)
                file.write(sealer.header)
                os.fsync(file.fileno())
            self._write_meta(staging, meta)
            try:
                os.rename(staging, directory)
            except OSError as exception:
                if exception.errno not in {errno.EEXIST, errno.ENOTEMPTY}:
                    raise
                shutil.rmtree(staging, ignore_errors=True)
                return self._existing(session_id, directory, meta)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _fsync_dir(self.root)
        return self._state(session_id, meta)

    def _existing(self, session_id, directory, meta):
        existing = self._read_meta(session_id, directory)
        keys = ['total_size', 'sha256', 'content_type']
        if any(existing[k] != meta[k] for k in keys):
            raise UploadError('session_exists', 409, {'id': session_id})
        return self._state(session_id, existing)

    def write_chunk(self, session_id, offset, stream, length):
        """Write ``length`` bytes read from ``stream`` at ``offset``.

        ``stream`` only needs ``read(n)``; it is read one ``unit`` at a
        time and bytes after ``length`` are left unread.
        Chunks may come in any order and be sent again: the units already
        received are read and left as they are (never sealed twice), the
        others are sealed at their index, and the received ranges are
        merged.  Chunks of one session may be written concurrently.
        Return the new state.

        Errors: 'session_unknown' (404), 'session_completed' (409),
        'chunk_size' (413) for a length not in ``1..chunk_size``,
        'chunk_out_of_range' (416) for a chunk not within the file,
        'chunk_alignment' (400) for a chunk that does not start at a
        multiple of ``unit`` or is not whole units without ending the file,
        'not_video' (415) when the chunk at offset 0 does not start with a
        known container signature (nothing is written),
        'chunk_truncated' (400) when the stream ends early and
        'too_fragmented' (409) beyond ``max_ranges`` ranges.  After any
        error nothing is recorded as received; exceptions raised by the
        stream itself (e.g. a client disconnection) propagate likewise.
        """
        directory = self._directory(session_id)
        part = directory / _DATA_PART
        with _SessionLock(session_id, directory) as lock:
            with lock.hold():
                meta = self._read_meta(session_id, directory)
                if meta['completed']:
                    raise UploadError('session_completed', 409)
                total = meta['total_size']
                if (not _is_int(length) or length <= 0
                        or length > self.chunk_size):
                    raise UploadError(
                        'chunk_size', 413, {'chunk_size': self.chunk_size})
                if (not _is_int(offset) or offset < 0
                        or offset + length > total):
                    raise UploadError(
                        'chunk_out_of_range', 416, {'total_size': total})
                unit = meta['unit']
                if offset % unit or (
                        length % unit and offset + length != total):
                    raise UploadError(
                        'chunk_alignment', 400, {'unit': unit})
                received = meta['received']
                try:
                    fd = os.open(part, os.O_RDWR)
                except FileNotFoundError:
                    # complete() renamed it: the session is being completed
                    raise UploadError('session_completed', 409) from None
            try:
                self._copy(lock, part, fd, stream, offset, length, received)
                with _storage_errors():
                    os.fsync(fd)
                own = os.fstat(fd)
            finally:
                os.close(fd)

            with lock.hold():
                meta = self._read_meta(session_id, directory)
                if meta['completed'] or not self._same_file(part, own):
                    raise UploadError('session_completed', 409)
                received = merge_ranges(
                    meta['received'] + [[offset, offset + length]])
                if len(received) > self.max_ranges:
                    raise UploadError(
                        'too_fragmented', 409,
                        {'max_ranges': self.max_ranges})
                meta['received'] = received
                self._write_meta(directory, meta)
        return self._state(session_id, meta)

    @staticmethod
    def _same_file(path, stat):
        try:
            current = os.stat(path)
        except FileNotFoundError:
            return False
        return (current.st_dev, current.st_ino) == (stat.st_dev, stat.st_ino)

    def _copy(self, lock, part, fd, stream, offset, length, received):
        # The header authenticates itself when its data key is unwrapped.
        sealer = envelope.ChunkSealer(
            self.keyring, os.pread(fd, envelope.HEADER_SIZE, 0))
        own = os.fstat(fd)
        unit = sealer.chunk_size
        position, remaining = offset, length
        while remaining:
            # Read without the lock: the network is the slow part.  One
            # unit at a time bounds memory.
            wanted = min(unit, remaining)
            block = _read_exact(stream, wanted)
            if len(block) < wanted:
                raise UploadError(
                    'chunk_truncated', 400, {'length': length,
                        'received': length - remaining + len(block)})
            if position == 0 and sniff_container(block) is None:
                raise UploadError('not_video', 415)
            if not _covered(received, position, position + wanted):
                where, sealed = sealer.seal(position, block)
                # The shared lock lets chunks be written side by side but
                # not while complete() renames the file; the file check
                # stops a writer that was overtaken by complete().
                with lock.hold(shared=True):
                    if not self._same_file(part, own):
                        raise UploadError('session_completed', 409)
                    with _storage_errors():
                        _pwrite_all(fd, sealed, where)
            position += wanted
            remaining -= wanted

    def complete(self, session_id):
        """Close the session once every byte is received; return its state.

        Only the received ranges are looked at ('incomplete' (409)
        otherwise, with the 'missing' ranges in params): the checks of the
        content are ``verify``'s.  Completing again returns the state.
        Chunk writes wait while the session is being completed and are
        refused afterwards.
        """
        directory = self._directory(session_id)
        part, done = directory / _DATA_PART, directory / _DATA
        with _SessionLock(session_id, directory) as lock, lock.hold():
            meta = self._read_meta(session_id, directory)
            if meta['completed']:
                return self._state(session_id, meta)
            missing = missing_ranges(meta['received'], meta['total_size'])
            if missing:
                raise UploadError('incomplete', 409, {'missing': missing})
            # Renaming stops writers that are in the middle of a chunk: they
            # check the name before each block.  After a crash during a
            # previous call, only 'data' is left.
            if part.exists():
                os.rename(part, done)
                _fsync_dir(directory)
            meta['completed'] = True
            self._write_meta(directory, meta)
        return self._state(session_id, meta)

    def verify(self, session_id):
        """Check the completed file and return its state.

        The file is decrypted in memory (never written in plaintext): its
        size, the SHA-256 of its plaintext against the expected one and
        its container signature are checked; the state's 'container' then
        tells what it is.  On a failed check the whole session is deleted
        and the client must start again: 'not_video' (415),
        'checksum_mismatch' (422, with 'expected' and 'actual' digests) or
        'damaged' (422) when a stored chunk fails its authentication.
        'not_completed' (409) before ``complete``.  Verifying again
        returns the state.
        """
        directory = self._directory(session_id)
        done = directory / _DATA
        with _SessionLock(session_id, directory) as lock, lock.hold():
            meta = self._read_meta(session_id, directory)
            if not meta['completed']:
                raise UploadError('not_completed', 409)
            if meta['verified']:
                return self._state(session_id, meta)
            try:
                header = envelope.read_header(done)
                actual, head = envelope.digest_file(
                    self.keyring, done, SNIFF_BYTES)
            except envelope.EnvelopeError as exception:
                if exception.code == 'unknown_key':
                    # the configuration lost a key: not the client's fault
                    raise
                self._remove(directory)
                raise UploadError('damaged', 422,
                    {'reason': exception.code}) from exception
            if header.size != meta['total_size']:
                self._remove(directory)
                raise UploadError('damaged', 422, {'reason': 'size'})
            container = sniff_container(head)
            if container is None:
                self._remove(directory)
                raise UploadError('not_video', 415)
            if actual != meta['sha256']:
                self._remove(directory)
                raise UploadError(
                    'checksum_mismatch', 422,
                    {'expected': meta['sha256'], 'actual': actual})
            meta['verified'] = True
            meta['container'] = container
            self._write_meta(directory, meta)
        return self._state(session_id, meta)

    def take(self, session_id, dest):
        """Move the verified file (an envelope) to ``dest`` and remove the
        session.

        Parent directories of ``dest`` are created and an existing file is
        replaced.  Across file systems the file is copied (streamed) to a
        temporary name beside ``dest`` then renamed, so ``dest`` is never
        partial.  Return ``dest`` as a Path.  Raise 'not_completed' (409)
        before ``verify`` succeeded and 'session_unknown' (404).
        """
        directory = self._directory(session_id)
        dest = Path(dest)
        with _SessionLock(session_id, directory) as lock, lock.hold():
            meta = self._read_meta(session_id, directory)
            if not meta['verified']:
                raise UploadError('not_completed', 409)
            dest.parent.mkdir(parents=True, exist_ok=True)
            _move(directory / _DATA, dest)
            self._remove(directory)
        return dest

    def abort(self, session_id):
        """Remove a session and its data; a missing session is no error.

        A session being completed is removed once the check is done.
        """
        directory = self._directory(session_id)
        try:
            lock = _SessionLock(session_id, directory)
        except UploadError:
            # No lock file: only a broken directory can be left.
            self._remove(directory)
            return
        with lock, contextlib.suppress(UploadError), lock.hold():
            self._remove(directory)

    def expired(self, now, max_age):
        """Return the sorted ids of sessions not completed in time.

        Those are the sessions not completed whose creation is strictly
        older than ``now - max_age`` (a timedelta), and whatever their age
        the sessions of an older format, which held plaintext.  Completed
        sessions are left to the caller, which is expected to ``verify``
        and ``take`` them.  Unreadable sessions are skipped.
        """
        limit = _utc_naive(now) - max_age
        ids = []
        for entry in self._sessions():
            try:
                with open(entry / _META, 'rb') as file:
                    meta = json.load(file)
                created = datetime.fromisoformat(meta['created_at'])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if meta.get('version') != _META_VERSION or (
                    not meta.get('completed') and created < limit):
                ids.append(entry.name)
        return sorted(ids)

    def clean(self, now, max_age):
        """Remove the ``expired`` sessions and return their ids.

        Leftovers of interrupted creations older than ``max_age`` and of
        interrupted removals are deleted too.
        """
        limit = _utc_naive(now) - max_age
        removed = []
        for session_id in self.expired(now, max_age):
            directory = self.root / session_id
            if self._outdated(directory):
                self._remove(directory)
                removed.append(session_id)
                continue
            try:
                with _SessionLock(session_id, directory) as lock, \
                        lock.hold():
                    # The client may have completed it in the meantime.
                    meta = self._read_meta(session_id, directory)
                    created = datetime.fromisoformat(meta['created_at'])
                    if meta['completed'] or created >= limit:
                        continue
                    self._remove(directory)
            except UploadError:
                continue
            removed.append(session_id)
        self._clean_leftovers(limit)
        return removed

    @staticmethod
    def _outdated(directory):
        try:
            with open(directory / _META, 'rb') as file:
                return json.load(file).get('version') != _META_VERSION
        except (OSError, ValueError, AttributeError):
            return False

    def _sessions(self):
        for entry in self.root.iterdir():
            if _SESSION_ID.fullmatch(entry.name) and entry.is_dir():
                yield entry

    def _clean_leftovers(self, limit):
        for entry in self.root.iterdir():
            if entry.name.startswith(_TRASH):
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.startswith(_STAGING):
                # A creation may be running right now: only old ones are
                # leftovers.  Without metadata, the directory time tells.
                try:
                    with open(entry / _META, 'rb') as file:
                        created = datetime.fromisoformat(
                            json.load(file)['created_at'])
                except (OSError, ValueError, KeyError, TypeError):
                    try:
                        created = datetime.fromtimestamp(
                            entry.stat().st_mtime, timezone.utc).replace(
                            tzinfo=None)
                    except OSError:
                        continue
                if created < limit:
                    shutil.rmtree(entry, ignore_errors=True)


def _move(source, dest):
    try:
        os.replace(source, dest)
    except OSError as exception:
        if exception.errno != errno.EXDEV:
            raise
        temporary = dest.with_name(
            '.%s.%s.tmp' % (dest.name, secrets.token_hex(8)))
        try:
            with _storage_errors():
                shutil.copyfile(source, temporary)
                with open(temporary, 'rb') as file:
                    os.fsync(file.fileno())
            os.replace(temporary, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        os.unlink(source)
    _fsync_dir(dest.parent)
