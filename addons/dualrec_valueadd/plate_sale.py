# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The way of a move-car plate from the stock to the insurer: assignments to
the agents who promote the plates (and their returns), the insurers'
purchases and the agreements that price the calls and the agents' fees.

Plates are chosen by a serial range or by a count (the lowest serials first)
and locked while they move, so two assignments or purchases made at once
never take the same plate.
"""
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Workflow, fields
from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.pyson import Bool, Eval, If
from trytond.transaction import Transaction, without_check_access

from dualrec import money
from dualrec import plate as plates

from .coupon import today
from .exceptions import PlateError
from .merchant import overlapping

FEE_MODES = [
    ('per_call', "Per Connected Call"),
    ('per_minute', "Per Started Minute"),
    ]
SETTLEMENT_MODES = [
    ('separate', "Separate"),
    ('merged', "Merged"),
    ]


def select_plates(company, first_serial, last_serial, quantity, states,
        agent=None, lock=True):
    """Return the plates of company to move: those of the serial range (all
    of which must exist and be in one of states, held by agent when given)
    or the quantity lowest serials that are.  Raises PlateError."""
    pool = Pool()
    Plate = pool.get('dualrec.plate')
    base = [('company', '=', int(company))]
    if agent is not None:
        base.append(('agent', '=', int(agent)))
    eligible = base + [('state', 'in', list(states))]
    with without_check_access():
        if first_serial or last_serial:
            try:
                serials = plates.SerialRange.parse(
                    first_serial or last_serial, last_serial)
            except plates.PlateError as error:
                raise PlateError(gettext(
                        'dualrec_valueadd.msg_plate_move_range',
                        error=error.message)) from error
            found = Plate.search([
                    ('serial', '>=', serials.first),
                    ('serial', '<=', serials.last),
                    ('company', '=', int(company)),
                    ])
            found = [p for p in found if p.serial in serials]
            if len(found) != len(serials):
                raise PlateError(gettext(
                        'dualrec_valueadd.msg_plate_move_missing',
                        first=serials.first, last=serials.last,
                        missing=len(serials) - len(found)))
        else:
            if not quantity or quantity <= 0:
                raise PlateError(gettext(
                        'dualrec_valueadd.msg_plate_move_nothing'))
            found = Plate.search(eligible, order=[('serial', 'ASC')],
                limit=quantity)
            if len(found) < quantity:
                raise PlateError(gettext(
                        'dualrec_valueadd.msg_plate_move_short',
                        quantity=quantity, available=len(found)))
        if lock:
            Plate.lock(found)
            # read again once locked: another move may have taken some
            found = Plate.browse([p.id for p in found])
        wrong = [p for p in found if p.state not in states
            or (agent is not None and (not p.agent
                    or p.agent.id != int(agent)))]
        if wrong:
            plate = wrong[0]
            raise PlateError(gettext(
                    'dualrec_valueadd.msg_plate_move_state',
                    serial=plate.serial, state=plate.state_string,
                    count=len(wrong)))
    return found


class PlateMoveMixin:
    """The plates a move (an assignment, a purchase) takes: a serial range,
    or a quantity of the lowest serials; a move done is kept."""
    __slots__ = ()

    first_serial = fields.Char("First Serial",
        states={'readonly': Eval('state') != 'draft'},
        help="The first serial of the range moved; leave the range empty "
        "to move a quantity.")
    last_serial = fields.Char("Last Serial",
        states={'readonly': Eval('state') != 'draft'},
        help="The last serial of the range moved (default: the first).")
    quantity = fields.Integer("Quantity", states={
            'readonly': Eval('state') != 'draft',
            'required': ~Eval('first_serial') & (Eval('state') == 'draft'),
            },
        domain=[If(Bool(Eval('quantity')), ('quantity', '>', 0), ())],
        help="Without a range: how many plates to move, the lowest serials "
        "first.")

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        for name in ('first_serial', 'last_serial'):
            if values.get(name):
                values[name] = values[name].strip().upper()
        return values

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        if mode == 'delete':
            for record in records:
                if record.state != 'draft':
                    raise AccessError(gettext(
                            'dualrec_valueadd.msg_plate_move_delete',
                            move=record.rec_name))


class Assignment(PlateMoveMixin, Workflow, ModelSQL, ModelView):
    """Plates handed to an agent (业务员) who promotes them, or returned by
    the agent to the stock."""
    __string__ = "Plate Assignment"
    __name__ = 'dualrec.plate.assignment'

    _draft = {'readonly': Eval('state') != 'draft'}

    company = fields.Many2One('company.company', "Company", required=True,
        ondelete='RESTRICT', states=_draft)
    kind = fields.Selection([
            ('assign', "Assignment"),
            ('return', "Return"),
            ], "Kind", required=True, states=_draft,
        help="Assignment: plates in stock go to the agent; return: the "
        "agent's unsold plates come back to the stock.")
    kind_string = kind.translated('kind')
    agent = fields.Many2One('party.party', "Agent", required=True,
        ondelete='RESTRICT', states=_draft)
    date = fields.Date("Date", required=True, states=_draft)
    plates = fields.Many2Many('dualrec.plate.assignment-dualrec.plate',
        'assignment', 'plate', "Plates", readonly=True)
    plate_count = fields.Function(fields.Integer("Plates"),
        'get_plate_count')
    state = fields.Selection([
            ('draft', "Draft"),
            ('done', "Done"),
            ], "State", required=True, readonly=True, sort=False)

    del _draft

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {('draft', 'done')}
        cls._buttons.update({
                'do': {
                    'invisible': Eval('state') != 'draft',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_kind(cls):
        return 'assign'

    @classmethod
    def default_state(cls):
        return 'draft'

    @classmethod
    def default_date(cls):
        company = cls.default_company()
        if company is not None and company >= 0:
            return today(company)

    def get_rec_name(self, name):
        return f'{self.agent.rec_name} {self.date} ({self.kind_string})'

    def get_plate_count(self, name):
        return len(self.plates)

    @classmethod
    @ModelView.button
    @Workflow.transition('done')
    def do(cls, assignments):
        "Move the plates to the agents, or back to the stock."
        Plate = Pool().get('dualrec.plate')
        for assignment in assignments:
            if assignment.kind == 'assign':
                moved = select_plates(assignment.company,
                    assignment.first_serial, assignment.last_serial,
                    assignment.quantity, {'in_stock'})
                values = {'state': 'assigned', 'agent': assignment.agent.id}
            else:
                moved = select_plates(assignment.company,
                    assignment.first_serial, assignment.last_serial,
                    assignment.quantity, {'assigned'},
                    agent=assignment.agent)
                values = {'state': 'in_stock', 'agent': None}
            with without_check_access():
                Plate.write(moved, values)
            assignment.plates = moved
            assignment.quantity = len(moved)
        cls.save(assignments)


class AssignmentPlate(ModelSQL):
    __string__ = "Plate Assignment - Plate"
    __name__ = 'dualrec.plate.assignment-dualrec.plate'

    assignment = fields.Many2One('dualrec.plate.assignment', "Assignment",
        required=True, ondelete='CASCADE')
    plate = fields.Many2One('dualrec.plate', "Plate", required=True,
        ondelete='RESTRICT')


class Purchase(PlateMoveMixin, Workflow, ModelSQL, ModelView):
    """Plates bought by an insurer (保司采购), who then distributes them to
    its policyholders.  In separate settlement the receivable purchase
    order is made when the purchase is confirmed; in merged settlement the
    purchase is settled with the calls of its period in one order."""
    __string__ = "Plate Purchase"
    __name__ = 'dualrec.plate.purchase'
    _rec_name = 'number'

    _draft = {'readonly': Eval('state') != 'draft'}

    number = fields.Char("Number", readonly=True)
    company = fields.Many2One('company.company', "Company", required=True,
        ondelete='RESTRICT', states=_draft)
    insurer = fields.Many2One('party.party', "Insurer", required=True,
        ondelete='RESTRICT', states=_draft)
    agent = fields.Many2One('party.party', "Agent", ondelete='RESTRICT',
        states=_draft,
        help="Take the plates from this agent's stock (the agent who "
        "promoted the sale); none: from the plates in stock or assigned.")
    date = fields.Date("Date", required=True, states=_draft,
        help="The day of the purchase: its settlement period.")
    mode = fields.Selection(SETTLEMENT_MODES, "Settlement", required=True,
        states=_draft,
        help="Separate: the purchase is settled at once and the calls "
        "apart; merged: the purchase and the calls of its period are "
        "settled in one order.")
    unit_price = fields.Numeric("Unit Price (VAT incl.)", digits=(16, 2),
        required=True, states=_draft,
        domain=[('unit_price', '>=', 0)])
    tax_rate = fields.Numeric("VAT Rate", digits=(16, 4), required=True,
        states=_draft, help="The VAT rate of the plates, as a fraction.")
    amount = fields.Function(fields.Numeric("Amount (VAT incl.)",
            digits=(16, 2)), 'on_change_with_amount')
    plates = fields.One2Many('dualrec.plate', 'purchase', "Plates",
        readonly=True)
    order = fields.Many2One('dualrec.order', "Order", readonly=True,
        ondelete='RESTRICT',
        help="The receivable order that settles the purchase.")
    state = fields.Selection([
            ('draft', "Draft"),
            ('confirmed', "Confirmed"),
            ], "State", required=True, readonly=True, sort=False)

    del _draft

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('date', 'DESC'), ('number', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {('draft', 'confirmed')}
        cls._buttons.update({
                'confirm': {
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
    def default_mode(cls):
        return 'separate'

    @classmethod
    def default_tax_rate(cls):
        return Decimal('0.13')

    @classmethod
    def default_date(cls):
        company = cls.default_company()
        if company is not None and company >= 0:
            return today(company)

    @fields.depends('unit_price', 'quantity')
    def on_change_with_amount(self, name=None):
        if self.unit_price is not None and self.quantity:
            return money.round_fen(self.unit_price * self.quantity)

    @classmethod
    def preprocess_values(cls, mode, values):
        Configuration = Pool().get('dualrec.valueadd.configuration')
        values = super().preprocess_values(mode, values)
        if mode == 'create' and not values.get('number'):
            values['number'] = Configuration(1).plate_purchase_sequence.get()
        return values

    @classmethod
    def validate_fields(cls, purchases, field_names):
        super().validate_fields(purchases, field_names)
        for purchase in purchases:
            if purchase.tax_rate not in money.VAT_RATES:
                raise PlateError(gettext(
                        'dualrec_valueadd.msg_plate_rate',
                        record=purchase.rec_name, rate=purchase.tax_rate))

    @classmethod
    def copy(cls, purchases, default=None):
        default = default.copy() if default else {}
        default.setdefault('number')
        default.setdefault('order')
        default.setdefault('plates')
        return super().copy(purchases, default=default)

    @classmethod
    @ModelView.button
    @Workflow.transition('confirmed')
    def confirm(cls, purchases):
        """Sell the plates to the insurers and, in separate settlement,
        make the receivable purchase orders."""
        Plate = Pool().get('dualrec.plate')
        for purchase in purchases:
            sold = select_plates(purchase.company, purchase.first_serial,
                purchase.last_serial, purchase.quantity,
                {'assigned'} if purchase.agent else {'in_stock', 'assigned'},
                agent=purchase.agent)
            with without_check_access():
                Plate.write(sold, {
                        'state': 'sold',
                        'insurer': purchase.insurer.id,
                        'purchase': purchase.id,
                        })
            purchase.quantity = len(sold)
        cls.save(purchases)
        separate = [p for p in purchases if p.mode == 'separate']
        if separate:
            cls.create_orders(separate)

    def _purchase_lines(self):
        "Return the order lines of the plates bought, one per product."
        counts = {}
        with without_check_access():
            for plate in self.plates:
                product = plate.batch.product
                counts[product] = counts.get(product, 0) + 1
        return [{
                'product': product.id,
                'quantity': count,
                'unit_price': self.unit_price,
                'tax_rate': self.tax_rate,
                'description': gettext(
                    'dualrec_valueadd.msg_plate_purchase_line',
                    purchase=self.number, product=product.rec_name),
                } for product, count in sorted(
                counts.items(), key=lambda i: i[0].id)]

    @classmethod
    def create_orders(cls, purchases):
        "Make the receivable orders of the purchases (separate settlement)."
        Order = Pool().get('dualrec.order')
        orders = Order.create_from([{
                    'company': p.company.id,
                    'type_': 'plate',
                    'counterparty': p.insurer.id,
                    'date': p.date,
                    'source': 'plate_purchase',
                    'external_ref': p.number,
                    'origin': p,
                    'description': gettext(
                        'dualrec_valueadd.msg_plate_purchase_order',
                        purchase=p.number, quantity=p.quantity),
                    'lines': p._purchase_lines(),
                    } for p in purchases])
        with without_check_access():
            for purchase, order in zip(purchases, orders):
                cls.write([purchase], {'order': order.id})


class PlateAgreement(ModelSQL, ModelView):
    """What an insurer pays for the calls made through its plates, and what
    the agents who placed them earn, over a period."""
    __string__ = "Plate Agreement"
    __name__ = 'dualrec.plate.agreement'

    company = fields.Many2One('company.company', "Company", required=True,
        ondelete='CASCADE')
    insurer = fields.Many2One('party.party', "Insurer", required=True,
        ondelete='RESTRICT')
    start_date = fields.Date("Start Date", required=True,
        domain=['OR', ('end_date', '=', None),
            ('start_date', '<=', Eval('end_date', None))])
    end_date = fields.Date("End Date",
        help="The last day of the agreement; none: open-ended.")
    fee_mode = fields.Selection(FEE_MODES, "Call Fee", required=True,
        help="Per connected call, or per started minute of the connected "
        "calls.")
    call_price = fields.Numeric("Call Price (VAT incl.)", digits=(16, 2),
        required=True, domain=[('call_price', '>=', 0)],
        help="The price of a connected call or of a started minute.")
    call_tax_rate = fields.Numeric("Call VAT Rate", digits=(16, 4),
        required=True)
    agent_bind_fee = fields.Numeric("Agent Fee per Binding", digits=(16, 2),
        required=True, domain=[('agent_bind_fee', '>=', 0)],
        help="What the agent who placed a plate earns when it is bound the "
        "first time.")
    agent_call_fee = fields.Numeric("Agent Fee per Call", digits=(16, 2),
        required=True, domain=[('agent_call_fee', '>=', 0)],
        help="What the agent earns per connected call of the plates they "
        "placed.")
    agent_tax_rate = fields.Numeric("Agent VAT Rate", digits=(16, 4),
        required=True,
        help="The VAT rate of the agent's fees (0 for individuals).")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('start_date', 'DESC'))

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_fee_mode(cls):
        return 'per_call'

    @classmethod
    def default_call_tax_rate(cls):
        return Decimal('0.06')

    @classmethod
    def default_agent_tax_rate(cls):
        return Decimal('0')

    @classmethod
    def default_agent_bind_fee(cls):
        return Decimal('0')

    @classmethod
    def default_agent_call_fee(cls):
        return Decimal('0')

    def get_rec_name(self, name):
        return f'{self.insurer.rec_name} {self.start_date}'

    @classmethod
    def validate_fields(cls, agreements, field_names):
        super().validate_fields(agreements, field_names)
        for agreement in agreements:
            for rate in (agreement.call_tax_rate, agreement.agent_tax_rate):
                if rate not in money.VAT_RATES:
                    raise PlateError(gettext(
                            'dualrec_valueadd.msg_plate_rate',
                            record=agreement.rec_name, rate=rate))
            overlaps = overlapping(agreement, ['company', 'insurer'])
            if overlaps:
                raise PlateError(gettext(
                        'dualrec_valueadd.msg_plate_agreement_overlap',
                        agreement=agreement.rec_name,
                        other=overlaps[0].rec_name))

    @classmethod
    def find(cls, company, insurer, day):
        "Return the agreement with insurer on day, or None."
        with without_check_access():
            agreements = cls.search([
                    ('company', '=', int(company)),
                    ('insurer', '=', int(insurer)),
                    ('start_date', '<=', day),
                    ['OR', ('end_date', '=', None), ('end_date', '>=', day)],
                    ], limit=1)
        return agreements[0] if agreements else None

