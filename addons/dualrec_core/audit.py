# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt

from trytond import backend
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from dualrec import audit as hashchain
from .exceptions import AuditError

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


class AuditLog(ModelSQL, ModelView):
    __string__ = "Audit Log Entry"
    __name__ = 'dualrec.audit.log'

    date = fields.Timestamp("Date", readonly=True, help="When it happened.")
    user = fields.Many2One('res.user', "User", readonly=True,
        ondelete='RESTRICT', help="Who did it.")
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
    previous_hash = fields.Char("Previous Hash", readonly=True,
        help="The hash of the entry before this one.")
    hash = fields.Char("Hash", readonly=True,
        help="The hash of this entry, chained to the previous one.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('id', 'DESC')]

    def get_rec_name(self, name):
        return f'{self.date:%Y-%m-%d %H:%M:%S} {self.action}'

    @classmethod
    def check_modification(cls, mode, entries, values=None, external=False):
        super().check_modification(
            mode, entries, values=values, external=external)
        # Append-only for everybody, root included.
        if mode in {'write', 'delete'}:
            raise AuditError(gettext('dualrec_core.msg_audit_append_only'))

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
    @without_check_access
    def log(cls, action, records=None, model=None, field_names=None,
            user=CURRENT_USER, login=None, details=None, **extra):
        """Append one entry per record (or one without record).

        The table is locked so that concurrent transactions append one after
        the other and never fork the chain.
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
        cls.lock()
        previous = cls._last_hash()
        for values in vlist:
            values['previous_hash'] = previous
            values['hash'] = previous = hashchain.digest(
                previous, cls._chained_values(values))
        with transaction.set_user(0):
            return cls.create(vlist)

    @classmethod
    def lock(cls, records=None):
        """Serialize the writers of the chain until the end of the
        transaction.

        Tryton's own table lock restarts the transaction to take the lock
        first, which the login of the web client does not survive; lock in
        place instead.  SQLite lets one writer at a time anyway.
        """
        if records is not None:
            return super().lock(records)
        transaction = Transaction()
        if transaction.database.name and backend.name == 'postgresql':
            transaction.connection.cursor().execute(
                f'LOCK TABLE "{cls._table}" IN EXCLUSIVE MODE')

    @classmethod
    def _last_hash(cls):
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.hash,
                order_by=table.id.desc, limit=1))
        row = cursor.fetchone()
        return row[0] if row else hashchain.GENESIS

    @classmethod
    def verify(cls):
        """Walk the whole chain in the database; return the number of
        entries checked and the first broken entry, or None.

        It reads the table directly, in id order, a batch at a time, so that
        neither record rules nor caches stand between it and the data.
        """
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        columns = [getattr(table, name) for name in CHAINED]
        cursor.execute(*table.select(table.id, table.previous_hash,
                table.hash, *columns, order_by=table.id.asc))
        count = 0

        def entries():
            nonlocal count
            while rows := cursor.fetchmany(1000):
                for id_, previous, hash_, *values in rows:
                    count += 1
                    yield (id_, previous, hash_,
                        cls._chained_values(dict(zip(CHAINED, values))))
        broken = hashchain.first_broken(entries())
        return count, cls(broken) if broken is not None else None


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
        help="Every entry is chained to the previous one.")
    broken = fields.Many2One('dualrec.audit.log', "First Broken Entry",
        readonly=True, help="The first entry whose hash does not match.")


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
        checked, broken = AuditLog.verify()
        return {
            'checked': checked,
            'intact': broken is None,
            'broken': broken.id if broken else None,
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
        user_id = super().get_login(login, parameters)
        AuditLog.log('login' if user_id else 'login_failed',
            user=user_id or None, login=login)
        return user_id


class UserGroup(AuditMixin, metaclass=PoolMeta):
    __name__ = 'res.user-res.group'


class Group(AuditMixin, metaclass=PoolMeta):
    __name__ = 'res.group'
