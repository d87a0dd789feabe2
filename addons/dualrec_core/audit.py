# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import contextlib
import contextvars
import datetime as dt
import logging

from sql import Cast, Null

from trytond import backend
from trytond.exceptions import RateLimitException
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from dualrec import audit as hashchain
from dualrec.crypto import checkpoint as signed
from .exceptions import AuditError

logger = logging.getLogger(__name__)

ACTIONS = [
    ('login', "Login"),
    ('login_failed', "Failed Login"),
    ('logout', "Logout"),
    ('token_issue', "Token Issued"),
    ('token_revoke', "Token Revoked"),
    ('create', "Create"),
    ('write', "Write"),
    ('delete', "Delete"),
    ('upload_start', "Upload Started"),
    ('upload_complete', "Upload Completed"),
    ('upload_fail', "Upload Failed"),
    ('playback', "Playback"),
    ('download', "Download"),
    ('unmask', "Unmask"),
    ('pii_search', "Search by Personal Data"),
    ('correct', "Corrected"),
    ('process', "Processed"),
    ('process_fail', "Processing Failed"),
    ('tampered', "Tampering Detected"),
    ('evidence', "Evidence Exported"),
    ('retention_over', "Retention Over"),
    ('dispose', "Disposed"),
    ]
CURRENT_USER = object()
# The fields that the chain protects, in the order of the form.
CHAINED = ['date', 'user', 'login', 'action', 'model', 'record_id',
    'record_name', 'field_names', 'ip_address', 'user_agent', 'details']


# Only the code paths of this module write audit entries and checkpoints:
# neither an access right (granted by anyone to himself) nor root's
# context can set a context variable of the server process.
_WRITING = contextvars.ContextVar('dualrec_audit_writing', default=False)
# The key of the advisory lock that lets one sealer at a time run.
SEAL_LOCK = 0x6475616c  # 'dual'
SEAL_BATCH = 1000
INSERT_BATCH = 500
_MALFORMED = object()  # fields of a row that cannot be read: never hashes


@contextlib.contextmanager
def _writing():
    token = _WRITING.set(True)
    try:
        with Transaction().set_user(0), without_check_access():
            yield
    finally:
        _WRITING.reset(token)


class AppendOnlyMixin:
    "Refuse every create, write and delete but those of the audit code."
    __slots__ = ()

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        # Append-only for everybody, root included, whatever access rights
        # someone granted: only log() and seal() create.
        if mode in {'write', 'delete'} or not _WRITING.get():
            raise AuditError(gettext('dualrec_core.msg_audit_append_only'))


class AuditLog(AppendOnlyMixin, ModelSQL, ModelView):
    __string__ = "Audit Log Entry"
    __name__ = 'dualrec.audit.log'

    date = fields.Timestamp("Date", readonly=True, help="When it happened.")
    user = fields.Many2One('res.user', "User", readonly=True,
        ondelete='RESTRICT', help="Who did it.")
    user_name = fields.Function(fields.Char("User",
            help="The name of who did it."),
        'get_user_name', searcher='search_user_name')
    login = fields.Char("Login", readonly=True,
        help="The login used, also for failed logins.")
    action = fields.Selection(ACTIONS, "Action", readonly=True, sort=False,
        help="What was done.")
    model = fields.Char("Model", readonly=True,
        help="The kind of record it was done to.")
    record_id = fields.Integer("Record ID", readonly=True,
        help="The id of the record it was done to.")
    record_name = fields.Char("Record", readonly=True,
        help="The name of the record when it was done.")
    field_names = fields.Char("Fields", readonly=True,
        help="The fields that were changed.")
    ip_address = fields.Char("IP Address", readonly=True,
        help="The network address of the client.")
    user_agent = fields.Char("User Agent", readonly=True,
        help="The client program.")
    details = fields.Text("Details", readonly=True,
        help="Anything else worth keeping.")
    seq = fields.Integer("Chain Position", readonly=True,
        help="The place of the entry in the chain, given when it is sealed.")
    sealed = fields.Boolean("Sealed", readonly=True,
        help="The entry is chained and covered by a signed checkpoint.")
    previous_hash = fields.Char("Previous Hash", readonly=True,
        help="The hash of the entry before this one.")
    hash = fields.Char("Hash", readonly=True,
        help="The hash of this entry, chained to the previous one.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.seq, Index.Range())),
                Index(t, (t.id, Index.Range()), where=t.sealed == False),
                # the personal-data search limit counts a user's recent
                # searches here
                Index(t, (t.user, Index.Equality()),
                    (t.action, Index.Equality()), (t.date, Index.Range())),
                })
        cls._order = [('id', 'DESC')]

    @classmethod
    def __register__(cls, module):
        table_h = cls.__table_handler__(module)
        migrate = not table_h.column_exist('seq')
        super().__register__(module)
        if migrate:
            # The entries chained before the sealer, by one locked writer,
            # were chained in id order.
            table = cls.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.select(table.id,
                    where=table.hash != Null, order_by=table.id.asc))
            for seq, (id_,) in enumerate(cursor.fetchall(), 1):
                cursor.execute(*table.update([table.seq, table.sealed],
                        [seq, True], where=table.id == id_))
            cursor.execute(*table.update([table.sealed], [False],
                    where=table.hash == Null))

    @staticmethod
    def default_sealed():
        return False

    def get_rec_name(self, name):
        # a malformed row (no date) must still be listed, not raise
        date = (f'{self.date:%Y-%m-%d %H:%M:%S}'
            if isinstance(self.date, dt.datetime) else '')
        return f'{date} {self.action or ""}'.strip()

    @classmethod
    def get_user_name(cls, entries, name):
        """Return the names of the users of entries.

        Whoever may read the log may know who did what, also users out of
        his record rules (a manager of a branch reading an entry of the
        system administrator): read through the Many2One, that
        read fails and the whole list with it.
        """
        pool = Pool()
        User = pool.get('res.user')
        ids = {e.user.id for e in entries if e.user}
        with without_check_access(), Transaction().set_context(
                active_test=False):
            names = {u.id: u.rec_name for u in User.browse(list(ids))}
        return {e.id: names.get(e.user.id) if e.user else None
            for e in entries}

    @classmethod
    def search_user_name(cls, name, clause):
        pool = Pool()
        User = pool.get('res.user')
        _, operator, operand, *extra = clause
        with without_check_access(), Transaction().set_context(
                active_test=False):
            users = User.search([('rec_name', operator, operand, *extra)])
        return [('user', 'in', [u.id for u in users])]

    @classmethod
    def _client(cls):
        "Return the network address and the user agent of the request."
        request = Transaction().context.get('_request') or {}
        return (request.get('remote_addr'),
            Transaction().context.get('_user_agent'))

    @classmethod
    def _chained_values(cls, entry):
        values = {}
        for name in CHAINED:
            value = entry.get(name) if isinstance(entry, dict) else getattr(
                entry, name)
            if isinstance(value, ModelSQL):
                value = value.id
            if isinstance(value, str) and name == 'date':
                # SQLite may hand timestamps back as text
                value = dt.datetime.fromisoformat(value)
            if isinstance(value, dt.datetime):
                value = value.isoformat()
            values[name] = value
        return values

    @classmethod
    def _chained_columns(cls, table):
        """Return the columns of CHAINED; on SQLite the date as text, so
        that a row with a date that is none cannot stop the fetch."""
        columns = [getattr(table, n) for n in CHAINED]
        if backend.name == 'sqlite':
            columns[CHAINED.index('date')] = Cast(table.date, 'TEXT')
        return columns

    @classmethod
    def _row_values(cls, row):
        "Return the chained values of a database row, or _MALFORMED."
        try:
            return cls._chained_values(dict(zip(CHAINED, row)))
        except (TypeError, ValueError):
            return _MALFORMED

    @classmethod
    @without_check_access
    def log(cls, action, records=None, model=None, field_names=None,
            user=CURRENT_USER, login=None, details=None, **extra):
        """Append one entry per record (or one without record).

        No lock and no read of the chain: the entries are inserted unsealed
        and the sealer (``seal``) chains them later, in the order their
        transactions committed, so no writer waits for another's commit.
        """
        transaction = Transaction()
        ip_address, user_agent = cls._client()
        now = dt.datetime.now()
        base = {
            'date': now,
            'user': (transaction.user or None) if user is CURRENT_USER
            else user,
            'login': login,
            'action': action,
            'field_names': (','.join(sorted(field_names))
                if field_names else None),
            'ip_address': extra.get('ip_address', ip_address),
            'user_agent': extra.get('user_agent', user_agent),
            'details': details,
            'sealed': False,
            }
        if records:
            vlist = [{**base,
                    'model': model or record.__name__,
                    'record_id': record.id,
                    'record_name': record.rec_name,
                    } for record in records]
        else:
            vlist = [{**base, 'model': model, 'record_id': None,
                    'record_name': None}]
        return cls.browse(cls._insert(vlist))

    @classmethod
    def _insert(cls, vlist):
        """Insert the entries by SQL and return their ids.

        Nothing of the ORM's create is needed for a row the code fills
        (defaults, validation, triggers, a read back): it would be most of
        the cost of an audited write.
        """
        transaction = Transaction()
        database = transaction.database
        cursor = transaction.connection.cursor()
        table = cls.__table__()
        names = [*CHAINED, 'sealed']
        columns = [table.create_uid, table.create_date,
            *[getattr(table, n) for n in names]]
        now = dt.datetime.now()
        rows = [[0, now, *[cls._fields[n].sql_format(values.get(n))
                    for n in names]] for values in vlist]
        ids = []
        if database.has_returning() and database.has_multirow_insert():
            # one statement per batch: a bulk import logs thousands
            for i in range(0, len(rows), INSERT_BATCH):
                cursor.execute(*table.insert(
                        columns, rows[i:i + INSERT_BATCH], [table.id]))
                ids.extend(sorted(r[0] for r in cursor))
        else:
            for row in rows:
                cursor.execute(*table.insert(columns, [row]))
                ids.append(database.lastid(cursor))
        return ids

    @classmethod
    def _take_seal_lock(cls):
        """Return whether this transaction is the only sealer; on
        PostgreSQL an advisory lock held until commit, that no writer
        takes (SQLite has a single writer anyway)."""
        transaction = Transaction()
        if backend.name != 'postgresql':
            return True
        cursor = transaction.connection.cursor()
        cursor.execute('SELECT pg_try_advisory_xact_lock(%s)', (SEAL_LOCK,))
        return bool(cursor.fetchone()[0])

    @classmethod
    def _head(cls):
        """Return (count, head digest) of the sealed chain: the signed head
        of the checkpoint of the last entry when there is one (a tampered
        row does not mislead the sealer), else the last sealed row's."""
        pool = Pool()
        Checkpoint = pool.get('dualrec.audit.checkpoint')
        table = cls.__table__()
        checkpoint = Checkpoint.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.seq, table.hash,
                where=table.seq != Null, order_by=table.seq.desc, limit=1))
        row = cursor.fetchone()
        if not row:
            return 0, hashchain.GENESIS
        count, head = row
        cursor.execute(*checkpoint.select(checkpoint.head,
                where=checkpoint.count == count,
                order_by=checkpoint.id.desc, limit=1))
        signed_head = cursor.fetchone()
        if signed_head:
            head = signed_head[0]
        return count, head

    @classmethod
    def seal(cls, batch=SEAL_BATCH):
        """Chain the unsealed entries, a batch at a time, and sign a
        checkpoint after each batch; return how many were sealed.

        Only the committed entries (and this transaction's) are visible, in
        whatever id order they committed: the chain order is the ``seq``
        given here, so a lower id that commits late is chained after the
        higher ones already sealed.  Another sealer at work makes this one
        return 0 at once.
        """
        if not cls._take_seal_lock():
            return 0
        pool = Pool()
        Checkpoint = pool.get('dualrec.audit.checkpoint')
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        count, head = cls._head()
        sealed = 0
        while True:
            cursor.execute(*table.select(table.id,
                    *cls._chained_columns(table),
                    where=table.sealed == False,
                    order_by=table.id.asc, limit=batch))
            rows = cursor.fetchall()
            if not rows:
                break
            for id_, *values in rows:
                count += 1
                fields_ = cls._row_values(values)
                previous = head
                head = hashchain.safe_digest(previous, fields_)
                if head is None:
                    # a row nobody could have logged: chain around it so
                    # that verify names it and the chain goes on
                    head = hashchain.digest(previous, {'malformed': id_})
                cursor.execute(*table.update(
                        [table.seq, table.previous_hash, table.hash,
                            table.sealed],
                        [count, previous, head, True],
                        where=table.id == id_))
            sealed += len(rows)
            Checkpoint.sign(count, head)
        if sealed:
            # the rows changed under the ORM: drop what it cached of them
            Transaction().get_cache().pop(cls.__name__, None)
        return sealed

    @classmethod
    def seal_cron(cls):
        "Seal the entries committed since the last run (ir.cron)."
        cls.seal()

    @classmethod
    def _sealed_entries(cls, malformed):
        "Yield (id, previous, hash, fields) of the sealed rows by seq."
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.id, table.previous_hash,
                table.hash, *cls._chained_columns(table),
                where=table.seq != Null, order_by=table.seq.asc))
        while rows := cursor.fetchmany(1000):
            for id_, previous, hash_, *values in rows:
                fields_ = cls._row_values(values)
                if fields_ is _MALFORMED:
                    malformed.append(id_)
                yield id_, previous, hash_, fields_

    @classmethod
    def verify_report(cls):
        """Walk the sealed chain in the database against the signed
        checkpoints; return the report of ``checkpoint.check_chain`` with
        ``pending`` (entries not sealed yet), ``malformed`` (ids of rows
        that cannot be read) and ``signatures`` (whether the signing key
        was there to check them).

        It reads the tables directly, a batch at a time, so that neither
        record rules nor caches stand between it and the data, and a
        malformed row is reported, never raised.
        """
        pool = Pool()
        Checkpoint = pool.get('dualrec.audit.checkpoint')
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        public_key = Checkpoint.public_key()
        malformed = []
        report = signed.check_chain(cls._sealed_entries(malformed),
            Checkpoint.exported(), public_key)
        cursor.execute(*table.select(table.id, where=table.sealed == False))
        report['pending'] = len(cursor.fetchall())
        report['malformed'] = malformed
        report['signatures'] = public_key is not None
        if report['broken'] == 'end':
            cursor.execute(*table.select(table.id, where=table.seq != Null,
                    order_by=table.seq.desc, limit=1))
            row = cursor.fetchone()
            report['broken'] = row[0] if row else None
        return report

    @classmethod
    def verify(cls):
        """Seal what is pending, then walk the whole chain; return the
        number of entries checked and the first broken entry, or None.

        A chain recomputed from a forged entry on verifies link by link but
        not against a signed checkpoint of before: the first entry after
        the last checkpoint that still matches is returned then.
        """
        if not Transaction().readonly:
            cls.seal()
        report = cls.verify_report()
        broken = report['broken']
        return report['count'], cls(broken) if broken is not None else None

    @classmethod
    def export(cls):
        """Return the sealed chain with its checkpoints and the public key,
        as ``dualrec.crypto.checkpoint.check_export`` checks it offline."""
        pool = Pool()
        Checkpoint = pool.get('dualrec.audit.checkpoint')
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.seq, table.previous_hash,
                table.hash, *cls._chained_columns(table),
                where=table.seq != Null, order_by=table.seq.asc))
        entries = []
        for seq, previous, hash_, *values in cursor:
            fields_ = cls._row_values(values)
            if fields_ is _MALFORMED:
                fields_ = {'malformed': [str(v) for v in values]}
            entries.append({'seq': seq, 'previous_hash': previous,
                    'hash': hash_, 'fields': fields_})
        public_key = Checkpoint.public_key()
        return {'entries': entries, 'checkpoints': Checkpoint.exported(),
            'public_key': (signed.public_pem(public_key)
                if public_key is not None else None)}


class AuditCheckpoint(AppendOnlyMixin, ModelSQL):
    "A signed statement of the audit chain's length and head"
    __string__ = "Audit Checkpoint"
    __name__ = 'dualrec.audit.checkpoint'

    count = fields.Integer("Count", readonly=True,
        help="How many entries the chain had.")
    head = fields.Char("Head", readonly=True,
        help="The hash of the last of these entries.")
    time = fields.Timestamp("Time", readonly=True,
        help="When the checkpoint was signed (UTC).")
    key_id = fields.Char("Key ID", readonly=True,
        help="The fingerprint of the key that signed it.")
    signature = fields.Char("Signature", readonly=True,
        help="The Ed25519 signature of count, head and time (base64).")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('count', 'DESC'), ('id', 'DESC')]

    @classmethod
    def signing_key(cls):
        "Return the institution's signing key, or None if none is set."
        from .configuration import evidence_signing_key
        from dualrec.crypto.evidence import EvidenceError
        try:
            return evidence_signing_key()
        except EvidenceError:
            return None

    @classmethod
    def public_key(cls):
        key = cls.signing_key()
        return key.public_key() if key is not None else None

    @classmethod
    def sign(cls, count, head):
        "Store the checkpoint of count and head, signed when a key is set."
        key = cls.signing_key()
        time = dt.datetime.utcnow().replace(microsecond=0)
        if key is not None:
            values = signed.sign(key, count, head, time.isoformat())
        else:
            logger.warning("audit checkpoint %s not signed: no signing key",
                count)
            values = {'key_id': None, 'signature': None}
        with _writing():
            checkpoint, = cls.create([{'count': count, 'head': head,
                        'time': time, 'key_id': values['key_id'],
                        'signature': values['signature']}])
        return checkpoint

    @classmethod
    def exported(cls):
        "Return every checkpoint as a dict, in count order."
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.count, table.head, table.time,
                table.key_id, table.signature, order_by=table.count.asc))
        result = []
        for count, head, time, key_id, signature in cursor:
            if isinstance(time, str):
                time = dt.datetime.fromisoformat(time)
            result.append({'count': count, 'head': head,
                    'time': time.isoformat() if time else None,
                    'key_id': key_id, 'signature': signature})
        return result


class AuditMixin:
    "Write create, write and delete of the records to the audit log."
    __slots__ = ()

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        AuditLog = Pool().get('dualrec.audit.log')
        if records:
            AuditLog.log(mode, records, model=cls.__name__,
                field_names=field_names)


class AuditVerifyResult(ModelView):
    __string__ = "Audit Log Verification"
    __name__ = 'dualrec.audit.verify.result'

    checked = fields.Integer("Entries Checked", readonly=True,
        help="How many entries were walked.")
    intact = fields.Boolean("Intact", readonly=True,
        help="Every entry is chained to the previous one and the chain "
        "matches every signed checkpoint.")
    broken = fields.Many2One('dualrec.audit.log', "First Broken Entry",
        readonly=True, help="The first entry whose hash does not match.")
    pending = fields.Integer("Entries Not Sealed", readonly=True,
        help="Entries not chained yet; the sealer chains them within a "
        "minute.")
    problems = fields.Text("Problems", readonly=True,
        help="The malformed entries and the checkpoints that fail.")


class AuditVerify(Wizard):
    __string__ = "Verify Audit Log"
    __name__ = 'dualrec.audit.verify'

    start = StateTransition()
    result = StateView('dualrec.audit.verify.result',
        'dualrec_core.audit_verify_result_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def transition_start(self):
        return 'result'

    def default_result(self, fields):
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        if not Transaction().readonly:
            AuditLog.seal()
        report = AuditLog.verify_report()
        problems = []
        if report['malformed']:
            problems.append(gettext('dualrec_core.msg_audit_malformed',
                    ids=', '.join(map(str, report['malformed']))))
        for bad in report['bad_checkpoints']:
            problems.append(gettext('dualrec_core.msg_audit_checkpoint_bad',
                    count=bad['count'], code=bad['code']))
        if not report['signatures']:
            problems.append(gettext('dualrec_core.msg_audit_no_key'))
        return {
            'checked': report['count'],
            'intact': report['intact'],
            'broken': report['broken'],
            'pending': report['pending'],
            'problems': '\n'.join(problems) or None,
            }


class Branch(AuditMixin, metaclass=PoolMeta):
    __name__ = 'dualrec.branch'


class ProductType(AuditMixin, metaclass=PoolMeta):
    __name__ = 'dualrec.product.type'


class Product(AuditMixin, metaclass=PoolMeta):
    __name__ = 'dualrec.product'


class Script(AuditMixin, metaclass=PoolMeta):
    __name__ = 'dualrec.script'


class ScriptNode(AuditMixin, metaclass=PoolMeta):
    __name__ = 'dualrec.script.node'


class User(AuditMixin, metaclass=PoolMeta):
    __name__ = 'res.user'

    @classmethod
    def get_login(cls, login, parameters):
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        try:
            user_id = super().get_login(login, parameters)
        except RateLimitException:
            # trytond commits the transaction and answers 429: keep it
            AuditLog.log('login_failed', user=None, login=login,
                details='rate_limited')
            raise
        AuditLog.log('login' if user_id else 'login_failed',
            user=user_id or None, login=login)
        return user_id


class UserGroup(AuditMixin, metaclass=PoolMeta):
    __name__ = 'res.user-res.group'


class Group(AuditMixin, metaclass=PoolMeta):
    __name__ = 'res.group'


# Who may do what: every change to access rights, record rules and button
# rights is an administrative change, audited like the groups.

class ModelAccess(AuditMixin, metaclass=PoolMeta):
    __name__ = 'ir.model.access'


class ModelFieldAccess(AuditMixin, metaclass=PoolMeta):
    __name__ = 'ir.model.field.access'


class Rule(AuditMixin, metaclass=PoolMeta):
    __name__ = 'ir.rule'


class RuleGroup(AuditMixin, metaclass=PoolMeta):
    __name__ = 'ir.rule.group'


class RuleGroupGroup(AuditMixin, metaclass=PoolMeta):
    __name__ = 'ir.rule.group-res.group'


class ModelButton(AuditMixin, metaclass=PoolMeta):
    __name__ = 'ir.model.button'


class ModelButtonGroup(AuditMixin, metaclass=PoolMeta):
    __name__ = 'ir.model.button-res.group'


class ModelButtonRule(AuditMixin, metaclass=PoolMeta):
    __name__ = 'ir.model.button.rule'
