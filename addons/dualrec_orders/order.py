# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The order center: every billable service is one order.

The other modules create orders through ``Order.create_from`` (idempotent
on the source's reference) and finance moves them on with ``Order.invoice``
and ``Order.settle``; users create, confirm and cancel them.  Every
transition is an immutable ``dualrec.order.event`` and an audit entry.
"""
import datetime as dt
import hashlib
from decimal import Decimal

from sql import Select

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.tools.timezone import get_tzinfo
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from dualrec import money, orders as content

from .common import (
    COMPUTED_FIELDS, DAY, DIRECTIONS, STATES, TRANSITIONS, WEEKDAYS,
    WORKFLOW_FIELDS)
from .order_bulk import OrderBulkMixin
from .order_type import ExtensionKey_accepts
from .exceptions import OrderError, OrderExtensionError, OrderFrozenError

def _days(start, end):
    "Return the days from start to end, to the hundredth."
    if not start or not end:
        return None
    return (Decimal((end - start).total_seconds()) / DAY).quantize(
        Decimal('0.01'))


def lock_key(company, source, external_ref):
    "Return the advisory lock id of an external reference (signed 64 bits)."
    digest = hashlib.sha256(
        f'dualrec.order:{company}:{source}:{external_ref}'.encode()).digest()
    return int.from_bytes(digest[:8], 'big', signed=True)


class Order(OrderBulkMixin, ModelSQL, ModelView):
    "A billable service, from its source to its settlement."
    __string__ = "Order"
    __name__ = 'dualrec.order'
    _rec_name = 'number'

    _draft = {'readonly': Eval('state') != 'draft'}

    number = fields.Char("Number", readonly=True,
        help="The number of the order, given when it is created.")
    company = fields.Many2One('company.company', "Company", required=True,
        states=_draft, ondelete='RESTRICT',
        help="The company that bills or owes the order.")
    branch = fields.Many2One('dualrec.branch', "Branch", states=_draft,
        ondelete='RESTRICT',
        domain=[('company', '=', Eval('company', -1))],
        help="The branch the business belongs to; managers see the orders "
        "of their branch scope.")
    type_ = fields.Many2One('dualrec.order.type', "Type", required=True,
        states=_draft, ondelete='RESTRICT',
        help="The kind of service.")
    direction = fields.Selection(DIRECTIONS, "Direction", required=True,
        states=_draft,
        help="Receivable: the counterparty pays us; payable: we pay it.")
    counterparty = fields.Many2One('party.party', "Counterparty",
        required=True, states=_draft, ondelete='RESTRICT',
        help="The insurer, merchant or agent the order is settled with.")
    date = fields.Date("Date", required=True, states=_draft,
        help="The business date: the signing date of a policy, the "
        "redemption day of a coupon, the day a service was delivered.")
    currency = fields.Many2One('currency.currency', "Currency",
        required=True, states=_draft, ondelete='RESTRICT',
        help="The currency of the amounts.")
    lines = fields.One2Many('dualrec.order.line', 'order', "Lines",
        states=_draft, help="The services of the order.")
    untaxed_amount = fields.Numeric("Untaxed", digits=(16, 2),
        readonly=True, help="The sum of the lines without VAT.")
    tax_amount = fields.Numeric("Tax", digits=(16, 2), readonly=True,
        help="The sum of the VAT of the lines.")
    total_amount = fields.Numeric("Total", digits=(16, 2), readonly=True,
        help="The sum of the lines including VAT.")
    state = fields.Selection(STATES, "State", readonly=True, required=True,
        sort=False, help="Where the order is in its life.")
    state_string = state.translated('state')
    state_since = fields.DateTime("In State Since", readonly=True,
        help="When the order entered its state.")
    origin = fields.Reference("Origin", selection='get_origin',
        states=_draft,
        help="The record the order comes from (a coupon redemption, an "
        "assessment …).")
    source = fields.Char("Source", strip=True, states=_draft,
        help="The system or module the order comes from; with the external "
        "reference it identifies the order there.")
    external_ref = fields.Char("External Reference", strip=True,
        states=_draft,
        help="The id of the order in its source system; an order is never "
        "created twice for it.")
    description = fields.Text("Description", states=_draft,
        help="Anything the counterparty should know about the order.")
    credited_order = fields.Many2One('dualrec.order', "Credited Order",
        readonly=True, ondelete='RESTRICT',
        help="The order this credit order reverses.")
    extension = fields.Dict('dualrec.order.extension.key', "Extension Data",
        states=_draft,
        domain=[('types', '=', Eval('type_', -1))],
        help="What the source knows of the use of the service: use time, "
        "vehicle model, location, store, rating, comment.")
    fingerprint = fields.Char("Fingerprint", readonly=True,
        help="The digest of the content of the order; an import or an API "
        "call with the same content changes nothing.")
    cancel_reason = fields.Text("Cancel Reason", readonly=True,
        help="Why the order was cancelled.")
    confirmed_at = fields.DateTime("Confirmed At", readonly=True,
        help="When the order was confirmed.")
    invoiced_at = fields.DateTime("Invoiced At", readonly=True,
        help="When finance invoiced the order.")
    settled_at = fields.DateTime("Settled At", readonly=True,
        help="When finance settled the order.")
    cancelled_at = fields.DateTime("Cancelled At", readonly=True,
        help="When the order was cancelled.")
    confirm_days = fields.Numeric("Days to Confirm", digits=(16, 2),
        readonly=True, help="Days from creation to confirmation.")
    invoice_days = fields.Numeric("Days to Invoice", digits=(16, 2),
        readonly=True, help="Days from confirmation to invoice.")
    settle_days = fields.Numeric("Days to Settle", digits=(16, 2),
        readonly=True, help="Days from invoice to settlement.")
    events = fields.One2Many('dualrec.order.event', 'order', "Trace",
        readonly=True, help="Every transition of the order: who, when, "
        "from and to which state.")
    stuck = fields.Function(fields.Boolean("Stuck",
            help="The order has stayed in its state longer than the "
            "configured number of days."),
        'get_stuck', searcher='search_stuck')
    use_hour = fields.Integer("Use Hour", readonly=True,
        help="The hour of day (0-23) of the use time of the extension data, "
        "in the company's timezone; kept for the usage habits analysis.")
    use_weekday = fields.Selection(WEEKDAYS, "Use Weekday", readonly=True,
        sort=False,
        help="The weekday of the use time of the extension data, in the "
        "company's timezone; kept for the usage habits analysis.")

    del _draft

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('external_ref_unique',
                Unique(t, t.company, t.source, t.external_ref),
                'dualrec_orders.msg_order_external_ref_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.state, Index.Equality()),
                    (t.state_since, Index.Range())),
                Index(t, (t.date, Index.Range())),
                Index(t, (t.counterparty, Index.Equality()),
                    (t.date, Index.Range())),
                Index(t, (t.external_ref, Index.Equality())),
                })
        cls._order = [('date', 'DESC'), ('id', 'DESC')]
        cls._buttons.update({
                'confirm': {
                    'invisible': Eval('state') != 'draft',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': ~Eval('state').in_(['draft', 'confirmed']),
                    'depends': ['state'],
                    },
                'credit': {
                    'invisible': (~Eval('state').in_(
                            ['confirmed', 'invoiced', 'settled'])
                        | Eval('credited_order')),
                    'depends': ['state', 'credited_order'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'draft'

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_currency(cls):
        pool = Pool()
        Company = pool.get('company.company')
        Currency = pool.get('currency.currency')
        currencies = Currency.search([('code', '=', 'CNY')], limit=1)
        if currencies:
            return currencies[0].id
        company = Transaction().context.get('company')
        if company is not None and company >= 0:
            return Company(company).currency.id

    @classmethod
    def default_date(cls):
        return Pool().get('ir.date').today()

    @classmethod
    def default_direction(cls):
        return 'receivable'

    @classmethod
    def default_branch(cls):
        return Pool().get('res.user').get_dualrec_branch()

    @fields.depends('type_')
    def on_change_type_(self):
        if self.type_:
            self.direction = self.type_.direction

    @classmethod
    def _get_origin(cls):
        """Return the names of the models an order may come from: every
        stored model of the suite (extension hook)."""
        pool = Pool()
        return sorted(name for name, Model in pool.iterobject()
            if name.startswith('dualrec.') and issubclass(Model, ModelSQL))

    @classmethod
    def get_origin(cls):
        IrModel = Pool().get('ir.model')
        get_name = IrModel.get_name
        return [(None, '')] + [(m, get_name(m)) for m in cls._get_origin()]

    @classmethod
    def now(cls):
        """Return the time of the transitions: now, or the context's
        ``_dualrec_now`` (server code only: RPC drops keys starting with
        '_'), by which the demo data back-dates its history."""
        return Transaction().context.get('_dualrec_now') or dt.datetime.now()

    # -- content and amounts ------------------------------------------------

    @classmethod
    def content(cls, values, lines):
        """Return the fingerprint of the order of values (field names of
        content.ORDER_KEYS, type as 'type_') and its line values."""
        order = {k: values.get('type_' if k == 'type' else k)
            for k in content.ORDER_KEYS}
        return content.fingerprint(order, lines)

    def get_content(self):
        "Return the fingerprint of the order as it is stored."
        values = {
            'type_': self.type_.id if self.type_ else None,
            'direction': self.direction,
            'counterparty': (self.counterparty.id
                if self.counterparty else None),
            'branch': self.branch.id if self.branch else None,
            'currency': self.currency.id if self.currency else None,
            'date': self.date,
            'description': self.description,
            'extension': self.extension,
            }
        lines = [{
                'product': l.product.id if l.product else None,
                'description': l.description,
                'quantity': l.quantity,
                'unit_price': l.unit_price,
                'tax_rate': l.tax_rate,
                } for l in self.lines]
        return self.content(values, lines)

    @classmethod
    def _lines_of(cls, values):
        "Return the line values created with values, or None if unknown."
        lines = []
        for action in values.get('lines') or []:
            if action[0] != 'create':
                return None
            lines.extend(action[1])
        return lines

    @classmethod
    def update_amounts(cls, orders):
        "Store the totals and the fingerprint of orders from their lines."
        to_write = []
        for order in orders:
            untaxed, tax, total = money.totals(
                (l.untaxed_amount or 0, l.tax_amount or 0,
                    l.total_amount or 0) for l in order.lines)
            values = {
                'untaxed_amount': untaxed,
                'tax_amount': tax,
                'total_amount': total,
                'fingerprint': order.get_content(),
                }
            if any(getattr(order, k) != v for k, v in values.items()):
                to_write.extend(([order], values))
        if to_write:
            with without_check_access(), Transaction().set_context(
                    _dualrec_order_system=True):
                cls.write(*to_write)

    @classmethod
    def _get_usage_values(cls, values):
        """Return the use hour and weekday of the extension data of values
        in the company's timezone (datetimes are stored in UTC, as all of
        Tryton's); None when there is no use time."""
        Company = Pool().get('company.company')
        use_time = (values.get('extension') or {}).get('use_time')
        if not isinstance(use_time, dt.datetime):
            return {'use_hour': None, 'use_weekday': None}
        company = values.get('company', Transaction().context.get('company'))
        if company is not None and company >= 0 and Company(company).timezone:
            use_time = use_time.replace(tzinfo=dt.timezone.utc).astimezone(
                get_tzinfo(Company(company).timezone))
        return {'use_hour': use_time.hour,
            'use_weekday': str(use_time.weekday())}

    # -- creation -------------------------------------------------------------

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        Configuration = pool.get('dualrec.order.configuration')
        Line = pool.get('dualrec.order.line')
        values = super().preprocess_values(mode, values)
        if 'extension' in values:
            values.update(cls._get_usage_values(values))
        if mode == 'create':
            if not values.get('number'):
                values['number'] = Configuration(1).get_order_sequence(
                    values.get('company')).get()
            values.setdefault('state', 'draft')
            values.setdefault('state_since', cls.now())
            lines = cls._lines_of(values)
            if lines is not None:
                lines = cls._complete(values, lines)
                splits = [Line.split(l) for l in lines]
                untaxed, tax, total = money.totals(splits)
                values.update({
                        'untaxed_amount': untaxed,
                        'tax_amount': tax,
                        'total_amount': total,
                        'fingerprint': cls.content(values, lines),
                        })
        return values

    @classmethod
    def create(cls, vlist):
        pool = Pool()
        Guard = pool.get('dualrec.guard')
        AuditLog = pool.get('dualrec.audit.log')
        if Guard.external():
            Guard.check_create(cls, vlist, cls._get_system_fields())
            for values in vlist:
                if values.get('state', 'draft') != 'draft':
                    Guard.check_create(cls, [values], {'state'})
        vlist = cls._number(vlist)
        with Transaction().set_context(_dualrec_order_totals=True):
            orders = super().create(vlist)
        # lines given otherwise than created (a copy): sum them as stored
        unknown = [o for o, v in zip(orders, vlist)
            if cls._lines_of(v) is None]
        if unknown:
            cls.update_amounts(unknown)
        cls._add_events(orders, None, comment=None)
        AuditLog.log('create', orders, model=cls.__name__)
        return orders

    @classmethod
    def _number(cls, vlist):
        """Return copies of vlist with a number for each new order without
        one: one sequence call per company, not one per order (bulk
        imports)."""
        Configuration = Pool().get('dualrec.order.configuration')
        vlist = [v.copy() for v in vlist]
        by_company = {}
        for values in vlist:
            if not values.get('number'):
                by_company.setdefault(values.get('company'), []).append(
                    values)
        if by_company:
            configuration = Configuration(1)
            for company, values_list in by_company.items():
                sequence = configuration.get_order_sequence(company)
                for values, number in zip(values_list,
                        sequence.get_many(len(values_list))):
                    values['number'] = number
        return vlist

    @classmethod
    def _get_system_fields(cls):
        "Return the fields no user may set."
        Guard = Pool().get('dualrec.guard')
        return Guard.system_fields(cls,
            WORKFLOW_FIELDS | COMPUTED_FIELDS | {'credited_order'})

    @classmethod
    def _get_mutable_fields(cls):
        """Return the fields the system may still write once an order is
        confirmed (extension hook: finance adds its references)."""
        return WORKFLOW_FIELDS | {'fingerprint'}

    @classmethod
    def check_modification(cls, mode, orders, values=None, external=False):
        pool = Pool()
        Guard = pool.get('dualrec.guard')
        super().check_modification(
            mode, orders, values=values, external=external)
        if mode == 'write':
            if external:
                Guard.check_write(cls, values, cls._get_system_fields())
            # the state moves by the transitions only, which keep the trace
            if (WORKFLOW_FIELDS & set(values)
                    and not Transaction().context.get(
                        '_dualrec_order_system')):
                raise OrderError(gettext(
                        'dualrec_orders.msg_order_workflow_by_hand'))
            names = set(values) - cls._get_mutable_fields()
            if not Transaction().context.get('_dualrec_order_system'):
                names -= COMPUTED_FIELDS - {'number'}
            else:
                names -= COMPUTED_FIELDS
            if names:
                for order in orders:
                    if order.state != 'draft':
                        raise OrderFrozenError(gettext(
                                'dualrec_orders.msg_order_frozen',
                                order=order.rec_name,
                                state=order.state_string))
        elif mode == 'delete':
            # the trace of an order is kept for ever: cancel it instead
            for order in orders:
                raise OrderError(gettext(
                        'dualrec_orders.msg_order_delete',
                        order=order.rec_name))

    @classmethod
    def on_modification(cls, mode, orders, field_names=None):
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        super().on_modification(mode, orders, field_names=field_names)
        if mode == 'write' and not Transaction().context.get(
                '_dualrec_order_system'):
            if set(field_names or ()) - WORKFLOW_FIELDS:
                cls.update_amounts(orders)
                AuditLog.log('write', orders, model=cls.__name__,
                    field_names=field_names)

    @classmethod
    def validate_fields(cls, orders, field_names):
        super().validate_fields(orders, field_names)
        if field_names is None or {'extension', 'type_'} & field_names:
            cls.check_extension(orders)

    @classmethod
    def check_extension(cls, orders):
        """The extension keys of an order are those of its type and each
        value is of its key's kind (and within its domain)."""
        for order in orders:
            if not order.extension:
                continue
            keys = {k.name: k for k in order.type_.extension_keys}
            for name, value in order.extension.items():
                key = keys.get(name)
                if key is None:
                    raise OrderExtensionError(gettext(
                            'dualrec_orders.msg_extension_unknown_key',
                            order=order.rec_name, key=name,
                            type=order.type_.rec_name))
                if value is None:
                    continue
                if not ExtensionKey_accepts(key, value):
                    raise OrderExtensionError(gettext(
                            'dualrec_orders.msg_extension_bad_value',
                            order=order.rec_name, key=key.string,
                            value=value, kind=key.type_string))

    @classmethod
    def copy(cls, orders, default=None):
        default = default.copy() if default is not None else {}
        for name in (WORKFLOW_FIELDS | COMPUTED_FIELDS) - {'state'}:
            default.setdefault(name, None)
        default.setdefault('state', 'draft')
        default.setdefault('events', None)
        default.setdefault('external_ref', None)
        default.setdefault('credited_order', None)
        return super().copy(orders, default=default)

    # -- the entry point of the other modules ---------------------------------

    @classmethod
    def create_from(cls, vlist, confirm=True):
        """Return one order per values of vlist, creating those that do not
        exist yet, in the order of vlist.

        Each values holds the fields of an order: ``company``, ``type_``
        (an id or the code of an order type), ``counterparty``, ``date``,
        ``source`` and ``external_ref`` (required: together they identify
        the order, so a retried call returns the first order), and
        optionally ``branch``, ``direction`` (default: the type's),
        ``currency`` (default CNY), ``origin`` (a record or 'model,id'),
        ``description``, ``extension`` (a dict) and ``lines``: a list of
        dicts with ``product``, ``quantity``, ``unit_price`` (VAT included),
        ``tax_rate`` (a fraction) and optionally ``description``.

        An existing order is returned as it is, whatever the values; compare
        ``Order.content_from(values)`` with its ``fingerprint`` to know
        whether they differ.  New orders are confirmed unless confirm is
        False.  Runs without access checks: the caller decides who may.
        A call concurrent with another for the same reference waits for it
        to end, then raises ``backend.DatabaseOperationalError``: the RPC
        dispatcher and the queue worker retry the transaction, which then
        returns the other's order; other callers retry the same way.
        """
        pool = Pool()
        OrderType = pool.get('dualrec.order.type')
        transaction = Transaction()
        database = transaction.database
        cursor = transaction.connection.cursor()
        with without_check_access():
            types = {t.code: t for t in OrderType.search(
                    [('active', 'in', [True, False])])}
            result, to_create, positions = [None] * len(vlist), [], {}
            for i, values in enumerate(vlist):
                values = cls._normalize(values, types)
                key = (values['company'], values['source'],
                    values['external_ref'])
                if key in positions:
                    positions[key].append(i)
                    continue
                # a concurrent call for the same reference waits for this
                # one to end; its snapshot (repeatable read) cannot see the
                # order committed meanwhile, so its transaction is retried
                # (as the dispatcher and the queue worker do) and then
                # finds the order
                cursor.execute(*Select([database.lock_id(lock_key(*key))]))
                acquired, = cursor.fetchone()
                if not acquired:
                    cursor.execute(*Select([database.lock_id(
                                    lock_key(*key), timeout=60)]))
                    raise backend.DatabaseOperationalError(
                        f"order {key} created concurrently: retry")
                existing = cls.search([
                        ('company', '=', key[0]),
                        ('source', '=', key[1]),
                        ('external_ref', '=', key[2]),
                        ], limit=1)
                if existing:
                    result[i] = existing[0]
                    continue
                positions[key] = [i]
                to_create.append(values)
            created = cls.create(to_create) if to_create else []
            if confirm and created:
                cls.confirm(created)
            for values, order in zip(to_create, created):
                key = (values['company'], values['source'],
                    values['external_ref'])
                for i in positions[key]:
                    result[i] = order
            for key, indexes in positions.items():
                for i in indexes:
                    if result[i] is None:
                        result[i] = result[indexes[0]]
        return cls.browse([o.id for o in result])

    @classmethod
    def content_from(cls, values):
        """Return the fingerprint that create_from stores for values: equal
        to an order's ``fingerprint`` when values would not change it."""
        OrderType = Pool().get('dualrec.order.type')
        with without_check_access():
            types = {t.code: t for t in OrderType.search(
                    [('active', 'in', [True, False])])}
        values = cls._normalize(values, types)
        lines = cls._complete(values, cls._lines_of(values))
        return cls.content(values, lines)

    @classmethod
    def _complete(cls, values, lines):
        """Add to values the defaults of the content fields and return the
        lines with theirs: create applies them after preprocess_values, and
        the content must be that of the stored order."""
        Line = Pool().get('dualrec.order.line')
        missing = [n for n in ('date', 'currency', 'branch', 'direction')
            if n not in values]
        if missing:
            values.update(cls._clean_defaults(
                    cls.default_get(missing, with_rec_name=False)))
        return [{'quantity': Line.default_quantity(),
                'tax_rate': Line.default_tax_rate(), **l} for l in lines]

    @classmethod
    def _normalize(cls, values, types):
        "Return the values of create_from ready for create."
        values = dict(values)
        if not values.get('source') or not values.get('external_ref'):
            raise OrderError(gettext('dualrec_orders.msg_order_key_required'))
        type_ = values.get('type_')
        if isinstance(type_, str):
            if type_ not in types:
                raise OrderError(gettext(
                        'dualrec_orders.msg_order_unknown_type', type=type_))
            values['type_'] = types[type_].id
            values.setdefault('direction', types[type_].direction)
        elif hasattr(type_, 'id'):
            values['type_'] = type_.id
        if 'direction' not in values:
            values['direction'] = Pool().get('dualrec.order.type')(
                values['type_']).direction
        for name in ('company', 'counterparty', 'branch', 'currency'):
            if hasattr(values.get(name), 'id'):
                values[name] = values[name].id
        if not values.get('currency'):
            values['currency'] = (cls.default_currency()
                or Pool().get('company.company')(
                    values['company']).currency.id)
        origin = values.get('origin')
        if origin is not None and not isinstance(origin, str):
            values['origin'] = f'{origin.__name__},{origin.id}'
        lines = []
        for line in values.pop('lines', None) or []:
            line = dict(line)
            if hasattr(line.get('product'), 'id'):
                line['product'] = line['product'].id
            lines.append(line)
        values['lines'] = [('create', lines)]
        return values

    # -- workflow ---------------------------------------------------------------

    @classmethod
    def _add_events(cls, orders, from_state, comment=None, to_state=None):
        "Keep the transition of orders (from from_state) in their trace."
        pool = Pool()
        Event = pool.get('dualrec.order.event')
        now = cls.now()
        user = Transaction().user or None
        with without_check_access(), Transaction().set_context(
                _dualrec_order_event=True):
            Event.create([{
                        'order': o.id,
                        'date': now,
                        'user': user,
                        'from_state': (from_state(o) if callable(from_state)
                            else from_state),
                        'to_state': to_state or o.state,
                        'comment': comment,
                        } for o in orders])

    @classmethod
    def _transition(cls, orders, state, action, comment=None, **values):
        """Move orders to state: write the workflow fields, keep the events
        and log the audit entries."""
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        now = cls.now()
        previous = {o.id: o.state for o in orders}
        for order in orders:
            if (order.state, state) not in TRANSITIONS:
                raise OrderError(gettext(
                        'dualrec_orders.msg_order_transition',
                        order=order.rec_name, state=order.state_string))
        to_write = []
        for order in orders:
            order_values = {'state': state, 'state_since': now, **values}
            if state == 'confirmed' and order.state == 'invoiced':
                # reopened: confirmed since then, invoiced no more
                order_values.update(invoiced_at=None, invoice_days=None)
            elif state == 'invoiced' and order.state == 'settled':
                # unsettled: its payment failed
                order_values.update(settled_at=None, settle_days=None)
            elif state == 'confirmed':
                order_values['confirmed_at'] = now
                # a draft order is in its state since its creation, at
                # Order.now() (the demo back-dates it, not create_date)
                order_values['confirm_days'] = _days(
                    order.state_since or order.create_date, now)
            elif state == 'invoiced':
                order_values['invoiced_at'] = now
                order_values['invoice_days'] = _days(order.confirmed_at, now)
            elif state == 'settled':
                order_values['settled_at'] = now
                order_values['settle_days'] = _days(order.invoiced_at, now)
            elif state == 'cancelled':
                order_values['cancelled_at'] = now
            to_write.extend(([order], order_values))
        with without_check_access(), Transaction().set_context(
                _dualrec_order_system=True):
            cls.write(*to_write)
        cls._add_events(orders, lambda o: previous[o.id], comment=comment,
            to_state=state)
        AuditLog.log(action, orders, model=cls.__name__,
            details=comment or None)

    @classmethod
    @ModelView.button
    def confirm(cls, orders):
        "Confirm draft orders: from now on they change only by a credit."
        orders = [o for o in orders if o.state == 'draft']
        for order in orders:
            if not order.lines:
                raise OrderError(gettext(
                        'dualrec_orders.msg_order_confirm_no_lines',
                        order=order.rec_name))
        if orders:
            cls._transition(orders, 'confirmed', 'order_confirm')

    @classmethod
    @ModelView.button_action('dualrec_orders.wizard_order_cancel')
    def cancel(cls, orders):
        pass

    @classmethod
    def cancel_with_reason(cls, orders, reason):
        "Cancel draft or confirmed orders; the reason is required."
        if not (reason or '').strip():
            raise OrderError(gettext('dualrec_orders.msg_order_cancel_reason'))
        for order in orders:
            if order.state not in {'draft', 'confirmed'}:
                raise OrderError(gettext(
                        'dualrec_orders.msg_order_cancel_state',
                        order=order.rec_name, state=order.state_string))
        cls._transition(orders, 'cancelled', 'order_cancel',
            comment=reason.strip(), cancel_reason=reason.strip())

    @classmethod
    def invoice(cls, orders, comment=None):
        """Mark confirmed orders invoiced: called by finance when their
        invoice is posted, never by a user (no button, no RPC)."""
        for order in orders:
            if order.state != 'confirmed':
                raise OrderError(gettext(
                        'dualrec_orders.msg_order_invoice_state',
                        order=order.rec_name, state=order.state_string))
        cls._transition(orders, 'invoiced', 'order_invoice', comment=comment)

    @classmethod
    def settle(cls, orders, comment=None):
        """Mark invoiced orders settled: called by finance when their
        payment is reconciled, never by a user (no button, no RPC)."""
        for order in orders:
            if order.state != 'invoiced':
                raise OrderError(gettext(
                        'dualrec_orders.msg_order_settle_state',
                        order=order.rec_name, state=order.state_string))
        cls._transition(orders, 'settled', 'order_settle', comment=comment)

    @classmethod
    def reopen(cls, orders, comment=None):
        """Take invoiced orders back to confirmed: called by finance when
        their fapiao is reversed by a red-letter fapiao or voided, never by
        a user (no button, no RPC)."""
        for order in orders:
            if order.state != 'invoiced':
                raise OrderError(gettext(
                        'dualrec_orders.msg_order_reopen_state',
                        order=order.rec_name, state=order.state_string))
        cls._transition(orders, 'confirmed', 'order_reopen', comment=comment)

    @classmethod
    def unsettle(cls, orders, comment=None):
        """Take settled orders back to invoiced: called by finance when the
        payment of their invoice failed, never by a user."""
        for order in orders:
            if order.state != 'settled':
                raise OrderError(gettext(
                        'dualrec_orders.msg_order_unsettle_state',
                        order=order.rec_name, state=order.state_string))
        cls._transition(
            orders, 'invoiced', 'order_unsettle', comment=comment)

    @classmethod
    @ModelView.button_action('dualrec_orders.act_order_form')
    def credit(cls, orders):
        "Create the draft credit orders that reverse orders."
        pool = Pool()
        Line = pool.get('dualrec.order.line')
        credits = []
        for order in orders:
            if order.state not in {'confirmed', 'invoiced', 'settled'}:
                raise OrderError(gettext(
                        'dualrec_orders.msg_order_credit_state',
                        order=order.rec_name))
            existing = cls.search([('credited_order', '=', order.id),
                    ('state', '!=', 'cancelled')], limit=1)
            if existing:
                raise OrderError(gettext(
                        'dualrec_orders.msg_order_credit_exists',
                        order=order.rec_name, credit=existing[0].rec_name))
        with without_check_access():
            credits = cls.create([{
                        'company': o.company.id,
                        'branch': o.branch.id if o.branch else None,
                        'type_': o.type_.id,
                        'direction': o.direction,
                        'counterparty': o.counterparty.id,
                        'date': Pool().get('ir.date').today(),
                        'currency': o.currency.id,
                        'origin': str(o),
                        'credited_order': o.id,
                        'description': gettext(
                            'dualrec_orders.msg_order_credit_description',
                            order=o.rec_name),
                        'extension': o.extension,
                        'lines': [('create', [{
                                        'product': l.product.id,
                                        'description': l.description,
                                        'quantity': -l.quantity,
                                        'unit_price': l.unit_price,
                                        'tax_rate': l.tax_rate,
                                        } for l in o.lines])],
                        } for o in orders])
        del Line
        return {'res_id': [c.id for c in credits]}

    # -- analysis helpers -------------------------------------------------------

    def get_stuck(self, name):
        Configuration = Pool().get('dualrec.order.configuration')
        limit = Configuration(1).stuck_days
        if self.state not in {'draft', 'confirmed', 'invoiced'} or not limit:
            return False
        return (self.state_since or self.create_date) < (
            dt.datetime.now() - dt.timedelta(days=limit))

    @classmethod
    def search_stuck(cls, name, clause):
        Configuration = Pool().get('dualrec.order.configuration')
        limit = Configuration(1).stuck_days or 0
        _, operator, value = clause
        since = dt.datetime.now() - dt.timedelta(days=limit)
        stuck = [('state', 'in', ['draft', 'confirmed', 'invoiced']),
            ('state_since', '<', since)]
        if (operator == '=') == bool(value):
            return stuck
        return ['OR', ('state', 'not in', ['draft', 'confirmed', 'invoiced']),
            ('state_since', '>=', since)]


class OrderCancelStart(ModelView):
    __string__ = "Cancel Orders"
    __name__ = 'dualrec.order.cancel.start'

    reason = fields.Text("Reason", required=True,
        help="Why the orders are cancelled; kept in their trace.")


class OrderCancel(Wizard):
    "Cancel draft or confirmed orders with a reason."
    __string__ = "Cancel Orders"
    __name__ = 'dualrec.order.cancel'

    start = StateView('dualrec.order.cancel.start',
        'dualrec_orders.order_cancel_start_view_form', [
            Button("Back", 'end', 'tryton-cancel'),
            Button("Cancel Orders", 'cancel', 'tryton-ok', default=True),
            ])
    cancel = StateTransition()

    def transition_cancel(self):
        User = Pool().get('res.user')
        if not User.holds_group('group_order_center',
                module='dualrec_orders'):
            raise AccessError(gettext('dualrec_orders.msg_order_cancel_denied'))
        if self.records:
            self.model.cancel_with_reason(self.records, self.start.reason)
        return 'end'
