# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The lines of orders, priced VAT included."""
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields, sequence_ordered
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access

from dualrec import money

from .common import STATES
from .exceptions import OrderError, OrderFrozenError


class OrderLine(sequence_ordered(), ModelSQL, ModelView):
    "A service of an order, priced VAT included."
    __string__ = "Order Line"
    __name__ = 'dualrec.order.line'

    _draft = {'readonly': Eval('order_state') != 'draft'}

    order = fields.Many2One('dualrec.order', "Order", required=True,
        ondelete='CASCADE', states=_draft,
        help="The order of the line.")
    order_state = fields.Function(fields.Selection(STATES, "Order State"),
        'on_change_with_order_state')
    product = fields.Many2One('product.product', "Service", required=True,
        states=_draft, ondelete='RESTRICT',
        domain=[('type', '=', 'service')],
        help="The service sold or bought.")
    description = fields.Char("Description", states=_draft,
        help="What the line is for, if the service's name is not enough.")
    quantity = fields.Numeric("Quantity", digits=(16, 4), required=True,
        states=_draft,
        help="How many units of the service; negative for a discount.")
    unit_price = fields.Numeric("Unit Price (VAT incl.)", digits=(16, 4),
        required=True, states=_draft,
        help="The price of one unit including VAT (含税单价).")
    tax_rate = fields.Numeric("VAT Rate", digits=(16, 4), required=True,
        states=_draft,
        help="The VAT rate as a fraction: 0.06 for modern services, 0.13 "
        "for goods, 0.03 or 0.01 for small-scale taxpayers.")
    untaxed_amount = fields.Numeric("Untaxed", digits=(16, 2), readonly=True,
        help="The total of the line without VAT.")
    tax_amount = fields.Numeric("Tax", digits=(16, 2), readonly=True,
        help="The VAT of the line: its total less its untaxed amount.")
    total_amount = fields.Numeric("Total", digits=(16, 2), readonly=True,
        help="Quantity × unit price, rounded to the fen.")

    del _draft

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('order')

    @classmethod
    def copy(cls, lines, default=None):
        default = default.copy() if default is not None else {}
        # computed again from the copied quantity, price and rate
        for name in ('untaxed_amount', 'tax_amount', 'total_amount'):
            default.setdefault(name, None)
        return super().copy(lines, default=default)

    @classmethod
    def default_quantity(cls):
        return Decimal(1)

    @classmethod
    def default_tax_rate(cls):
        return Decimal('0.06')

    @fields.depends('order', '_parent_order.state')
    def on_change_with_order_state(self, name=None):
        return self.order.state if self.order else None

    @fields.depends('quantity', 'unit_price', 'tax_rate')
    def on_change_with_total_amount(self):
        try:
            return self.split({'quantity': self.quantity,
                    'unit_price': self.unit_price,
                    'tax_rate': self.tax_rate})[2]
        except money.MoneyError:
            return None

    @classmethod
    def split(cls, values):
        """Return (untaxed, tax, total) of line values; refuse a rate that
        is not a VAT rate with the module's error."""
        try:
            return money.split_inclusive(values.get('quantity') or 0,
                values.get('unit_price') or 0, values.get('tax_rate') or 0)
        except money.MoneyError as error:
            raise OrderError(gettext('dualrec_orders.msg_line_bad_rate',
                    rate=values.get('tax_rate'))) from error

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if mode == 'create':
            values.setdefault('quantity', cls.default_quantity())
            values.setdefault('tax_rate', cls.default_tax_rate())
            untaxed, tax, total = cls.split(values)
            values.update({'untaxed_amount': untaxed, 'tax_amount': tax,
                    'total_amount': total})
        return values

    @classmethod
    def create(cls, vlist):
        Guard = Pool().get('dualrec.guard')
        if Guard.external():
            Guard.check_create(cls, vlist, Guard.system_fields(cls))
        return super().create(vlist)

    @classmethod
    def check_modification(cls, mode, lines, values=None, external=False):
        Guard = Pool().get('dualrec.guard')
        super().check_modification(
            mode, lines, values=values, external=external)
        if mode == 'write' and external:
            Guard.check_write(cls, values, Guard.system_fields(cls))
        if mode == 'write' and set(values) <= {
                'untaxed_amount', 'tax_amount', 'total_amount'}:
            return
        for line in lines:
            if line.order.state != 'draft':
                raise OrderFrozenError(gettext(
                        'dualrec_orders.msg_order_frozen',
                        order=line.order.rec_name,
                        state=line.order.state_string))

    @classmethod
    def on_modification(cls, mode, lines, field_names=None):
        pool = Pool()
        Order = pool.get('dualrec.order')
        super().on_modification(mode, lines, field_names=field_names)
        context = Transaction().context
        if mode == 'create' and context.get('_dualrec_order_totals'):
            # Order.create computed the totals from the same values
            return
        if mode == 'write' and {'quantity', 'unit_price', 'tax_rate'} & set(
                field_names or ()):
            to_write = []
            for line in lines:
                untaxed, tax, total = cls.split({
                        'quantity': line.quantity,
                        'unit_price': line.unit_price,
                        'tax_rate': line.tax_rate})
                to_write.extend(([line], {'untaxed_amount': untaxed,
                            'tax_amount': tax, 'total_amount': total}))
            with without_check_access():
                cls.write(*to_write)
        if mode != 'delete':
            orders = {l.order for l in lines}
            Order.update_amounts(Order.browse([o.id for o in orders]))

    @classmethod
    def on_delete(cls, lines):
        pool = Pool()
        Order = pool.get('dualrec.order')
        callbacks = super().on_delete(lines)
        orders = {l.order.id for l in lines}
        if orders:
            callbacks.append(lambda: Order.update_amounts(
                    Order.browse(Order.search([('id', 'in', list(orders))]))))
        return callbacks
