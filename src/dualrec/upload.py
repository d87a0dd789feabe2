# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Server side of the resumable chunked upload of sales recordings.

Recordings are video files of up to several GiB sent over unreliable
networks, so the client cuts them into chunks that it may send in any order,
resend after a failure and resume after a restart.  This module only knows
about files: the web route validates the user, calls it and translates the
``UploadError.code`` it raises.  It needs no database and only uses the
standard library, so it can be tested without the framework.

Memory stays flat whatever the file size: chunks are streamed to disk in
blocks of at most ``BLOCK_SIZE`` bytes and the checksum is computed by
reading the file back in blocks of the same size.

Layout of one session, ``root/<session_id>/``:

``data.part``
    the file being received, preallocated as a sparse file of the total size
    so that every chunk is written in place at its offset;
``data``
    the same file, renamed by ``complete`` before checking it (which stops
    late chunk writers); it is final once meta.json says 'completed';
``meta.json``
    total size, expected SHA-256, content type, creation time and the merged
    list of received ``[start, end)`` byte ranges.  It is replaced atomically
    and a range is recorded only after its bytes are synced to disk, so a
    crash never records bytes that are not there;
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
import hashlib
import json
import os
import re
import secrets
import shutil
from datetime import datetime, timezone
from pathlib import Path

from .errors import CodedError

__all__ = [
    'BLOCK_SIZE', 'CONTENT_TYPES', 'MAX_RANGES', 'SNIFF_BYTES',
    'UploadError', 'UploadStore', 'merge_ranges', 'missing_ranges',
    'sniff_container']

# Number of leading bytes sniff_container looks at.
SNIFF_BYTES = 64
# Largest block read from a stream or a file at once: bounds memory use.
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
_META_VERSION = 1


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
    """Resumable chunked uploads kept under the ``root`` directory.

    ``max_size`` is the largest file accepted and ``chunk_size`` the
    largest chunk, both in bytes; ``max_ranges`` bounds the number of
    disjoint received ranges of a session (see MAX_RANGES).

    Every method taking a session id raises 'session_id' (400) for an id
    that is not 8 to 64 characters among ``A-Z a-z 0-9 _ -``, which also
    keeps ids from escaping ``root``.
    """

    def __init__(self, root, max_size, chunk_size, max_ranges=MAX_RANGES):
        for name, value in [
                ('max_size', max_size),
                ('chunk_size', chunk_size),
                ('max_ranges', max_ranges)]:
            if not _is_int(value) or value <= 0:
                raise ValueError('%s must be a positive int' % name)
        self.root = Path(root)
        self.max_size = max_size
        self.chunk_size = chunk_size
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
                return json.load(file)
        except FileNotFoundError:
            raise _unknown(session_id) from None

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
        type (parameters and case are ignored).  Creating an existing
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
            'received': [],
            'completed': False,
            }
        if directory.exists():
            return self._existing(session_id, directory, meta)
        if shutil.disk_usage(self.root).free < total_size:
            raise UploadError('storage_full', 507)

        # The session is built aside and renamed into place so that it
        # appears complete or not at all, even to a concurrent create.
        staging = self.root / ('%s%s-%s' % (
                _STAGING, session_id, secrets.token_hex(8)))
        staging.mkdir()
        try:
            (staging / _LOCK).touch()
            with _storage_errors(), open(staging / _DATA_PART, 'wb') as file:
                file.truncate(total_size)
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

        ``stream`` only needs ``read(n)``; it is read in blocks of at most
        BLOCK_SIZE bytes and bytes after ``length`` are left unread.
        Chunks may come in any order and be sent again: the same bytes land
        at the same place and the received ranges are merged.  Chunks of
        one session may be written concurrently.  Return the new state.

        Errors: 'session_unknown' (404), 'session_completed' (409),
        'chunk_size' (413) for a length not in ``1..chunk_size``,
        'chunk_out_of_range' (416) for a chunk not within the file,
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
                try:
                    fd = os.open(part, os.O_WRONLY)
                except FileNotFoundError:
                    # complete() renamed it: the session is being completed
                    raise UploadError('session_completed', 409) from None
            try:
                self._copy(session_id, lock, part, fd, stream, offset, length)
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

    def _copy(self, session_id, lock, part, fd, stream, offset, length):
        pending = b''
        if offset == 0:
            pending = _read_exact(stream, min(SNIFF_BYTES, length))
            if len(pending) < min(SNIFF_BYTES, length):
                raise UploadError(
                    'chunk_truncated', 400,
                    {'length': length, 'received': len(pending)})
            if sniff_container(pending) is None:
                raise UploadError('not_video', 415)
        own = os.fstat(fd)
        position, remaining = offset, length
        while remaining:
            if pending:
                block, pending = pending, b''
            else:
                # Read without the lock: the network is the slow part.
                block = stream.read(min(BLOCK_SIZE, remaining))
                if not block:
                    raise UploadError(
                        'chunk_truncated', 400,
                        {'length': length, 'received': length - remaining})
                if len(block) > remaining:
                    block = block[:remaining]
            # The shared lock lets chunks be written side by side but not
            # while complete() checks the file; the file check stops a
            # writer that was overtaken by complete().
            with lock.hold(shared=True):
                if not self._same_file(part, own):
                    raise UploadError('session_completed', 409)
                with _storage_errors():
                    _pwrite_all(fd, block, position)
            position += len(block)
            remaining -= len(block)

    def complete(self, session_id):
        """Check the received file and return its path.

        The file must have every byte ('incomplete' (409) otherwise, with
        the 'missing' ranges in params), start with a known container
        signature and match the expected SHA-256, computed by reading it
        in blocks of BLOCK_SIZE.  On a failed check the whole session is
        deleted and the client must start again: 'not_video' (415) or
        'checksum_mismatch' (422, with 'expected' and 'actual' digests).

        Completing again returns the same path, which stays valid until
        ``take`` or ``abort``.  Chunk writes wait while the file is being
        checked and are refused afterwards.
        """
        directory = self._directory(session_id)
        part, done = directory / _DATA_PART, directory / _DATA
        with _SessionLock(session_id, directory) as lock, lock.hold():
            meta = self._read_meta(session_id, directory)
            if meta['completed']:
                return done
            missing = missing_ranges(meta['received'], meta['total_size'])
            if missing:
                raise UploadError('incomplete', 409, {'missing': missing})
            # Renaming stops writers that are in the middle of a chunk: they
            # check the name before each block.  After a crash during a
            # previous call, only 'data' is left.
            if part.exists():
                os.rename(part, done)
            try:
                with open(done, 'rb', buffering=0) as file:
                    head = _read_exact(file, SNIFF_BYTES)
                    if sniff_container(head) is None:
                        self._remove(directory)
                        raise UploadError('not_video', 415)
                    file.seek(0)
                    digest = hashlib.sha256()
                    buffer = bytearray(BLOCK_SIZE)
                    view = memoryview(buffer)
                    while size := file.readinto(buffer):
                        digest.update(view[:size])
                    os.fsync(file.fileno())
                actual = digest.hexdigest()
                if actual != meta['sha256']:
                    self._remove(directory)
                    raise UploadError(
                        'checksum_mismatch', 422,
                        {'expected': meta['sha256'], 'actual': actual})
                meta['completed'] = True
                self._write_meta(directory, meta)
            except UploadError:
                raise
            except BaseException:
                # e.g. an I/O error: let the client retry completing
                with contextlib.suppress(OSError):
                    os.rename(done, part)
                raise
        return done

    def take(self, session_id, dest):
        """Move the completed file to ``dest`` and remove the session.

        Parent directories of ``dest`` are created and an existing file is
        replaced.  Across file systems the file is copied (streamed) to a
        temporary name beside ``dest`` then renamed, so ``dest`` is never
        partial.  Return ``dest`` as a Path.  Raise 'not_completed' (409)
        before ``complete`` succeeded and 'session_unknown' (404).
        """
        directory = self._directory(session_id)
        dest = Path(dest)
        with _SessionLock(session_id, directory) as lock, lock.hold():
            meta = self._read_meta(session_id, directory)
            if not meta['completed']:
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
        older than ``now - max_age`` (a timedelta).  Completed sessions
        are left to the caller, which is expected to ``take`` them.
        Unreadable sessions are skipped.
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
            if not meta.get('completed') and created < limit:
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
