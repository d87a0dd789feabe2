# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import json
from functools import lru_cache

from trytond.i18n import gettext
from trytond.model import (
    Index, ModelSQL, ModelView, Unique, Workflow, fields)
from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.pyson import Bool, Eval, If
from trytond.rpc import RPC
from trytond.transaction import (
    Transaction, check_access, without_check_access)
from trytond.wizard import Button, StateTransition, StateView, Wizard

from dualrec import pii, retention, rules
from . import guard
from .audit import AuditMixin
from .company import company_today
from .configuration import pii_master_key
from .exceptions import PIIKeyError, SystemFieldError, TicketError

STATES = [
    ('draft', "Draft"),
    ('recorded', "Recorded"),
    ('pending', "Pending Review"),
    ('approved', "Completed"),
    ('rejected', "Rejected"),
    ]
PAYMENT_METHODS = [
    ('single', "Single Premium"),
    ('annual', "Annual"),
    ('semiannual', "Semi-annual"),
    ('quarterly', "Quarterly"),
    ('monthly', "Monthly"),
    ]
# The fields that hold personal data: (shown field, kind of blind index).
PII_FIELDS = {
    'id_number': 'id_number',
    'phone': 'phone',
    }
EDITABLE = ['draft', 'recorded', 'rejected']
# What the recording and its signed manifest show: frozen once recorded.
FROZEN = ['task_number', 'branch', 'product', 'employee_number',
    'policyholder_name', 'id_type', 'id_number']
# Set by the defaults or the system, never by a user's write (beside the
# fields declared readonly).
SYSTEM = ['company', 'salesperson']
# The searches by personal data of a user without the unmask right:
# (seconds, at most so many searches).
PII_SEARCH_LIMITS = [(60, 5), (3600, 20)]


@lru_cache(maxsize=4)
def _keys(master):
    return pii.derive_keys(pii.load_master_key(master))


def pii_keys():
    "Return the (encryption, index) keys derived from the master key."
    master = pii_master_key()
    if not master:
        raise PIIKeyError(gettext('dualrec_core.msg_pii_key_missing'))
    try:
        return _keys(master)
    except pii.PIIError:
        raise PIIKeyError(gettext('dualrec_core.msg_pii_key_missing'))


def pii_message(error):
    "Return the translated text of a pii.PIIError."
    return gettext(f'dualrec_core.msg_pii_{error.code}', **error.params)


class Ticket(AuditMixin, Workflow, ModelSQL, ModelView):
    __string__ = "Sales Ticket"
    __name__ = 'dualrec.ticket'
    _rec_name = 'number'

    _states = {
        'readonly': ~Eval('state').in_(EDITABLE),
        }
    _frozen = {
        'readonly': Eval('state') != 'draft',
        }

    number = fields.Char("Number", readonly=True,
        help="The number of the ticket, given when it is created.")
    company = fields.Many2One('company.company', "Company", required=True,
        ondelete='RESTRICT', states={'readonly': True},
        help="The company that sells.")
    task_number = fields.Char("Task Number", required=True, strip=True,
        states=_frozen,
        help="The number of the sales task or application form.")
    branch = fields.Many2One('dualrec.branch', "Branch", required=True,
        ondelete='RESTRICT', states=_frozen,
        domain=[('company', '=', Eval('company', -1))],
        help="The branch where the sale takes place.")
    product = fields.Many2One('dualrec.product', "Product", required=True,
        ondelete='RESTRICT', states=_frozen,
        domain=[('company', '=', Eval('company', -1))],
        help="The product sold.")
    product_type = fields.Function(fields.Many2One(
            'dualrec.product.type', "Product Type",
            help="The type of the product sold."),
        'on_change_with_product_type')
    script = fields.Many2One('dualrec.script', "Script", readonly=True,
        ondelete='RESTRICT',
        help="The script version the recording followed.")
    insurance_period = fields.Char("Insurance Period", states=_states,
        help="The insurance period, e.g. \"10 years\" or \"whole life\".")
    payment_method = fields.Selection(
        [(None, "")] + PAYMENT_METHODS, "Payment Method", sort=False,
        states=_states, help="How the premium is paid.")
    salesperson = fields.Many2One('res.user', "Salesperson", required=True,
        ondelete='RESTRICT', states={'readonly': True},
        help="The user who sells and records.")
    employee_number = fields.Char("Employee Number", states=_frozen,
        help="The salesperson's employee number.")
    policyholder_name = fields.Char("Policyholder", required=True,
        strip=True, states=_frozen, help="The name of the policyholder.")
    id_type = fields.Selection(pii.ID_TYPES, "ID Type", required=True,
        states=_frozen, help="The policyholder's identity document.")
    id_number = fields.Function(fields.Char("ID Number", states=_frozen,
            help="The number of the identity document; shown masked."),
        'get_masked', setter='set_pii', searcher='search_pii')
    id_number_encrypted = fields.Char("ID Number (encrypted)", readonly=True)
    id_number_index = fields.Char("ID Number (index)", readonly=True)
    phone = fields.Function(fields.Char("Phone", states=_states,
            help="The policyholder's phone number; shown masked."),
        'get_masked', setter='set_pii', searcher='search_pii')
    phone_encrypted = fields.Char("Phone (encrypted)", readonly=True)
    phone_index = fields.Char("Phone (index)", readonly=True)
    applicant_age = fields.Integer("Applicant Age", states=_states,
        domain=[If(Bool(Eval('applicant_age')),
                [('applicant_age', '>=', 0), ('applicant_age', '<', 130)],
                [])],
        help="The applicant's age in years; from 60 the recording is "
        "mandatory for long-term personal insurance.")
    recording_required = fields.Function(fields.Boolean(
            "Recording Required",
            help="CIRC [2017] No. 54 requires this sale to be recorded."),
        'get_recording_required')
    state = fields.Selection(STATES, "State", readonly=True, required=True,
        sort=False, help="Where the ticket is in its review.")
    recordings = fields.One2Many('dualrec.recording', 'ticket', "Recordings",
        readonly=True, help="Every recording version of the ticket.")
    recording = fields.Function(fields.Many2One(
            'dualrec.recording', "Current Recording",
            help="The latest recording version."),
        'get_recording')
    recording_status = fields.Function(fields.Selection(
            'get_recording_statuses', "Recording Status",
            help="The status of the latest recording."),
        'get_recording_status')
    review_comment = fields.Text("Review Comment", readonly=True,
        help="The reviewer's comment on the latest decision.")
    contract_end = fields.Date("Contract End",
        help="When the insurance contract ends; the retention of the "
        "recordings runs from it.")
    holds = fields.One2Many('dualrec.legal.hold', 'ticket', "Legal Holds",
        help="Complaints and cases that keep the recordings longer.")
    retention_end = fields.Date("Retention End", readonly=True,
        help="The last day the recordings must be kept; empty while the "
        "contract end is unknown or a legal hold is active.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__rpc__['unmask'] = RPC(readonly=False, instantiate=0)
        t = cls.__table__()
        cls._sql_constraints += [
            ('number_unique', Unique(t, t.company, t.number),
                'dualrec_core.msg_ticket_number_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.id_number_index, Index.Equality())),
                Index(t, (t.phone_index, Index.Equality())),
                Index(t, (t.state, Index.Equality())),
                Index(t, (t.retention_end, Index.Range())),
                })
        cls._order = [('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'recorded'),
            ('recorded', 'recorded'),
            ('rejected', 'recorded'),
            ('recorded', 'pending'),
            ('pending', 'approved'),
            ('pending', 'rejected'),
            # an administrator's correction asks for a new review
            ('approved', 'pending'),
            }
        cls._buttons.update({
                'submit': {
                    'invisible': Eval('state') != 'recorded',
                    'readonly': Eval('recording_status') != 'ready',
                    'depends': ['state', 'recording_status'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_state():
        return 'draft'

    @staticmethod
    def default_id_type():
        return 'resident_id'

    @staticmethod
    def default_salesperson():
        return Transaction().user or None

    @classmethod
    def default_branch(cls):
        User = Pool().get('res.user')
        return User.get_dualrec_branch()

    @classmethod
    def default_employee_number(cls):
        User = Pool().get('res.user')
        user = Transaction().user
        return User(user).employee_number if user else None

    @fields.depends('product')
    def on_change_with_product_type(self, name=None):
        return self.product.type_ if self.product else None

    def get_recording_required(self, name):
        product = self.product
        return rules.recording_mandatory(product.category,
            product.period_class, product.channel, self.applicant_age)

    @classmethod
    def get_recording(cls, tickets, name):
        pool = Pool()
        Recording = pool.get('dualrec.recording')
        result = {t.id: None for t in tickets}
        for recording in Recording.search([
                    ('ticket', 'in', [t.id for t in tickets]),
                    ], order=[('version', 'ASC')]):
            result[recording.ticket.id] = recording.id
        return result

    @classmethod
    def get_recording_statuses(cls):
        pool = Pool()
        Recording = pool.get('dualrec.recording')
        return [(None, "")] + Recording.fields_get(
            ['status'])['status']['selection']

    def get_recording_status(self, name):
        return self.recording.status if self.recording else None

    # Personal data: stored encrypted and indexed, shown masked.

    @classmethod
    def _pii_normalize(cls, name, value, id_type):
        if name == 'id_number':
            return pii.validate_id_number(id_type, value,
                today=company_today())
        return pii.validate_phone(value)

    @classmethod
    def _pii_mask(cls, name, value):
        return (pii.mask_id_number(value) if name == 'id_number'
            else pii.mask_phone(value))

    def _pii_associated(self, name):
        # binds the ciphertext to its ticket and field: a ciphertext copied
        # to another ticket or field does not decrypt
        return f'{self.__name__},{self.id},{name}'.encode()

    def _pii_plain(self, name):
        token = getattr(self, f'{name}_encrypted')
        if not token:
            return None
        enc_key, _ = pii_keys()
        try:
            return pii.decrypt_value(
                enc_key, token, self._pii_associated(name))
        except pii.PIIError as error:
            raise TicketError(pii_message(error)) from error

    @classmethod
    def get_masked(cls, tickets, names):
        result = {n: {t.id: None for t in tickets} for n in names}
        for name in names:
            for ticket in tickets:
                if getattr(ticket, f'{name}_encrypted'):
                    result[name][ticket.id] = cls._pii_mask(
                        name, ticket._pii_plain(name))
        return result

    @classmethod
    def set_pii(cls, tickets, name, value):
        enc_key, index_key = pii_keys()
        to_write = []
        for ticket in tickets:
            if value:
                try:
                    plain = cls._pii_normalize(name, value, ticket.id_type)
                except pii.PIIError as error:
                    raise TicketError(pii_message(error)) from error
                values = {
                    f'{name}_encrypted': pii.encrypt_value(
                        enc_key, plain, ticket._pii_associated(name)),
                    f'{name}_index': pii.blind_index(
                        index_key, PII_FIELDS[name], plain),
                    }
                if (name == 'id_number' and ticket.applicant_age is None
                        and (birth := pii.birth_date_from_id(
                                ticket.id_type, plain))):
                    values['applicant_age'] = pii.age_on(
                        birth, company_today(ticket.company))
            else:
                values = {f'{name}_encrypted': None, f'{name}_index': None}
            to_write.extend(([ticket], values))
        if to_write:
            # the user's write of the shown field was checked: the system
            # sets the ciphertext and its index
            with without_check_access():
                cls.write(*to_write)

    @classmethod
    def search_pii(cls, name, clause):
        """Search personal data by exact value only, through its blind index.

        A user without the unmask right searches only by a full, valid
        value, with '=' only, at most PII_SEARCH_LIMITS times: otherwise
        the masked value and a few searches recover the hidden digits.
        Every search of a user is written to the audit log.
        """
        pool = Pool()
        User = pool.get('res.user')
        _, operator, value = clause[:3]
        if operator in {'=', '!='} and value is None:
            return [(f'{name}_index', operator, None)]
        _, index_key = pii_keys()
        if operator not in {'=', '!='} or not isinstance(value, str):
            raise TicketError(gettext('dualrec_core.msg_pii_search_exact'))
        value = value.strip()
        # searchers run without the access checks: any user's search counts
        user_search = bool(Transaction().user)
        restricted = user_search and not User.holds_group(
            'group_dualrec_unmask')
        if restricted and operator != '=':
            raise TicketError(gettext('dualrec_core.msg_pii_search_exact'))
        try:
            if name == 'id_number':
                plain = (cls._pii_full_id_number(value) if restricted
                    else pii.normalize_id_number('other', value))
            else:
                plain = pii.validate_phone(value)
        except pii.PIIError:
            if restricted:
                raise TicketError(
                    gettext('dualrec_core.msg_pii_search_full'))
            # an invalid value matches no stored one
            return [] if operator == '!=' else [('id', '=', None)]
        if user_search:
            cls._log_pii_search(name, restricted)
        return [(f'{name}_index', operator,
                pii.blind_index(index_key, PII_FIELDS[name], plain))]

    @classmethod
    def _pii_full_id_number(cls, value):
        """Return value normalized if it is a valid number of an ID type
        with a format ('other' takes any text: not a full number)."""
        error = None
        for id_type, _ in pii.ID_TYPES:
            if id_type == 'other':
                continue
            try:
                return pii.validate_id_number(
                    id_type, value, today=company_today())
            except pii.PIIError as e:
                error = e
        raise error

    @classmethod
    def _log_pii_search(cls, name, restricted):
        """Audit a search by personal data, in its own transaction (searches
        run read-only), and refuse it past the limits when restricted."""
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        transaction = Transaction()
        user = transaction.user
        now = dt.datetime.now()

        def log():
            with without_check_access():
                if restricted:
                    for seconds, limit in PII_SEARCH_LIMITS:
                        count = AuditLog.search_count([
                                ('action', '=', 'pii_search'),
                                ('user', '=', user),
                                ('date', '>=',
                                    now - dt.timedelta(seconds=seconds)),
                                ])
                        if count >= limit:
                            raise TicketError(gettext(
                                    'dualrec_core.msg_pii_search_rate'))
                AuditLog.log('pii_search', model=cls.__name__,
                    field_names=[name],
                    details='restricted' if restricted else None)
        if transaction.readonly:
            # committed at once, whatever the search's transaction becomes
            with transaction.new_transaction():
                log()
        else:
            log()

    @classmethod
    def _check_pii_values(cls, values, id_type):
        "Refuse invalid personal data before anything is written."
        for name in PII_FIELDS:
            if values.get(name):
                try:
                    cls._pii_normalize(name, values[name], id_type)
                except pii.PIIError as error:
                    raise TicketError(pii_message(error)) from error

    @classmethod
    def _get_system_fields(cls):
        "Return the names of the fields that only the system sets."
        return guard.system_fields(cls, SYSTEM)

    @classmethod
    def create(cls, vlist):
        if guard.external():
            guard.check_create(cls, vlist, cls._get_system_fields())
        for values in vlist:
            cls._check_pii_values(
                values, values.get('id_type', cls.default_id_type()))
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        actions = iter(args)
        for tickets, values in zip(actions, actions):
            if set(values) & set(PII_FIELDS):
                for ticket in tickets:
                    cls._check_pii_values(
                        values, values.get('id_type', ticket.id_type))
        super().write(*args)

    @classmethod
    def on_modification(cls, mode, tickets, field_names=None):
        super().on_modification(mode, tickets, field_names=field_names)
        if mode == 'write' and field_names and (
                {'contract_end', 'product'} & set(field_names)):
            with Transaction().set_context(_check_access=False):
                cls.update_retention(tickets)

    @classmethod
    def update_retention(cls, tickets):
        "Compute the retention end of tickets from their contract and holds."
        to_write = []
        for ticket in tickets:
            end = retention.retention_end(ticket.product.period_class,
                ticket.contract_end,
                [(h.placed_on, h.released_on) for h in ticket.holds])
            if end != ticket.retention_end:
                to_write.extend(([ticket], {'retention_end': end}))
        if to_write:
            # through super: the computed value is not a user's change
            super().write(*to_write)

    @classmethod
    def validate_fields(cls, tickets, field_names):
        super().validate_fields(tickets, field_names)
        if field_names is None or 'id_type' in field_names:
            # a change of document type must still fit the number
            for ticket in tickets:
                if ticket.id_number_encrypted:
                    try:
                        pii.validate_id_number(
                            ticket.id_type, ticket._pii_plain('id_number'),
                            today=company_today(ticket.company))
                    except pii.PIIError as error:
                        raise TicketError(pii_message(error)) from error

    @classmethod
    def unmask(cls, tickets):
        """Return the plain personal data of tickets, and log it.

        Only the holders of the unmask right get it; every call is written
        to the audit log with the fields shown.
        """
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        User = pool.get('res.user')
        transaction = Transaction()
        if transaction.user:
            # the wizard runs without the access checks: the right and the
            # record rules of the tickets are checked whoever calls
            if not User.holds_group('group_dualrec_unmask'):
                raise AccessError(gettext('dualrec_core.msg_pii_unmask_denied'))
            with check_access():
                cls.read([t.id for t in tickets], ['id'])
        result = {}
        for ticket in tickets:
            result[ticket.id] = {
                name: ticket._pii_plain(name) for name in PII_FIELDS}
        AuditLog.log('unmask', tickets, field_names=list(PII_FIELDS))
        return result

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        Configuration = pool.get('dualrec.configuration')
        User = pool.get('res.user')
        values = super().preprocess_values(mode, values)
        if mode == 'create':
            if not values.get('number'):
                values['number'] = Configuration(1).ticket_sequence.get()
            if not values.get('employee_number') and values.get(
                    'salesperson'):
                values['employee_number'] = User(
                    values['salesperson']).employee_number
        return values

    @classmethod
    def copy(cls, tickets, default=None):
        default = default.copy() if default is not None else {}
        for name in ['number', 'script', 'recordings', 'review_comment',
                'contract_end', 'holds', 'retention_end',
                'id_number_encrypted', 'id_number_index', 'phone_encrypted',
                'phone_index']:
            default.setdefault(name, None)
        default.setdefault('state', 'draft')
        return super().copy(tickets, default=default)

    @classmethod
    def check_modification(cls, mode, tickets, values=None, external=False):
        super().check_modification(
            mode, tickets, values=values, external=external)
        if mode == 'write' and external:
            guard.check_write(cls, values, cls._get_system_fields())
            # the fields' states are only the clients': a pending or
            # completed ticket takes no user's write (the contract end has
            # its own wizard and field access)
            names = set(values) - {'contract_end'}
            for ticket in tickets:
                if names and ticket.state not in EDITABLE:
                    raise SystemFieldError(gettext(
                            'dualrec_core.msg_ticket_frozen',
                            ticket=ticket.rec_name,
                            fields=', '.join(cls._fields[n].string
                                for n in sorted(names))))
        if (mode == 'write' and set(values) & set(FROZEN)
                and not Transaction().context.get('_dualrec_correction')):
            # the correction wizard sets the key; RPC calls cannot, they
            # lose every context key starting with '_'
            for ticket in tickets:
                if ticket.state != 'draft' or ticket.recordings:
                    names = sorted(set(values) & set(FROZEN))
                    raise SystemFieldError(gettext(
                            'dualrec_core.msg_ticket_frozen',
                            ticket=ticket.rec_name,
                            fields=', '.join(
                                cls._fields[n].string for n in names)))
        if mode == 'delete':
            for ticket in tickets:
                if (ticket.state != 'draft' or ticket.recordings
                        or ticket.holds):
                    raise TicketError(gettext(
                            'dualrec_core.msg_ticket_delete',
                            ticket=ticket.rec_name))

    @classmethod
    @Workflow.transition('recorded')
    def record(cls, tickets):
        "Attach a new recording: called when an upload completes."
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('pending')
    def submit(cls, tickets):
        "Send the tickets for review; their current recording must be ready."
        for ticket in tickets:
            if ticket.recording_status != 'ready':
                raise TicketError(gettext(
                        'dualrec_core.msg_ticket_submit_not_ready',
                        ticket=ticket.rec_name))

    @classmethod
    def correct(cls, tickets, values, reason):
        """Correct the frozen fields of recorded tickets (administrators).

        The old and new values (personal data masked) and the reason go to
        the audit log; a completed ticket goes back to be reviewed again.
        """
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        User = pool.get('res.user')
        if not User.holds_group('group_dualrec_admin'):
            raise AccessError(
                gettext('dualrec_core.msg_ticket_correct_denied'))
        values = {k: v for k, v in values.items() if k in FROZEN}
        for ticket in tickets:
            changes = {}
            for name, value in values.items():
                old = getattr(ticket, name)
                old = old.id if isinstance(old, ModelSQL) else old
                if name == 'id_number':
                    # the stored number shows masked: compare plain values
                    if value and value != ticket._pii_plain(name):
                        changes[name] = (old, cls._pii_mask(name, value))
                elif value != old:
                    if name == 'policyholder_name':
                        old, value = pii.mask_name(old), pii.mask_name(value)
                    changes[name] = (old, value)
            if not changes:
                raise TicketError(gettext(
                        'dualrec_core.msg_ticket_correct_nothing',
                        ticket=ticket.rec_name))
            with Transaction().set_context(_dualrec_correction=True), \
                    without_check_access():
                cls.write([ticket], {n: values[n] for n in changes})
                ticket = cls(ticket.id)
            AuditLog.log('correct', [ticket], field_names=list(changes),
                details=json.dumps({
                        'reason': reason,
                        'changes': {n: [str(o) if o is not None else None
                                for o in c] for n, c in changes.items()},
                        }, ensure_ascii=False, sort_keys=True))
        with without_check_access():
            cls.reopen([t for t in tickets if t.state == 'approved'])

    @classmethod
    @Workflow.transition('pending')
    def reopen(cls, tickets):
        "Send completed tickets back to review after a correction."
        pass

    @classmethod
    @Workflow.transition('approved')
    def approve(cls, tickets, comment=None):
        "Complete the tickets; the review module decides when."
        cls.write(tickets, {'review_comment': comment})

    @classmethod
    @Workflow.transition('rejected')
    def reject(cls, tickets, comment):
        "Send the tickets back to be recorded again."
        cls.write(tickets, {'review_comment': comment})


class TicketUnmask(ModelView):
    __string__ = "Ticket Personal Data"
    __name__ = 'dualrec.ticket.unmask.show'

    ticket = fields.Many2One('dualrec.ticket', "Ticket", readonly=True,
        help="The ticket whose personal data is shown.")
    policyholder_name = fields.Char("Policyholder", readonly=True,
        help="The name of the policyholder.")
    id_number = fields.Char("ID Number", readonly=True,
        help="The full number of the identity document.")
    phone = fields.Char("Phone", readonly=True,
        help="The full phone number.")


class ShowPersonalData(Wizard):
    "Show the plain personal data of a ticket; the display is audited."
    __string__ = "Show Personal Data"
    __name__ = 'dualrec.ticket.unmask'

    start = StateView('dualrec.ticket.unmask.show',
        'dualrec_core.ticket_unmask_show_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def default_start(self, fields):
        Ticket = Pool().get('dualrec.ticket')
        ticket = self.record
        plain = Ticket.unmask([ticket])[ticket.id]
        return {
            'ticket': ticket.id,
            'policyholder_name': ticket.policyholder_name,
            'id_number': plain['id_number'],
            'phone': plain['phone'],
            }


class TicketCorrectStart(ModelView):
    __string__ = "Correct Ticket"
    __name__ = 'dualrec.ticket.correct.start'

    ticket = fields.Many2One('dualrec.ticket', "Ticket", readonly=True,
        help="The recorded ticket to correct.")
    company = fields.Many2One('company.company', "Company", readonly=True,
        help="The company of the ticket.")
    task_number = fields.Char("Task Number", required=True, strip=True,
        help="The number of the sales task or application form.")
    branch = fields.Many2One('dualrec.branch', "Branch", required=True,
        domain=[('company', '=', Eval('company', -1))],
        help="The branch where the sale takes place.")
    product = fields.Many2One('dualrec.product', "Product", required=True,
        domain=[('company', '=', Eval('company', -1))],
        help="The product sold.")
    employee_number = fields.Char("Employee Number",
        help="The salesperson's employee number.")
    policyholder_name = fields.Char("Policyholder", required=True,
        strip=True, help="The name of the policyholder.")
    id_type = fields.Selection(pii.ID_TYPES, "ID Type", required=True,
        help="The policyholder's identity document.")
    id_number = fields.Char("New ID Number",
        help="The full corrected number; leave empty to keep the number.")
    reason = fields.Text("Reason", required=True,
        help="Why the ticket is corrected; kept in the audit log.")


class CorrectTicket(Wizard):
    "Correct what a recorded ticket shows; audited, reviewed again."
    __string__ = "Correct Ticket"
    __name__ = 'dualrec.ticket.correct'

    start = StateView('dualrec.ticket.correct.start',
        'dualrec_core.ticket_correct_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Correct", 'correct', 'tryton-ok', default=True),
            ])
    correct = StateTransition()

    def default_start(self, fields):
        ticket = self.record
        return {
            'ticket': ticket.id,
            'company': ticket.company.id,
            'task_number': ticket.task_number,
            'branch': ticket.branch.id,
            'product': ticket.product.id,
            'employee_number': ticket.employee_number,
            'policyholder_name': ticket.policyholder_name,
            'id_type': ticket.id_type,
            }

    def transition_correct(self):
        Ticket = Pool().get('dualrec.ticket')
        start = self.start
        values = {name: getattr(start, name) for name in FROZEN}
        for name in ['branch', 'product']:
            values[name] = values[name].id
        Ticket.correct([self.record], values, start.reason)
        return 'end'

    def end(self):
        return 'reload'
