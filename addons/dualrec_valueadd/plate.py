# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Smart move-car plates (挪车牌): batches produced for the printer and
their plates.

A batch is a range of serials of one prefix and year; producing it creates
its plates in stock, each with the signed URL of its scan page printed as a
QR code (dualrec.plate: the signature is made with a key derived from the
suite's PII master key, so plates can be neither forged nor enumerated).
"""
import datetime as dt

from sql import Null

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, Workflow, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.report import Report
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access

from dualrec import pii
from dualrec import plate as plates
from dualrec.cn import normalize_plate
from dualrec.plate_sheet import sheet_pages

from .coupon import today
from .exceptions import PlateError, PlateRefusal
from .phone import OwnerPhoneMixin

PLATE_BATCH_STATES = [
    ('draft', "Draft"),
    ('produced', "Produced"),
    ]
PLATE_STATES = [
    ('in_stock', "In Stock"),
    ('assigned', "Assigned"),
    ('sold', "Sold"),
    ('bound', "Bound"),
    ('deactivated', "Deactivated"),
    ]
BINDING_ACTIONS = [
    ('bind', "Bind"),
    ('rebind', "Rebind"),
    ('unbind', "Unbind"),
    ]
BINDING_CHANNELS = [
    ('agent', "Agent (API)"),
    ('owner', "Owner (SMS code)"),
    ('staff', "Staff"),
    ]


def plate_key():
    "Return the key that signs the plates' QR codes."
    Configuration = Pool().get('dualrec.configuration')
    return plates.derive_plate_key(Configuration.pii_master())


class PlateBatch(Workflow, ModelSQL, ModelView):
    "A batch of move-car plates (挪车牌批次) made by the printer."
    __string__ = "Plate Batch"
    __name__ = 'dualrec.plate.batch'
    _rec_name = 'number'

    _draft = {'readonly': Eval('state') != 'draft'}

    number = fields.Char("Number", readonly=True,
        help="The number of the batch, given when it is created.")
    company = fields.Many2One('company.company', "Company", required=True,
        ondelete='RESTRICT', states=_draft)
    product = fields.Many2One('product.product', "Product", required=True,
        ondelete='RESTRICT', states=_draft,
        domain=[('type', '=', 'service')],
        help="The plate model and its price: a service product, as the "
        "order center sells (the plate register is the plates' stock).")
    prefix = fields.Char("Prefix", required=True, size=4, states=_draft,
        help="The letters the serials start with, e.g. NC.")
    year = fields.Integer("Year", required=True, states=_draft,
        domain=[('year', '>=', 2000), ('year', '<=', 9999)],
        help="The year of the serials.")
    first = fields.Integer("First Number", required=True, states=_draft,
        domain=[('first', '>', 0), ('first', '<=', plates.MAX_COUNTER)],
        help="The counter of the first serial of the batch.")
    last = fields.Integer("Last Number", required=True, states=_draft,
        domain=[('last', '>=', Eval('first', 0)),
            ('last', '<=', plates.MAX_COUNTER)],
        help="The counter of the last serial of the batch.")
    first_serial = fields.Function(fields.Char("First Serial"),
        'on_change_with_first_serial')
    last_serial = fields.Function(fields.Char("Last Serial"),
        'on_change_with_last_serial')
    quantity = fields.Function(fields.Integer("Quantity"),
        'on_change_with_quantity')
    production_date = fields.Date("Production Date", states=_draft)
    state = fields.Selection(PLATE_BATCH_STATES, "State", readonly=True,
        required=True, sort=False,
        help="Draft: being set up; produced: its plates exist, in stock "
        "until assigned.")
    plates = fields.One2Many('dualrec.plate', 'batch', "Plates",
        readonly=True)

    del _draft

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('number', 'DESC'))
        cls._transitions |= {('draft', 'produced')}
        cls._buttons.update({
                'produce': {
                    'invisible': Eval('state') != 'draft',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_state(cls):
        return 'draft'

    @classmethod
    def default_prefix(cls):
        return 'NC'

    @classmethod
    def default_year(cls):
        company = cls.default_company()
        if company is not None and company >= 0:
            return today(company).year

    @classmethod
    def default_first(cls):
        return 1

    def _range(self):
        if (self.prefix and self.year and self.first and self.last
                and self.first <= self.last):
            try:
                return plates.SerialRange(
                    self.prefix, self.year, self.first, self.last)
            except plates.PlateError:
                return None

    @fields.depends('prefix', 'year', 'first', 'last')
    def on_change_with_first_serial(self, name=None):
        serials = self._range()
        return serials.first if serials else None

    @fields.depends('prefix', 'year', 'first', 'last')
    def on_change_with_last_serial(self, name=None):
        serials = self._range()
        return serials.last if serials else None

    @fields.depends('prefix', 'year', 'first', 'last')
    def on_change_with_quantity(self, name=None):
        serials = self._range()
        return len(serials) if serials else None

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        Configuration = pool.get('dualrec.valueadd.configuration')
        values = super().preprocess_values(mode, values)
        if values.get('prefix'):
            values['prefix'] = values['prefix'].strip().upper()
        if mode == 'create' and not values.get('number'):
            values['number'] = Configuration(1).plate_batch_sequence.get()
        return values

    @classmethod
    def validate_fields(cls, batches, field_names):
        super().validate_fields(batches, field_names)
        if field_names and not (
                field_names & {'prefix', 'year', 'first', 'last'}):
            return
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        for batch in batches:
            try:
                plates.SerialRange(
                    batch.prefix, batch.year, batch.first, batch.last)
            except plates.PlateError as error:
                raise PlateError(gettext(
                        'dualrec_valueadd.msg_plate_batch_range',
                        batch=batch.rec_name, error=error.message)) from error
            cursor.execute(*table.select(table.number,
                    where=(table.id != batch.id)
                    & (table.prefix == batch.prefix)
                    & (table.year == batch.year)
                    & (table.first <= batch.last)
                    & (table.last >= batch.first),
                    order_by=[table.id.asc], limit=1))
            other = cursor.fetchone()
            if other:
                raise PlateError(gettext(
                        'dualrec_valueadd.msg_plate_batch_overlap',
                        batch=batch.rec_name, other=other[0]))

    @classmethod
    def check_modification(cls, mode, batches, values=None, external=False):
        super().check_modification(
            mode, batches, values=values, external=external)
        if mode == 'delete':
            for batch in batches:
                if batch.state != 'draft':
                    raise PlateError(gettext(
                            'dualrec_valueadd.msg_plate_batch_delete',
                            batch=batch.rec_name))

    @classmethod
    def copy(cls, batches, default=None):
        if batches:
            raise PlateError(gettext(
                    'dualrec_valueadd.msg_plate_batch_copy'))
        return super().copy(batches, default=default)

    @classmethod
    @ModelView.button
    @Workflow.transition('produced')
    def produce(cls, batches):
        "Create the plates of the batches, in stock."
        pool = Pool()
        Plate = pool.get('dualrec.plate')
        Date = pool.get('ir.date')
        # a batch produced twice at once, or two overlapping batches saved
        # at once (both pass validate_fields): the unique serial of the
        # plates refuses the second production
        for batch in batches:
            if not batch.production_date:
                with Transaction().set_context(company=batch.company.id):
                    batch.production_date = Date.today()
            serials = plates.SerialRange(
                batch.prefix, batch.year, batch.first, batch.last)
            # plates are made by producing their batch, by nobody else
            for sub in grouped_slice(list(serials), 2000):
                with without_check_access():
                    Plate.create([{
                                'serial': s,
                                'batch': batch.id,
                                'company': batch.company.id,
                                } for s in sub])
        cls.save(batches)


class Plate(OwnerPhoneMixin, ModelSQL, ModelView):
    "A move-car plate: a card with the QR code of its scan page."
    __string__ = "Move-car Plate"
    __name__ = 'dualrec.plate'
    _rec_name = 'serial'
    _phone_owner = 'serial'

    serial = fields.Char("Serial", required=True, readonly=True)
    batch = fields.Many2One('dualrec.plate.batch', "Batch", required=True,
        readonly=True, ondelete='RESTRICT')
    company = fields.Many2One('company.company', "Company", required=True,
        readonly=True, ondelete='RESTRICT')
    product = fields.Function(fields.Many2One('product.product',
            "Product"), 'get_product')
    state = fields.Selection(PLATE_STATES, "State", required=True,
        readonly=True, sort=False,
        help="In stock at the plate staff; assigned to an agent who "
        "promotes it; sold to an insurer; bound to a vehicle and its "
        "owner's phone; deactivated for good.")
    state_string = state.translated('state')
    agent = fields.Many2One('party.party', "Agent", readonly=True,
        ondelete='RESTRICT',
        help="The agent (业务员) who holds or placed the plate.")
    insurer = fields.Many2One('party.party', "Insurer", readonly=True,
        ondelete='RESTRICT', help="The insurer who bought the plate.")
    purchase = fields.Many2One('dualrec.plate.purchase', "Purchase",
        readonly=True, ondelete='RESTRICT')
    bind_payout_order = fields.Many2One('dualrec.order', "Binding Payout",
        readonly=True, ondelete='RESTRICT',
        help="The payout order of the agent's fee for the first binding.")
    vehicle_plate = fields.Char("Vehicle Plate", readonly=True,
        help="The number plate of the vehicle the plate is bound to.")
    phone = fields.Function(fields.Char("Owner Phone",
            help="The owner's phone, masked."), 'get_phone')
    phone_encrypted = fields.Char("Phone (Encrypted)", readonly=True)
    phone_index = fields.Char("Phone Index", readonly=True)
    bound_at = fields.DateTime("Bound At", readonly=True)
    bound_channel = fields.Selection([(None, '')] + BINDING_CHANNELS,
        "Bound By", readonly=True)
    bindings = fields.One2Many('dualrec.plate.binding', 'plate', "Bindings",
        readonly=True)
    url = fields.Function(fields.Char("Scan URL",
            help="The signed URL of the scan page, printed as the QR "
            "code."), 'get_url')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('serial_unique', Unique(t, t.serial),
                'dualrec_valueadd.msg_plate_serial_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.batch, Index.Range()), (t.state, Index.Equality())),
                Index(t, (t.agent, Index.Range()), where=t.agent != Null),
                Index(t, (t.insurer, Index.Range()), where=t.insurer != Null),
                })
        cls._order.insert(0, ('serial', 'ASC'))
        cls._buttons.update({
                'deactivate': {
                    'invisible': Eval('state') == 'deactivated',
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'in_stock'

    @classmethod
    @ModelView.button
    def deactivate(cls, records):
        """Deactivate the plates for good (lost, damaged, abused): a bound
        plate is unbound first, as the log shows."""
        for record in records:
            if record.state == 'bound':
                record.unbind('staff')
        with without_check_access():
            cls.write(list(records), {'state': 'deactivated'})

    def get_product(self, name):
        return self.batch.product.id

    @classmethod
    def find_serial(cls, serial, lock=False):
        "Return the plate of serial (without access checks) or refuse 404."
        try:
            serial = plates.format_serial(*plates.parse_serial(serial))
        except plates.PlateError:
            raise PlateRefusal('unknown', status=404,
                serial=str(serial)[:20]) from None
        with without_check_access():
            found = cls.search([('serial', '=', serial)], limit=1)
        if not found:
            raise PlateRefusal('unknown', status=404, serial=serial)
        plate, = found
        if lock:
            cls.lock([plate])
        return plate

    @classmethod
    def bindable_states(cls):
        "The states from which a plate can be bound to a vehicle."
        return {'sold', 'bound'}

    def bind(self, vehicle_plate, phone, channel):
        """Bind the plate to the vehicle and the owner's phone, logging
        it; binding it again to the same vehicle and phone changes nothing
        and returns False."""
        pool = Pool()
        Binding = pool.get('dualrec.plate.binding')
        if self.state not in self.bindable_states():
            raise PlateRefusal(f'state_{self.state}', status=409,
                serial=self.serial)
        number = normalize_plate(vehicle_plate or '')
        if not number:
            raise PlateRefusal('bad_vehicle_plate',
                value=str(vehicle_plate or '')[:20])
        try:
            phone = pii.validate_phone(str(phone or ''))
        except pii.PIIError:
            raise PlateRefusal('bad_phone') from None
        if (self.state == 'bound' and self.vehicle_plate == number
                and self.matches_phone(phone)):
            return False
        action = 'rebind' if self.state == 'bound' else 'bind'
        with without_check_access():
            self.__class__.write([self], {
                    'state': 'bound',
                    'vehicle_plate': number,
                    **self.encrypt_phone(self.serial, phone),
                    'bound_at': _now(),
                    'bound_channel': channel,
                    })
            Binding.create([{
                        'plate': self.id,
                        'company': self.company.id,
                        'action': action,
                        'channel': channel,
                        'vehicle_plate': number,
                        'phone': pii.mask_phone(phone),
                        }])
        return True

    def unbind(self, channel):
        "Unbind the plate from its vehicle and owner, logging it."
        pool = Pool()
        Binding = pool.get('dualrec.plate.binding')
        if self.state != 'bound':
            raise PlateRefusal(f'state_{self.state}', status=409,
                serial=self.serial)
        with without_check_access():
            Binding.create([{
                        'plate': self.id,
                        'company': self.company.id,
                        'action': 'unbind',
                        'channel': channel,
                        'vehicle_plate': self.vehicle_plate,
                        'phone': self.phone,
                        }])
            self.__class__.write([self], {
                    'state': 'sold',
                    'vehicle_plate': None,
                    'phone_encrypted': None,
                    'phone_index': None,
                    'bound_at': None,
                    'bound_channel': None,
                    })

    @classmethod
    def base_url(cls):
        Configuration = Pool().get('dualrec.valueadd.configuration')
        with without_check_access():
            base = Configuration(1).plate_url
        if not base:
            raise PlateError(gettext('dualrec_valueadd.msg_plate_url_missing'))
        return base

    @classmethod
    def get_url(cls, records, name):
        try:
            base = cls.base_url()
        except PlateError:
            return {r.id: None for r in records}
        key = plate_key()
        return {r.id: plates.plate_url(base, key, r.serial) for r in records}

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        if mode == 'delete':
            raise PlateError(gettext('dualrec_valueadd.msg_plate_delete'))

    @classmethod
    def copy(cls, records, default=None):
        if records:
            raise PlateError(gettext('dualrec_valueadd.msg_plate_copy'))
        return super().copy(records, default=default)


def _now():
    "Return the current naive UTC time, as Tryton stores timestamps."
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Binding(ModelSQL, ModelView):
    "A binding, rebinding or unbinding of a plate, kept for good."
    __string__ = "Plate Binding"
    __name__ = 'dualrec.plate.binding'

    plate = fields.Many2One('dualrec.plate', "Plate", required=True,
        readonly=True, ondelete='RESTRICT')
    company = fields.Many2One('company.company', "Company", required=True,
        readonly=True, ondelete='RESTRICT')
    action = fields.Selection(BINDING_ACTIONS, "Action", required=True,
        readonly=True)
    channel = fields.Selection(BINDING_CHANNELS, "Channel", required=True,
        readonly=True)
    vehicle_plate = fields.Char("Vehicle Plate", readonly=True)
    phone = fields.Char("Owner Phone", readonly=True,
        help="The owner's phone, masked.")
    user = fields.Many2One('res.user', "User", readonly=True,
        ondelete='RESTRICT')
    at = fields.DateTime("Time", required=True, readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('at', 'DESC'))
        cls._order.insert(1, ('id', 'DESC'))
        cls.__access__.add('plate')

    @classmethod
    def default_user(cls):
        return Transaction().user

    @classmethod
    def default_at(cls):
        return _now()

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        if mode in {'write', 'delete'}:
            raise PlateError(gettext('dualrec_valueadd.msg_plate_binding_log'))


class PlateSheet(Report):
    "The printer's sheets of a batch: its QR codes, 24 to an A4 page."
    __name__ = 'dualrec.plate.batch.sheet'

    @classmethod
    def _execute(cls, records, header, data, action):
        return 'html', cls.render(records)

    @classmethod
    def render(cls, batches):
        "Return the HTML page holding the SVG pages of the batches."
        pool = Pool()
        Plate = pool.get('dualrec.plate')
        base = Plate.base_url()
        key = plate_key()
        parts = ['<!DOCTYPE html><html><head><meta charset="utf-8">'
            '<style>@page{size:A4;margin:0}body{margin:0}'
            'div{page-break-after:always}svg{display:block}</style>'
            '</head><body>']
        for batch in batches:
            if batch.state != 'produced':
                raise PlateError(gettext(
                        'dualrec_valueadd.msg_plate_sheet_draft',
                        batch=batch.rec_name))
            items = [(s, plates.plate_url(base, key, s))
                for s in plates.SerialRange(
                    batch.prefix, batch.year, batch.first, batch.last)]
            for page in sheet_pages(items, title=batch.number):
                # the XML declaration has no place inside HTML
                parts.append('<div>' + page.split('\n', 1)[1] + '</div>')
        parts.append('</body></html>')
        return ''.join(parts).encode('utf-8')
