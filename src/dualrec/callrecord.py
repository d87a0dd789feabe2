# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Call records (话单) of the privacy-number provider, as pushed one by one
or imported by file (CSV or the rows of an xlsx).

This module needs no database and imports nothing from Tryton.
parse_record turns one record (a mapping of the provider's field names, or
of the Chinese column headers of an export) into a CallRecord whose
telephone numbers are masked at once: a full number is never kept.  A
malformed record raises CallRecordError with its ``code`` and the field
concerned; read_rows yields those errors beside the good records so that
an import keeps every bad row with its reason and loses nothing.

The field names follow the AXB/AXN call-record push of the Chinese clouds
(call_id, sub_id, out_id, phone_no, secret_no, peer_no, call_time,
start_time, release_time, release_dir, release_cause, unconnected_cause).
In a move-car call the passer-by calls the owner: the owner's number A
(phone_no) is the callee and the passer-by's B (peer_no) the caller.
"""
import csv
import datetime as dt
import hashlib
import hmac
import io
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .errors import CodedError
from .pii import mask_phone

__all__ = ['CallRecord', 'CallRecordError', 'FIELDS', 'parse_record',
    'read_csv', 'read_rows', 'sign_push', 'verify_push']

CHINA = dt.timezone(dt.timedelta(hours=8))
FEN = Decimal('0.01')
MAX_DURATION = 24 * 3600  # seconds: a longer call is an error of the feed
PUSH_WINDOW = 300  # seconds a signed push is accepted around its timestamp


class CallRecordError(CodedError):
    "A call record was refused; ``params['field']`` names the field."


# canonical name -> the names accepted for it (provider's, Chinese headers)
FIELDS = {
    'call_id': ('call_id', 'callid', '通话ID', '话单ID', '呼叫ID'),
    'binding_id': ('binding_id', 'sub_id', 'subs_id', '绑定ID'),
    'out_id': ('out_id', 'outid', '业务ID', '挪车牌', '外部ID'),
    'caller': ('caller', 'peer_no', 'caller_number', '主叫号码'),
    'virtual': ('virtual', 'secret_no', 'virtual_number', '隐私号码',
        '中间号'),
    'callee': ('callee', 'phone_no', 'callee_number', '被叫号码'),
    'call_time': ('call_time', '呼叫时间'),
    'answer_time': ('answer_time', 'start_time', '接通时间'),
    'release_time': ('release_time', '释放时间', '挂断时间'),
    'release_dir': ('release_dir', '释放方向'),
    'release_cause': ('release_cause', '释放原因'),
    'unconnected_cause': ('unconnected_cause', '未接通原因'),
    'duration': ('duration', 'call_duration', '通话时长'),
    'cost': ('cost', 'fee', '费用'),
    }
_ALIASES = {alias.lower(): name
    for name, aliases in FIELDS.items() for alias in aliases}
RELEASE_DIRECTIONS = {'0': 'platform', '1': 'caller', '2': 'callee'}
UNCONNECTED_CAUSES = {'0': 'normal', '1': 'blacklist', '2': 'no_binding',
    '3': 'restricted', '4': 'other'}
_ID_RE = re.compile(r'[\w.:^-]{1,64}', re.ASCII)
_NUMBER_RE = re.compile(r'\+?[0-9*][0-9*-]{3,23}', re.ASCII)
_INT_RE = re.compile(r'\d{1,9}', re.ASCII)


@dataclass(frozen=True, slots=True)
class CallRecord:
    call_id: str
    binding_id: str | None
    out_id: str
    caller: str  # masked
    virtual: str  # masked
    callee: str  # masked
    call_time: dt.datetime  # aware, UTC
    answer_time: dt.datetime | None
    release_time: dt.datetime | None
    release_dir: str | None  # platform, caller or callee
    release_cause: str | None
    unconnected_cause: str | None
    duration: int  # seconds connected; 0: not connected
    cost: Decimal | None  # the provider's cost, to the fen

    @property
    def connected(self):
        return self.duration > 0


def _error(code, field, message, value=None):
    params = {'field': field}
    if value is not None:
        params['value'] = str(value)[:40]
    return CallRecordError(code, message, params)


def _text(values, field):
    value = values.get(field)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _identifier(values, field, required=False):
    value = _text(values, field)
    if value is None:
        if required:
            raise _error('missing_field', field, f"{field} is missing.")
        return None
    if not _ID_RE.fullmatch(value):
        raise _error('bad_field', field, f"{field} is not an identifier.",
            value)
    return value


def _number(values, field):
    "Return the number masked (as it arrived when already masked)."
    value = _text(values, field)
    if value is None:
        return ''
    value = value.replace(' ', '')
    if not _NUMBER_RE.fullmatch(value):
        # a bad number is not echoed: it may be a whole phone number
        raise _error('bad_number', field, f"{field} is not a phone number.")
    if '*' in value:
        return value
    if value.startswith('+86'):
        value = value[3:]
    elif value.startswith('86') and len(value) == 13:
        value = value[2:]
    return mask_phone(value)


def _moment(values, field, required=False):
    value = values.get(field)
    if isinstance(value, str):
        value = value.strip() or None
    if value is None:
        if required:
            raise _error('missing_field', field, f"{field} is missing.")
        return None
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(
                str(value).replace('/', '-').replace('Z', '+00:00'))
        except ValueError:
            raise _error('bad_time', field,
                f"{field} is not a time (YYYY-MM-DD HH:MM:SS).",
                value) from None
    if moment.tzinfo is None:
        # the providers of China give China time
        moment = moment.replace(tzinfo=CHINA)
    return moment.astimezone(dt.timezone.utc)


def _code(values, field, table=None):
    value = _text(values, field)
    if value is None:
        return None
    if table is not None:
        if value not in table:
            raise _error('bad_field', field, f"{field} is unknown.", value)
        return table[value]
    if not _ID_RE.fullmatch(value):
        raise _error('bad_field', field, f"{field} is not a code.", value)
    return value


def canonical(record):
    "Return the record with the canonical field names (unknown ones dropped)."
    values = {}
    for key, value in record.items():
        name = _ALIASES.get(str(key).strip().lower())
        if name and (value is not None and value != '' or name not in values):
            values[name] = value
    return values


def parse_record(record):
    """Return the CallRecord of ``record``, a mapping of field names (any
    of FIELDS' aliases) to texts, numbers or datetimes.

    Times without an offset are China time; the record's times are in
    order (call <= answer <= release).  The duration is the one given, or
    release - answer; it is 0 when the call was not answered.  Raises
    CallRecordError: 'missing_field', 'bad_field', 'bad_number',
    'bad_time', 'bad_duration', 'bad_cost', 'time_order'.
    """
    values = canonical(record)
    call_id = _identifier(values, 'call_id', required=True)
    binding_id = _identifier(values, 'binding_id')
    out_id = _identifier(values, 'out_id', required=True)
    caller = _number(values, 'caller')
    virtual = _number(values, 'virtual')
    callee = _number(values, 'callee')
    call_time = _moment(values, 'call_time', required=True)
    answer_time = _moment(values, 'answer_time')
    release_time = _moment(values, 'release_time')
    if answer_time and answer_time < call_time:
        raise _error('time_order', 'answer_time',
            "The call was answered before it was made.")
    if release_time and release_time < (answer_time or call_time):
        raise _error('time_order', 'release_time',
            "The call was released before it was made or answered.")
    if answer_time and not release_time:
        raise _error('missing_field', 'release_time',
            "An answered call has a release time.")
    duration = _text(values, 'duration')
    if duration is not None:
        if duration.endswith('.0'):
            duration = duration[:-2]
        if not _INT_RE.fullmatch(duration) \
                or int(duration) > MAX_DURATION:
            raise _error('bad_duration', 'duration',
                "The duration is a number of seconds.", duration)
        duration = int(duration)
        if duration and not answer_time:
            raise _error('bad_duration', 'duration',
                "A call not answered has no duration.", duration)
    elif answer_time:
        duration = int((release_time - answer_time).total_seconds())
        if duration > MAX_DURATION:
            raise _error('bad_duration', 'duration',
                "The call lasted more than a day.", duration)
    else:
        duration = 0
    cost = _text(values, 'cost')
    if cost is not None:
        try:
            cost = Decimal(cost)
        except InvalidOperation:
            cost = None
        if cost is None or not cost.is_finite() or cost < 0:
            raise _error('bad_cost', 'cost', "The cost is an amount.",
                values.get('cost'))
        cost = cost.quantize(FEN)
    return CallRecord(call_id=call_id, binding_id=binding_id, out_id=out_id,
        caller=caller, virtual=virtual, callee=callee, call_time=call_time,
        answer_time=answer_time, release_time=release_time,
        release_dir=_code(values, 'release_dir', RELEASE_DIRECTIONS),
        release_cause=_code(values, 'release_cause'),
        unconnected_cause=_code(
            values, 'unconnected_cause', UNCONNECTED_CAUSES),
        duration=duration, cost=cost)


def read_rows(rows, start=2):
    """Yield (row number, CallRecord or None, CallRecordError or None) for
    each mapping of ``rows``, numbered from ``start`` (2: the first row
    after a header).  Blank rows are skipped."""
    for number, row in enumerate(rows, start):
        if not any(v not in (None, '') and str(v).strip()
                for v in row.values()):
            continue
        try:
            yield number, parse_record(row), None
        except CallRecordError as error:
            yield number, None, error


def read_csv(data):
    """Return the rows (mappings) of CSV ``data``: bytes in UTF-8 (with or
    without BOM) or GB18030, as Chinese spreadsheets save them, or a
    text."""
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode('utf-8-sig')
        except UnicodeDecodeError:
            data = bytes(data).decode('gb18030')
    return csv.DictReader(io.StringIO(data, newline=''))


def sign_push(secret, timestamp, body):
    """Return the signature of a push: the hex HMAC-SHA256, keyed by the
    shared secret (a text), of the timestamp (Unix seconds, as sent in the
    header), a dot and the raw body (bytes)."""
    message = str(timestamp).encode('ascii') + b'.' + bytes(body)
    return hmac.new(str(secret).encode('utf-8'), message,
        hashlib.sha256).hexdigest()


def verify_push(secret, timestamp, signature, body, now,
        window=PUSH_WINDOW):
    """Check the signature of a push received at ``now`` (Unix seconds).

    The timestamp must be within ``window`` seconds of now (a replay later
    is refused; a replay within the window is harmless: the push is
    idempotent) and the signature (hex, 'sha256=' prefix allowed) is
    compared in constant time.  Raises CallRecordError 'push_unsigned'
    (no secret, timestamp or signature), 'push_expired' or
    'push_bad_signature'.
    """
    if not secret or not timestamp or not signature:
        raise CallRecordError('push_unsigned',
            "The push has no timestamp or signature.")
    timestamp = str(timestamp).strip()
    if not (timestamp.isascii() and timestamp.isdigit()
            and len(timestamp) <= 12):
        raise CallRecordError('push_expired',
            "The timestamp of the push is not a number of seconds.")
    if abs(now - int(timestamp)) > window:
        raise CallRecordError('push_expired',
            "The timestamp of the push is too old or in the future.")
    signature = str(signature).strip()
    if signature.lower().startswith('sha256='):
        signature = signature[7:]
    expected = sign_push(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode('ascii'),
            signature.lower().encode('ascii', 'replace')):
        raise CallRecordError('push_bad_signature',
            "The signature of the push does not match.")
