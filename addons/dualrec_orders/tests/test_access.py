# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.model.modelview import AccessButtonError
from trytond.modules.dualrec_core.tests.tools import create_user
from trytond.pool import Pool
from trytond.tests.test_tryton import _DBTestCase, with_transaction
from trytond.transaction import Transaction

from .tools import (
    add_group, as_user, create_company, order_values, set_company,
    set_up_orders)

INSURER = "示范财产保险股份有限公司"


class OrderAccessTestCase(_DBTestCase):
    "Test who sees and moves which orders"
    module = 'dualrec_orders'

    def set_up(self):
        """Create an order in the outlets P1-C1-O1, P1-C2-O1 and P2-O1 and
        one without branch, confirmed by the order center."""
        Order = Pool().get('dualrec.order')
        company, branches, users, parties, products = set_up_orders()
        self.company, self.branches, self.users = company, branches, users
        self.parties, self.products = parties, products
        with set_company(company), as_user(users['orders']):
            orders = Order.create([order_values(company, parties[INSURER],
                        products['WASH'], branches[code] if code else None)
                    for code in ['P1-C1-O1', 'P1-C2-O1', 'P2-O1', None]])
            Order.confirm(orders)
        return dict(zip(['own', 'sibling', 'other', 'none'], orders))

    def assert_reads(self, user, allowed, refused):
        "Assert user reads the orders allowed, their lines and events only."
        pool = Pool()
        Order = pool.get('dualrec.order')
        Line = pool.get('dualrec.order.line')
        Event = pool.get('dualrec.order.event')
        with set_company(self.company), as_user(user):
            self.assertEqual(sorted(o.id for o in Order.search([])),
                sorted(o.id for o in allowed))
            Order.read([o.id for o in allowed], ['number', 'total_amount'])
            self.assertEqual(
                sorted(l.id for l in Line.search([])),
                sorted(l.id for o in allowed for l in o.lines))
            self.assertEqual(
                sorted(e.id for e in Event.search([])),
                sorted(e.id for o in allowed for e in o.events))
            for order in refused:
                with self.subTest(order=order.branch):
                    with self.assertRaises(AccessError):
                        Order.read([order.id], ['number'])
                    with self.assertRaises(AccessError):
                        Line.read([l.id for l in order.lines], ['quantity'])
                    with self.assertRaises(AccessError):
                        Event.read([e.id for e in order.events], ['date'])

    @with_transaction()
    def test_order_center(self):
        "The order center creates, confirms and cancels all the orders"
        pool = Pool()
        Order = pool.get('dualrec.order')
        OrderType = pool.get('dualrec.order.type')
        orders = self.set_up()
        self.assert_reads(self.users['orders'], orders.values(), [])
        with set_company(self.company), as_user(self.users['orders']):
            self.assertTrue(OrderType.search([('code', '=', 'valueadd')]))
            Order.cancel_with_reason([orders['other']], "重复")
            draft, = Order.create([order_values(self.company,
                        self.parties[INSURER], self.products['TPA'],
                        self.branches['P2-O1'])])
            Order.confirm([draft])
            self.assertEqual(draft.state, 'confirmed')
        self.assertEqual(Order(orders['other'].id).state, 'cancelled')

    @with_transaction()
    def test_finance(self):
        "Finance reads all orders of its companies and changes none"
        pool = Pool()
        Order = pool.get('dualrec.order')
        Wizard = pool.get('dualrec.order.cancel', type='wizard')
        orders = self.set_up()
        finance = self.users['finance']
        self.assert_reads(finance, orders.values(), [])
        with set_company(self.company), as_user(finance):
            with self.assertRaises(AccessError):
                Order.create([order_values(self.company,
                            self.parties[INSURER], self.products['TPA'],
                            self.branches['P1'])])
            with self.assertRaises(AccessError):
                Order.write([orders['own']], {'description': "x"})
            with self.assertRaises(UserError):
                Order.credit([orders['own']])
            with Transaction().set_context(active_model='dualrec.order',
                    active_id=orders['own'].id,
                    active_ids=[orders['own'].id]):
                with self.assertRaises(AccessError):
                    Wizard.create()
        self.assertEqual(Order(orders['own'].id).state, 'confirmed')
        self.assertFalse(Order.search(
                [('credited_order', '=', orders['own'].id)]))

    @with_transaction()
    def test_finance_confirm_refused(self):
        "Finance does not confirm a draft"
        pool = Pool()
        Order = pool.get('dualrec.order')
        self.set_up()
        with set_company(self.company), as_user(self.users['orders']):
            draft, = Order.create([order_values(self.company,
                        self.parties[INSURER], self.products['TPA'],
                        self.branches['P1'])])
        with set_company(self.company), as_user(self.users['finance']):
            with self.assertRaises(AccessButtonError):
                Order.confirm([draft])
        self.assertEqual(Order(draft.id).state, 'draft')

    @with_transaction()
    def test_manager(self):
        "A manager reads the orders of his branch scope only"
        pool = Pool()
        Order = pool.get('dualrec.order')
        orders = self.set_up()
        manager = self.users['manager']
        self.assert_reads(manager, [orders['own']],
            [orders['sibling'], orders['other'], orders['none']])
        with set_company(self.company), as_user(manager):
            with self.assertRaises(AccessError):
                Order.create([order_values(self.company,
                            self.parties[INSURER], self.products['TPA'],
                            self.branches['P1-C1-O1'])])
            with self.assertRaises(AccessButtonError):
                Order.confirm([orders['own']])

    @with_transaction()
    def test_no_access(self):
        "Salespeople, reviewers and QC see nothing of the order center"
        pool = Pool()
        orders = self.set_up()
        for role in ['sales', 'reviewer', 'qc']:
            with set_company(self.company), as_user(self.users[role]):
                for name, ids in [
                        ('dualrec.order', [o.id for o in orders.values()]),
                        ('dualrec.order.line', [l.id
                                for o in orders.values() for l in o.lines]),
                        ('dualrec.order.event', [e.id
                                for o in orders.values() for e in o.events]),
                        ('dualrec.order.type', [orders['own'].type_.id]),
                        ('dualrec.order.extension.key', [1]),
                        ]:
                    Model = pool.get(name)
                    with self.subTest(role=role, model=name):
                        with self.assertRaises(AccessError):
                            Model.search([])
                        with self.assertRaises(AccessError):
                            Model.read(ids, ['id'])
                with self.assertRaises(AccessError):
                    pool.get('dualrec.order').create([order_values(
                                self.company, self.parties[INSURER],
                                self.products['TPA'])])

    @with_transaction()
    def test_other_company(self):
        "An order center of another company sees none of the orders"
        pool = Pool()
        Order = pool.get('dualrec.order')
        orders = self.set_up()
        other = create_company(name="Other Co")
        user = create_user('other_orders', other)
        add_group(user, 'group_order_center')
        with set_company(other), as_user(user):
            self.assertEqual(Order.search([]), [])
            for order in orders.values():
                with self.subTest(order=order.branch):
                    with self.assertRaises(AccessError):
                        Order.read([order.id], ['number'])
