# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The call records (话单) of the plates' privacy numbers.

They arrive by the provider's signed push (routes.py) or by file import
(the wizard below); both go through ``Call.receive``, which parses each
record with dualrec.callrecord (numbers masked on arrival), finds the plate
of its out id, and stores it once: the unique call id and a bulk
``INSERT … ON CONFLICT DO NOTHING`` make a record pushed twice, imported
after a push or repeated in a file a duplicate, even under two concurrent
imports.  A malformed record, or one of a plate that is not ours, is kept
in dualrec.plate.call.rejected with its code and reason: nothing is lost.
"""
import datetime as dt
import hashlib
import io
import json
import re
import uuid

from sql import Null
from sql.operators import In

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool
from trytond.tools import grouped_slice
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from dualrec.callrecord import (
    FIELDS, CallRecordError, canonical, parse_record, read_csv)

from .exceptions import PlateError

CHUNK = 2000
SOURCES = [
    ('push', "Push"),
    ('import', "Import"),
    ]
RELEASE_DIRECTIONS = [
    (None, ''),
    ('platform', "Platform"),
    ('caller', "Caller"),
    ('callee', "Callee"),
    ]
UNCONNECTED_CAUSES = [
    (None, ''),
    ('normal', "Normal"),
    ('blacklist', "Blacklist"),
    ('no_binding', "No Binding"),
    ('restricted', "Call Restriction"),
    ('other', "Other"),
    ]
REJECTION_CODES = [
    ('bad_record', "Not a Record"),
    ('missing_field', "Missing Field"),
    ('bad_field', "Bad Field"),
    ('bad_number', "Bad Number"),
    ('bad_time', "Bad Time"),
    ('bad_duration', "Bad Duration"),
    ('bad_cost', "Bad Cost"),
    ('time_order', "Times Out of Order"),
    ('unknown_plate', "Unknown Plate"),
    ]
# the aliases of the number fields, whose values are masked in a kept raw
# record as in a stored one
_NUMBER_KEYS = {alias.lower() for name in ('caller', 'virtual', 'callee')
    for alias in FIELDS[name]}
_DIGITS = re.compile(r'\d')
# the PostgreSQL types of the fields of the bulk insert
_PG_TYPES = {'char': 'varchar', 'selection': 'varchar', 'integer': 'integer',
    'many2one': 'integer', 'boolean': 'boolean', 'numeric': 'numeric',
    'datetime': 'timestamp', 'timestamp': 'timestamp'}


def _now():
    "Return the current naive UTC time, as Tryton stores timestamps."
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _naive(moment):
    return moment.replace(tzinfo=None) if moment is not None else None


def mask_raw(value):
    """Return the digits of a raw number value starred but the first 3 and
    the last 4 (a number that did not parse may still be a whole one)."""
    text = str(value)
    digits = len(_DIGITS.findall(text))
    if digits <= 7:
        return _DIGITS.sub('*', text)
    result, seen = [], 0
    for char in text:
        if char.isdigit():
            seen += 1
            if 3 < seen <= digits - 4:
                char = '*'
        result.append(char)
    return ''.join(result)


def raw_text(row):
    "Return the JSON text of a received row, its numbers masked."
    if isinstance(row, dict):
        row = {str(k): (mask_raw(v) if str(k).strip().lower() in _NUMBER_KEYS
                and v not in (None, '') else v)
            for k, v in row.items()}
    return json.dumps(row, ensure_ascii=False, default=str)[:10000]


class Call(ModelSQL, ModelView):
    "A call record (话单) of a plate's privacy number, stored once."
    __string__ = "Plate Call"
    __name__ = 'dualrec.plate.call'
    _rec_name = 'call_id'

    call_id = fields.Char("Call ID", required=True, readonly=True,
        help="The provider's identifier of the call, unique.")
    binding_id = fields.Char("Binding ID", readonly=True,
        help="The provider's identifier of the number binding.")
    out_id = fields.Char("Out ID", required=True, readonly=True,
        help="Our business identifier given to the provider: the serial "
        "of the plate.")
    plate = fields.Many2One('dualrec.plate', "Plate", required=True,
        readonly=True, ondelete='RESTRICT',
        help="The plate whose privacy number was called.")
    company = fields.Many2One('company.company', "Company", required=True,
        readonly=True, ondelete='RESTRICT')
    insurer = fields.Many2One('party.party', "Insurer", readonly=True,
        ondelete='RESTRICT',
        help="The insurer who had bought the plate when the record arrived.")
    agent = fields.Many2One('party.party', "Agent", readonly=True,
        ondelete='RESTRICT',
        help="The agent who held the plate when the record arrived.")
    caller = fields.Char("Caller", readonly=True,
        help="The number of the caller (the passer-by), masked.")
    virtual = fields.Char("Virtual Number", readonly=True,
        help="The privacy number called, masked.")
    callee = fields.Char("Callee", readonly=True,
        help="The number of the callee (the owner), masked.")
    call_time = fields.DateTime("Call Time", required=True, readonly=True,
        help="When the caller dialled.")
    answer_time = fields.DateTime("Answer Time", readonly=True,
        help="When the call was answered; empty when it was not.")
    release_time = fields.DateTime("Release Time", readonly=True,
        help="When the call was hung up.")
    release_direction = fields.Selection(RELEASE_DIRECTIONS,
        "Release Direction", readonly=True,
        help="Who hung up: the platform, the caller or the callee.")
    release_cause = fields.Char("Release Cause", readonly=True,
        help="The provider's release cause code.")
    unconnected_cause = fields.Selection(UNCONNECTED_CAUSES,
        "Unconnected Cause", readonly=True,
        help="Why the call was not connected, as the provider says.")
    duration = fields.Integer("Duration", required=True, readonly=True,
        help="The seconds the call was connected (0: not connected).")
    connected = fields.Boolean("Connected", readonly=True,
        help="Whether the call was connected (its duration is not 0).")
    currency = fields.Function(fields.Many2One('currency.currency',
            "Currency"), 'get_currency')
    cost = Monetary("Cost", currency='currency', digits='currency',
        readonly=True, help="The provider's cost of the call.")
    source = fields.Selection(SOURCES, "Source", required=True,
        readonly=True, help="Whether the record was pushed or imported.")
    import_batch = fields.Char("Import Batch", readonly=True,
        help="The identifier of the push or import that brought the "
        "record.")
    filename = fields.Char("File Name", readonly=True,
        help="The file the record was imported from.")
    received_at = fields.DateTime("Received At", required=True,
        readonly=True)
    order = fields.Many2One('dualrec.order', "Order", readonly=True,
        ondelete='RESTRICT',
        help="The call-fee or merged settlement order of the call.")
    payout_order = fields.Many2One('dualrec.order', "Payout Order",
        readonly=True, ondelete='RESTRICT',
        help="The agent's payout order of the call.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('call_id_unique', Unique(t, t.call_id),
                'dualrec_valueadd.msg_plate_call_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.plate, Index.Range()),
                    (t.call_time, Index.Range())),
                Index(t, (t.insurer, Index.Range()),
                    (t.call_time, Index.Range()), where=t.insurer != Null),
                Index(t, (t.order, Index.Range()), where=t.order != Null),
                Index(t, (t.payout_order, Index.Range()),
                    where=t.payout_order != Null),
                })
        cls._order = [('call_time', 'DESC'), ('id', 'DESC')]

    def get_currency(self, name):
        return self.company.currency.id

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        # a call record is evidence for billing: only its orders are set,
        # by the settlement, never by a user
        if (mode == 'delete'
                or mode == 'write' and (external
                    or set(values) - {'order', 'payout_order'})):
            raise PlateError(gettext('dualrec_valueadd.msg_plate_call_modify'))

    @classmethod
    def copy(cls, records, default=None):
        if records:
            raise PlateError(gettext('dualrec_valueadd.msg_plate_call_modify'))
        return super().copy(records, default=default)

    @classmethod
    def receive(cls, rows, source, filename=None, companies=None,
            chunk_size=CHUNK):
        """Store the call records of rows, an iterable of (line, record):
        line is the row number in a file (or the position in a push) and
        record a mapping of the provider's field names (or the Chinese
        headers of an export) to values, as dualrec.callrecord.parse_record
        reads them; source is 'push' or 'import'; companies (ids), when
        given, are those whose plates may be called: another's plate is
        refused as unknown.

        Records are read chunk by chunk (memory stays flat), without
        access checks: the caller has checked who may import.  Returns the
        summary {'received', 'created', 'duplicates', 'rejected'}: a record
        whose call id is stored already, or met earlier in rows, is a
        duplicate; a malformed one or one of an out id that is no plate of
        ours is kept in dualrec.plate.call.rejected.
        """
        assert source in dict(SOURCES)
        summary = {'received': 0, 'created': 0, 'duplicates': 0,
            'rejected': 0}
        context = {
            'source': source,
            'filename': filename,
            'batch': uuid.uuid4().hex,
            'company': Transaction().context.get('company'),
            'companies': companies,
            }
        chunk = []
        for item in rows:
            chunk.append(item)
            if len(chunk) >= chunk_size:
                cls._receive_chunk(chunk, context, summary)
                chunk = []
        if chunk:
            cls._receive_chunk(chunk, context, summary)
        return summary

    @classmethod
    def _receive_chunk(cls, chunk, context, summary):
        pool = Pool()
        Rejected = pool.get('dualrec.plate.call.rejected')
        now = _now()
        rejected = []

        def reject(line, row, code, field=None, call_id=None, out_id=None):
            rejected.append({
                    'line': line, 'row': row, 'code': code, 'field': field,
                    'call_id': call_id, 'out_id': out_id})

        parsed = []
        for line, row in chunk:
            if not isinstance(row, dict):
                reject(line, row, 'bad_record')
                continue
            if not any(v not in (None, '') and str(v).strip()
                    for v in row.values()):
                continue  # a blank row of a spreadsheet
            summary['received'] += 1
            try:
                parsed.append((line, row, parse_record(row)))
            except CallRecordError as error:
                values = canonical(row)
                reject(line, row, error.code, error.params.get('field'),
                    _short(values.get('call_id')),
                    _short(values.get('out_id')))
        plates = cls._plates({r.out_id for _, _, r in parsed},
            context['companies'])
        seen, values = set(), []
        for line, row, record in parsed:
            plate = plates.get(record.out_id.upper())
            if plate is None:
                reject(line, row, 'unknown_plate', 'out_id',
                    record.call_id, record.out_id)
                continue
            if record.call_id in seen:
                summary['duplicates'] += 1
                continue
            seen.add(record.call_id)
            values.append(cls._row(record, plate, context, now))
        # in the order of the unique index: two concurrent imports of the
        # same records wait for each other rather than deadlock
        values.sort(key=lambda v: v[0])
        created = cls._insert(values, now)
        summary['created'] += created
        summary['duplicates'] += len(values) - created
        summary['received'] += sum(1 for r in rejected
            if r['code'] == 'bad_record')
        summary['rejected'] += len(rejected)
        if rejected:
            Rejected.keep(rejected, context, now)

    @classmethod
    def _plates(cls, out_ids, companies=None):
        """Return {serial: (id, company, insurer, agent)} of the out ids
        (of the plates of companies only, if given)."""
        Plate = Pool().get('dualrec.plate')
        table = Plate.__table__()
        cursor = Transaction().connection.cursor()
        serials = sorted({o.strip().upper() for o in out_ids})
        result = {}
        size = max(backend.MAX_QUERY_PARAMS, 200)
        for i in range(0, len(serials), size):
            where = In(table.serial, serials[i:i + size])
            if companies is not None:
                where &= In(table.company, list(companies) or [-1])
            cursor.execute(*table.select(table.serial, table.id,
                    table.company, table.insurer, table.agent,
                    where=where))
            for serial, *plate in cursor:
                result[serial] = plate
        return result

    # the columns of _row, in that order
    _row_columns = ('call_id', 'binding_id', 'out_id', 'plate', 'company',
        'insurer', 'agent', 'caller', 'virtual', 'callee', 'call_time',
        'answer_time', 'release_time', 'release_direction', 'release_cause',
        'unconnected_cause', 'duration', 'connected', 'cost', 'source',
        'import_batch', 'filename', 'received_at')

    @classmethod
    def _row(cls, record, plate, context, now):
        plate_id, company, insurer, agent = plate
        return (record.call_id, record.binding_id, record.out_id, plate_id,
            company, insurer, agent, record.caller, record.virtual,
            record.callee, _naive(record.call_time),
            _naive(record.answer_time), _naive(record.release_time),
            record.release_dir, record.release_cause,
            record.unconnected_cause, record.duration, record.connected,
            record.cost, context['source'], context['batch'],
            context['filename'], now)

    @classmethod
    def _insert(cls, values, now):
        """Insert the rows of values (tuples of _row_columns) but those whose
        call id is stored already; return how many were inserted."""
        if not values:
            return 0
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        columns = cls._row_columns + ('create_uid', 'create_date')
        extra = (transaction.user, now)
        head = 'INSERT INTO "%s" (%s) ' % (cls._table,
            ', '.join('"%s"' % c for c in columns))
        tail = ' ON CONFLICT ("call_id") DO NOTHING'
        if backend.name == 'postgresql':
            # one array per column: a statement of a few parameters, whose
            # size does not grow with the rows (many placeholders make
            # the driver's query parsing the bottleneck)
            arrays = [list(c) for c in zip(*values)]
            arrays += [[e] * len(values) for e in extra]
            cursor.execute(head + 'SELECT * FROM unnest(%s)' % ', '.join(
                    '%%s::%s[]' % _PG_TYPES[cls._fields[c]._type]
                    for c in columns) + tail, arrays)
            return cursor.rowcount
        placeholder = '(' + ', '.join(['?'] * len(columns)) + ')'
        # SQLite takes up to 32,766 parameters a statement
        size = 32000 // len(columns)
        created = 0
        for i in range(0, len(values), size):
            rows = values[i:i + size]
            params = []
            for row in rows:
                params.extend(row)
                params.extend(extra)
            cursor.execute(head + 'VALUES '
                + ', '.join([placeholder] * len(rows)) + tail, params)
            created += cursor.rowcount
        return created

    @classmethod
    def receive_file(cls, data, filename=None, companies=None):
        """Store the call records of a CSV (UTF-8 or GB18030) or xlsx file
        (its first sheet, the first row holding the headers); return the
        summary of ``receive``."""
        return cls.receive(read_file(data), 'import', filename=filename,
            companies=companies)


def _short(value, size=64):
    if value in (None, ''):
        return None
    return str(value).strip()[:size] or None


def read_file(data):
    """Yield (line, row) of the CSV or xlsx data, rows as mappings of the
    header names, line counted from 2 (the first row after the header)."""
    if bytes(data[:4]) == b'PK\x03\x04':
        yield from _read_xlsx(data)
    else:
        yield from enumerate(read_csv(data), 2)


def _read_xlsx(data):
    from openpyxl import load_workbook
    try:
        workbook = load_workbook(io.BytesIO(bytes(data)), read_only=True,
            data_only=True)
    except Exception as error:
        raise PlateError(gettext('dualrec_valueadd.msg_plate_call_file',
                error=str(error)[:200])) from error
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else ''
            for h in next(rows, ())]
        for line, cells in enumerate(rows, 2):
            yield line, {h: v for h, v in zip(header, cells) if h}
    finally:
        workbook.close()


class CallRejected(ModelSQL, ModelView):
    "A call record refused, kept for good with its reason."
    __string__ = "Rejected Plate Call"
    __name__ = 'dualrec.plate.call.rejected'

    raw = fields.Text("Raw Record", readonly=True,
        help="The record as received (JSON), its numbers masked.")
    code = fields.Selection(REJECTION_CODES, "Code", required=True,
        readonly=True, help="Why the record was refused.")
    field = fields.Char("Field", readonly=True,
        help="The field of the record that was refused.")
    reason = fields.Char("Reason", readonly=True,
        help="The reason, in the language of the import.")
    call_id = fields.Char("Call ID", readonly=True)
    out_id = fields.Char("Out ID", readonly=True)
    company = fields.Many2One('company.company', "Company", readonly=True,
        ondelete='RESTRICT',
        help="The company of the plate, or of the user who imported the "
        "file; empty for a push whose plate is unknown.")
    source = fields.Selection(SOURCES, "Source", required=True,
        readonly=True)
    import_batch = fields.Char("Import Batch", readonly=True)
    filename = fields.Char("File Name", readonly=True)
    line = fields.Integer("Line", readonly=True,
        help="The row of the file (or the position in the push).")
    digest = fields.Char("Digest", readonly=True,
        help="The SHA-256 of the code and the raw record: a rejected "
        "record received again is kept once.")
    received_at = fields.DateTime("Received At", required=True,
        readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.received_at, Index.Range(order='DESC'))))
        cls._sql_indexes.add(Index(t, (t.digest, Index.Equality())))
        cls._order = [('received_at', 'DESC'), ('id', 'DESC')]

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        if mode in {'write', 'delete'}:
            raise PlateError(gettext(
                    'dualrec_valueadd.msg_plate_call_rejected_modify'))

    @classmethod
    def copy(cls, records, default=None):
        if records:
            raise PlateError(gettext(
                    'dualrec_valueadd.msg_plate_call_rejected_modify'))
        return super().copy(records, default=default)

    @classmethod
    def keep(cls, rejected, context, now):
        """Insert the rejected records (dicts of line, row, code, field,
        call_id and out_id) in one statement per slice."""
        Call = Pool().get('dualrec.plate.call')
        table = cls.__table__()
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        plates = Call._plates({r['out_id'] for r in rejected if r['out_id']},
            context['companies'])
        reasons = {}
        rows = []
        digests = {}
        for item in rejected:
            raw = raw_text(item['row'])
            digest = hashlib.sha256(
                f'{item["code"]}\n{raw}'.encode('utf-8')).hexdigest()[:40]
            digests.setdefault(digest, (item, raw))
        # a rejected record received again (a push retried, a file imported
        # twice) is kept once
        for sub in grouped_slice(list(digests)):
            cursor.execute(*table.select(table.digest,
                    where=table.digest.in_(list(sub))))
            for digest, in cursor:
                digests.pop(digest, None)
        for digest, (item, raw) in digests.items():
            key = (item['code'], item['field'])
            if key not in reasons:
                reasons[key] = gettext(
                    f'dualrec_valueadd.msg_plate_call_{item["code"]}',
                    field=item['field'] or '')
            plate = plates.get((item['out_id'] or '').upper())
            rows.append([raw, digest, item['code'], item['field'],
                    reasons[key], item['call_id'], item['out_id'],
                    plate[1] if plate else context['company'],
                    context['source'], context['batch'],
                    context['filename'], item['line'], now,
                    transaction.user, now])
        columns = [table.raw, table.digest, table.code, table.field,
            table.reason,
            table.call_id, table.out_id, table.company, table.source,
            table.import_batch, table.filename, table.line,
            table.received_at, table.create_uid, table.create_date]
        size = max(backend.MAX_QUERY_PARAMS // len(columns), 10)
        for i in range(0, len(rows), size):
            cursor.execute(*table.insert(columns, rows[i:i + size]))


class CallImportStart(ModelView):
    "The file of call records to import."
    __string__ = "Import Plate Calls"
    __name__ = 'dualrec.plate.call.import.start'

    file = fields.Binary("File", required=True, filename='filename',
        help="A CSV (UTF-8 or GB18030) or xlsx file of call records with "
        "the provider's column names or the Chinese headers of its export.")
    filename = fields.Char("File Name")


class CallImportDone(ModelView):
    "What the import of call records did."
    __string__ = "Plate Calls Imported"
    __name__ = 'dualrec.plate.call.import.done'

    filename = fields.Char("File Name", readonly=True)
    received = fields.Integer("Received", readonly=True,
        help="The records read from the file (blank rows left out).")
    created = fields.Integer("Created", readonly=True,
        help="The records stored.")
    duplicates = fields.Integer("Duplicates", readonly=True,
        help="The records stored already, or met twice in the file.")
    rejected = fields.Integer("Rejected", readonly=True,
        help="The records kept apart as rejected call records.")


class CallImport(Wizard):
    "Import a file of call records."
    __name__ = 'dualrec.plate.call.import'
    start = StateView('dualrec.plate.call.import.start',
        'dualrec_valueadd.plate_call_import_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Import", 'import_', 'tryton-ok', default=True),
            ])
    import_ = StateTransition()
    done = StateView('dualrec.plate.call.import.done',
        'dualrec_valueadd.plate_call_import_done_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def transition_import_(self):
        pool = Pool()
        Call = pool.get('dualrec.plate.call')
        User = pool.get('res.user')
        # the importer's companies only (those of the record rules): a
        # plate of another is unknown
        summary = Call.receive_file(self.start.file,
            filename=self.start.filename, companies=User.get_companies())
        self.done.filename = self.start.filename
        for name, value in summary.items():
            setattr(self.done, name, value)
        return 'done'

    def default_done(self, fields):
        return {
            'filename': self.done.filename,
            'received': self.done.received,
            'created': self.done.created,
            'duplicates': self.done.duplicates,
            'rejected': self.done.rejected,
            }
