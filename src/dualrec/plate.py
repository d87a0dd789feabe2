# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Smart move-car plates (挪车牌): serials, signed QR payloads, the rate
limit of the scan page and the fees of the privacy-number calls.

This module needs no database and imports nothing from Tryton.  Every
refusal raises PlateError whose ``code`` is a short stable string that the
Tryton layer maps to a translated message.

Section A reads and writes serials ('NC2026000001': a prefix of capital
letters, the four digits of the production year, a six-digit counter) and
their ranges.  Section B signs the URL printed on a plate as a QR code: the
serial and an HMAC made with a key derived from the server's master key,
so that plates can be neither forged nor enumerated.  Section C limits how
often a plate may be scanned or called from one client.  Section D
computes the fee of a call record, per connected call or per started
minute.
"""
import base64
import decimal
import hashlib
import hmac
import re
import threading
import time
from collections import OrderedDict
from decimal import Decimal

from .crypto.keys import check_key, derive_key
from .errors import CodedError

__all__ = [
    'MAX_RANGE', 'PlateError', 'RateLimiter', 'SerialRange', 'call_fee',
    'derive_plate_key', 'format_serial', 'merge_ranges', 'parse_serial',
    'plate_url', 'sign_serial', 'split_count', 'verify_payload']


class PlateError(CodedError):
    """A serial, range, QR payload or fee was refused.

    ``code`` is a short stable identifier (e.g. 'bad_serial') selecting a
    translated message; ``params`` holds the values to format it with.
    """


# ---------------------------------------------------------------------------
# A. Serials and ranges
# ---------------------------------------------------------------------------

COUNTER_DIGITS = 6
MAX_COUNTER = 10 ** COUNTER_DIGITS - 1
MAX_RANGE = 100_000  # plates in one range (a batch, an assignment)
_SERIAL_RE = re.compile(r'([A-Z]{1,4})(\d{4})(\d{6})', re.ASCII)
_PREFIX_RE = re.compile(r'[A-Z]{1,4}', re.ASCII)


def parse_serial(text):
    """Return (prefix, year, counter) of the serial ``text``.

    Surrounding spaces are ignored and the letters may be lower case:
    ' nc2026000001' gives ('NC', 2026, 1).  Raises
    PlateError('bad_serial') for anything else, the counter 0 included.
    """
    if not isinstance(text, str):
        raise TypeError(f'serial must be a str, not {type(text).__name__}')
    serial = text.strip().upper()
    match = _SERIAL_RE.fullmatch(serial)
    if not match or int(match.group(3)) == 0:
        raise PlateError('bad_serial',
            "A serial is 1 to 4 letters, a year and 6 digits "
            "(e.g. NC2026000001).", {'serial': text[:20]})
    prefix, year, counter = match.groups()
    return prefix, int(year), int(counter)


def format_serial(prefix, year, counter):
    "Return the serial of prefix, year and counter: 'NC', 2026, 1 -> NC2026000001."
    if not _PREFIX_RE.fullmatch(prefix or ''):
        raise PlateError('bad_prefix',
            "The prefix of a serial is 1 to 4 capital letters.",
            {'prefix': prefix})
    if isinstance(year, bool) or not isinstance(year, int) \
            or not 2000 <= year <= 9999:
        raise PlateError('bad_year', "The year of a serial is 2000 to 9999.",
            {'year': year})
    if isinstance(counter, bool) or not isinstance(counter, int) \
            or not 1 <= counter <= MAX_COUNTER:
        raise PlateError('bad_counter',
            f"The counter of a serial is 1 to {MAX_COUNTER}.",
            {'counter': counter})
    return f'{prefix}{year:04d}{counter:0{COUNTER_DIGITS}d}'


class SerialRange:
    """The serials first to last, both included, of one prefix and year.

    SerialRange.parse('NC2026000001', 'NC2026010000') has 10,000 serials;
    iterate it for the serials, ``in`` tests a serial.  A range holds at
    most MAX_RANGE serials.
    """
    __slots__ = ('prefix', 'year', 'start', 'end')

    def __init__(self, prefix, year, start, end):
        format_serial(prefix, year, start)
        format_serial(prefix, year, end)
        if end < start:
            raise PlateError('bad_range',
                "The last serial of a range comes after its first.",
                {'first': format_serial(prefix, year, start),
                    'last': format_serial(prefix, year, end)})
        if end - start + 1 > MAX_RANGE:
            raise PlateError('range_too_large',
                f"A range holds at most {MAX_RANGE} serials.",
                {'max': MAX_RANGE})
        self.prefix, self.year, self.start, self.end = (
            prefix, year, start, end)

    @classmethod
    def parse(cls, first, last=None):
        "Return the range of the serials first to last (default: first)."
        prefix, year, start = parse_serial(first)
        if last is None or not str(last).strip():
            end = start
        else:
            prefix2, year2, end = parse_serial(last)
            if (prefix2, year2) != (prefix, year):
                raise PlateError('mixed_range',
                    "The first and last serials of a range have the same "
                    "prefix and year.", {'first': first, 'last': last})
        return cls(prefix, year, start, end)

    @property
    def first(self):
        return format_serial(self.prefix, self.year, self.start)

    @property
    def last(self):
        return format_serial(self.prefix, self.year, self.end)

    def __len__(self):
        return self.end - self.start + 1

    def __iter__(self):
        for counter in range(self.start, self.end + 1):
            yield format_serial(self.prefix, self.year, counter)

    def __contains__(self, serial):
        try:
            prefix, year, counter = parse_serial(serial)
        except (PlateError, TypeError):
            return False
        return ((prefix, year) == (self.prefix, self.year)
            and self.start <= counter <= self.end)

    def overlaps(self, other):
        return ((self.prefix, self.year) == (other.prefix, other.year)
            and self.start <= other.end and other.start <= self.end)

    def __eq__(self, other):
        if not isinstance(other, SerialRange):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def _key(self):
        return (self.prefix, self.year, self.start, self.end)

    def __str__(self):
        if self.start == self.end:
            return self.first
        return f'{self.first}-{self.last}'

    def __repr__(self):
        return f'SerialRange({self.first!r}, {self.last!r})'


def merge_ranges(serials):
    """Return the shortest sorted list of SerialRange holding the serials
    (an iterable of serial texts, duplicates allowed), e.g. to print the
    ranges an agent holds."""
    keys = sorted({parse_serial(s) for s in serials})
    ranges = []
    for prefix, year, counter in keys:
        last = ranges[-1] if ranges else None
        if last and (last[0], last[1]) == (prefix, year) \
                and last[3] + 1 == counter:
            last[3] = counter
        else:
            ranges.append([prefix, year, counter, counter])
    return [SerialRange(*r) for r in ranges]


def split_count(serials, count):
    """Return the first ``count`` serials of ``serials`` (sorted serial
    texts available, e.g. an agent's stock) as (taken, ranges): the
    serials and their merged ranges.  Raises PlateError('not_enough') when
    fewer are available."""
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
        raise PlateError('bad_count', "The count is a positive number.",
            {'count': count})
    serials = list(serials)
    if len(serials) < count:
        raise PlateError('not_enough',
            "Fewer plates are available than asked for.",
            {'count': count, 'available': len(serials)})
    taken = sorted(serials, key=parse_serial)[:count]
    return taken, merge_ranges(taken)


# ---------------------------------------------------------------------------
# B. The signed QR payload
# ---------------------------------------------------------------------------

PLATE_KEY_INFO = b'dualrec move-car plate v1'
SIGNATURE_SIZE = 12  # bytes of HMAC-SHA256: 96 bits, 16 base64 characters
SIGNATURE_LENGTH = 16
_SIGNATURE_RE = re.compile(r'[A-Za-z0-9_-]{16}', re.ASCII)


def _check_key(key):
    check_key(key, PlateError)


def derive_plate_key(master):
    """Return the 32-byte key signing the plates, derived from ``master``
    (the suite's PII master key) by HKDF-SHA256 with the info
    b'dualrec move-car plate v1': independent of every other key derived
    from the same master, and the same for the same master."""
    return derive_key(master, PLATE_KEY_INFO, PlateError)


def sign_serial(key, serial):
    """Return '<serial>.<signature>' for the serial, the part of the URL
    printed on the plate.  The signature is the unpadded urlsafe base64 of
    the first 12 bytes of HMAC-SHA256(key, b'plate.' + serial): without
    the key a forger's chance is 2**-96 per try."""
    _check_key(key)
    serial = format_serial(*parse_serial(serial))
    digest = hmac.new(bytes(key), f'plate.{serial}'.encode('ascii'),
        hashlib.sha256).digest()[:SIGNATURE_SIZE]
    return f'{serial}.' + base64.urlsafe_b64encode(digest).decode('ascii')


def plate_url(base_url, key, serial):
    """Return the URL of the scan page of the plate, e.g.
    'https://nc.example.cn/m/NC2026000001.<signature>'."""
    if not isinstance(base_url, str) or not base_url.startswith(
            ('https://', 'http://')):
        raise PlateError('bad_base_url',
            "The base URL of the scan page starts with https://.",
            {'url': base_url})
    return f'{base_url.rstrip("/")}/{sign_serial(key, serial)}'


def verify_payload(key, text):
    """Return the serial of a scanned payload: '<serial>.<signature>' or a
    URL ending with it (a query or fragment is ignored).  Raises
    PlateError('forged') when the payload is malformed or its signature
    does not match; nothing of the payload is trusted before."""
    _check_key(key)
    if not isinstance(text, str):
        raise TypeError(f'payload must be a str, not {type(text).__name__}')
    forged = PlateError('forged', "This QR code is not a genuine plate.",
        status=404)
    text = text.strip().split('#', 1)[0].split('?', 1)[0]
    tail = text.rsplit('/', 1)[-1]
    if not tail.isascii() or tail.count('.') != 1:
        raise forged
    serial, signature = tail.split('.')
    if not _SIGNATURE_RE.fullmatch(signature):
        raise forged
    try:
        expected = sign_serial(key, serial)
    except PlateError:
        raise forged from None
    if serial != serial.strip().upper() or not hmac.compare_digest(
            expected, tail):
        raise forged
    return serial


# ---------------------------------------------------------------------------
# C. Rate limit
# ---------------------------------------------------------------------------

class RateLimiter:
    """At most ``limit`` hits per key in any ``window`` seconds (a sliding
    window log), e.g. 5 calls per plate and client address in 10 minutes.

    hit(key) records a hit and returns 0 when it is allowed, or the
    seconds to wait when it is refused (a refused hit is not recorded, so
    a client that keeps trying is not locked out for ever).  The keys
    kept are bounded by ``max_keys``, dropping the least recently used, so
    a flood of addresses cannot exhaust the memory.  Thread-safe; the
    clock is injectable for the tests.
    """

    def __init__(self, limit, window, max_keys=100_000,
            clock=time.monotonic):
        if isinstance(limit, bool) or not isinstance(limit, int) \
                or limit <= 0:
            raise ValueError(f'limit must be a positive int: {limit!r}')
        if not window > 0:
            raise ValueError(f'window must be positive: {window!r}')
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self.clock = clock
        self._hits = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key):
        now = self.clock()
        with self._lock:
            hits = self._hits.pop(key, None) or []
            hits = [t for t in hits if t > now - self.window]
            if len(hits) >= self.limit:
                self._hits[key] = hits
                # the oldest hit kept leaves the window in that long (> 0)
                return hits[0] + self.window - now
            hits.append(now)
            self._hits[key] = hits
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
            return 0

    def remaining(self, key):
        "Return the hits key may still make now."
        now = self.clock()
        with self._lock:
            hits = self._hits.get(key, [])
            return self.limit - sum(1 for t in hits if t > now - self.window)


# ---------------------------------------------------------------------------
# D. Fees of the calls
# ---------------------------------------------------------------------------

FEE_MODES = ('per_call', 'per_minute')
FEN = Decimal('0.01')


def call_units(duration):
    """Return the minutes started of a call of ``duration`` seconds (61 s
    are 2 minutes; a call not connected, 0 s, has none)."""
    if isinstance(duration, bool) or not isinstance(duration, int) \
            or duration < 0:
        raise PlateError('bad_duration',
            "The duration is a number of seconds, 0 or more.",
            {'duration': duration})
    return -(-duration // 60)


def call_fee(duration, mode, price):
    """Return the fee (Decimal, to the fen) of a call of ``duration``
    seconds: nothing for a call not connected (duration 0); else the
    price per connected call, or the price times the minutes started
    ('per_minute': 61 s are 2 minutes).  ``price`` is a Decimal >= 0."""
    if isinstance(duration, bool) or not isinstance(duration, int) \
            or duration < 0:
        raise PlateError('bad_duration',
            "The duration is a number of seconds, 0 or more.",
            {'duration': duration})
    if mode not in FEE_MODES:
        raise PlateError('bad_fee_mode',
            "The fee is per call or per minute.", {'mode': mode})
    if not isinstance(price, Decimal) or not price.is_finite() or price < 0:
        raise PlateError('bad_price', "The price is an amount, 0 or more.",
            {'price': str(price)})
    if duration == 0:
        return Decimal('0.00')
    units = 1 if mode == 'per_call' else call_units(duration)
    return (price * units).quantize(FEN, rounding=decimal.ROUND_HALF_UP)
