# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from decimal import Decimal

from trytond.pool import Pool
from trytond.tests.test_tryton import _DBTestCase, with_transaction

from .tools import as_user, order_values, set_company, set_up_orders


class OrderTestCase(_DBTestCase):
    "Test the orders and their workflow"
    module = 'dualrec_orders'

    @with_transaction()
    def test_order_confirm_cancel_trace(self):
        "An order is created, confirmed and cancelled with its trace"
        pool = Pool()
        Order = pool.get('dualrec.order')
        company, branches, users, parties, products = set_up_orders()
        party = parties["示范财产保险股份有限公司"]
        with set_company(company), as_user(users['orders']):
            order, = Order.create([order_values(company, party,
                        products['WASH'], branches['P1-C1-O1'],
                        quantity=3, unit_price='35.50')])
            self.assertTrue(order.number.startswith('SO'))
            self.assertEqual(order.state, 'draft')
            self.assertEqual((order.untaxed_amount, order.tax_amount,
                    order.total_amount), (Decimal('100.47'),
                    Decimal('6.03'), Decimal('106.50')))
            Order.confirm([order])
            self.assertEqual(order.state, 'confirmed')
            Order.cancel_with_reason([order], "客户撤单")
            self.assertEqual(order.state, 'cancelled')
            self.assertEqual([(e.from_state, e.to_state) for e in
                    order.events], [(None, 'draft'),
                    ('draft', 'confirmed'), ('confirmed', 'cancelled')])
            self.assertEqual(order.events[-1].comment, "客户撤单")
            self.assertEqual(order.events[-1].user, users['orders'])

