# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The trace of orders: their immutable transitions."""
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.transaction import Transaction

from .common import STATES
from .exceptions import OrderEventError


class OrderEvent(ModelSQL, ModelView):
    "A transition of an order: who, when, from and to which state."
    __string__ = "Order Event"
    __name__ = 'dualrec.order.event'

    order = fields.Many2One('dualrec.order', "Order", required=True,
        readonly=True, ondelete='RESTRICT', help="The order.")
    date = fields.DateTime("Date", required=True, readonly=True,
        help="When the transition happened.")
    user = fields.Many2One('res.user', "User", readonly=True,
        ondelete='RESTRICT', help="Who made the transition; empty for the "
        "system.")
    from_state = fields.Selection([(None, '')] + STATES, "From",
        readonly=True, sort=False,
        help="The state before; empty when the order was created.")
    to_state = fields.Selection(STATES, "To", required=True, readonly=True,
        sort=False, help="The state after.")
    to_state_string = to_state.translated('to_state')
    comment = fields.Text("Comment", readonly=True,
        help="The reason given, if any.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('order')
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.order, Index.Equality()),
                (t.date, Index.Range())))
        cls._order = [('date', 'ASC'), ('id', 'ASC')]

    def get_rec_name(self, name):
        return f'{self.order.rec_name} {self.to_state_string}'

    @classmethod
    def check_modification(cls, mode, events, values=None, external=False):
        super().check_modification(
            mode, events, values=values, external=external)
        # the trace is evidence: nobody changes or removes it, and only the
        # order's workflow adds to it
        if mode in {'write', 'delete'} or (mode == 'create' and not
                Transaction().context.get('_dualrec_order_event')):
            raise OrderEventError(gettext(
                    'dualrec_orders.msg_order_event_immutable'))
