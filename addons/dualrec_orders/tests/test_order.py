# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import os
import threading
import unittest
from decimal import Decimal

from trytond import backend
from trytond.exceptions import UserError
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, _DBTestCase, with_transaction
from trytond.transaction import Transaction

from ..exceptions import (
    OrderError, OrderEventError, OrderExtensionError, OrderFrozenError)
from .tools import (
    as_user, create_company, create_party, create_service, order_values,
    set_company, set_up_orders)

INSURER = "示范财产保险股份有限公司"
POSTGRESQL = os.environ.get('DUALREC_TEST_BACKEND') == 'postgresql'


def two_lines(company, party, products, branch, **values):
    "Return the values of an order of a wash and a TPA line."
    values = order_values(company, party, products['WASH'], branch,
        quantity=3, unit_price='35.50', **values)
    values['lines'][0][1].append({'product': products['TPA'].id,
            'quantity': Decimal(1), 'unit_price': Decimal('1000.00'),
            'tax_rate': Decimal('0.06')})
    return values


def from_values(company, party, product, ref, **values):
    "Return the values of create_from for the reference ref."
    values = dict({
            'company': company.id,
            'type_': 'valueadd',
            'counterparty': party.id,
            'date': dt.date(2026, 11, 30),
            'source': 'coupon',
            'external_ref': ref,
            'lines': [{'product': product.id, 'quantity': 2,
                    'unit_price': Decimal('53.00'), 'tax_rate': '0.06'}],
            }, **values)
    return values


class OrderTestCase(_DBTestCase):
    "Test the orders and their workflow"
    module = 'dualrec_orders'

    def set_up(self):
        "Return the fixtures and a draft order of two lines of the center."
        Order = Pool().get('dualrec.order')
        company, branches, users, parties, products = set_up_orders()
        self.company, self.branches, self.users = company, branches, users
        self.parties, self.products = parties, products
        with set_company(company), as_user(users['orders']):
            order, = Order.create([two_lines(company, parties[INSURER],
                        products, branches['P1-C1-O1'])])
        return order

    @with_transaction()
    def test_order_confirm_cancel_trace(self):
        "An order is created, confirmed and cancelled with its trace"
        pool = Pool()
        Order = pool.get('dualrec.order')
        company, branches, users, parties, products = set_up_orders()
        party = parties[INSURER]
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

    @with_transaction()
    def test_amounts_follow_lines(self):
        "The totals are the sums of the lines, also after a draft edit"
        pool = Pool()
        Order = pool.get('dualrec.order')
        Line = pool.get('dualrec.order.line')
        order = self.set_up()
        self.assertEqual([(l.untaxed_amount, l.tax_amount, l.total_amount)
                for l in order.lines], [
                (Decimal('100.47'), Decimal('6.03'), Decimal('106.50')),
                (Decimal('943.40'), Decimal('56.60'), Decimal('1000.00'))])
        self.assertEqual((order.untaxed_amount, order.tax_amount,
                order.total_amount), (Decimal('1043.87'), Decimal('62.63'),
                Decimal('1106.50')))
        fingerprint = order.fingerprint
        self.assertEqual(fingerprint, order.get_content())
        with set_company(self.company), as_user(self.users['orders']):
            wash, tpa = order.lines
            Line.write([tpa], {'quantity': Decimal(-1)})
            order = Order(order.id)
            self.assertEqual(order.lines[1].total_amount,
                Decimal('-1000.00'))
            self.assertEqual(order.total_amount, Decimal('-893.50'))
            self.assertEqual(order.untaxed_amount + order.tax_amount,
                order.total_amount)
            self.assertNotEqual(order.fingerprint, fingerprint)
            self.assertEqual(order.fingerprint, order.get_content())
            Line.delete([tpa])
            order = Order(order.id)
            self.assertEqual(order.total_amount, Decimal('106.50'))
            Order.write([order], {'lines': [('create', [{
                                'product': self.products['TPA'].id,
                                'quantity': 2,
                                'unit_price': Decimal('0.005'),
                                'tax_rate': Decimal('0.13')}])]})
            order = Order(order.id)
            self.assertEqual(order.total_amount, Decimal('106.51'))
            self.assertEqual(order.fingerprint, order.get_content())

    @with_transaction()
    def test_defaults_in_content(self):
        "Amounts and fingerprint count the defaults of order and lines"
        pool = Pool()
        Order = pool.get('dualrec.order')
        self.set_up()
        values = order_values(self.company, self.parties[INSURER],
            self.products['WASH'], unit_price='53.00')
        del values['lines'][0][1][0]['quantity']
        del values['lines'][0][1][0]['tax_rate']
        with set_company(self.company), as_user(self.users['orders']):
            order, = Order.create([values])
        self.assertEqual(order.lines[0].quantity, 1)
        self.assertEqual(order.lines[0].tax_rate, Decimal('0.06'))
        self.assertEqual((order.lines[0].total_amount, order.total_amount),
            (Decimal('53.00'), Decimal('53.00')))
        self.assertEqual(order.tax_amount, Decimal('3.00'))
        self.assertEqual(order.date, pool.get('ir.date').today())
        self.assertEqual(order.fingerprint, order.get_content())

    @with_transaction()
    def test_copy(self):
        "A copy of a confirmed order is a new draft with its own trace"
        pool = Pool()
        Order = pool.get('dualrec.order')
        order = self.set_up()
        with set_company(self.company), as_user(self.users['orders']):
            Order.confirm([order])
            copy, = Order.copy([order])
        self.assertEqual(copy.state, 'draft')
        self.assertNotEqual(copy.number, order.number)
        self.assertEqual(copy.total_amount, order.total_amount)
        self.assertIsNone(copy.confirmed_at)
        self.assertEqual([(e.from_state, e.to_state) for e in copy.events],
            [(None, 'draft')])
        self.assertEqual(copy.fingerprint, copy.get_content())

    @with_transaction()
    def test_confirmed_order_frozen(self):
        "A confirmed order and its lines are not edited, by anyone"
        pool = Pool()
        Order = pool.get('dualrec.order')
        Line = pool.get('dualrec.order.line')
        order = self.set_up()
        wash, tpa = order.lines
        with set_company(self.company), as_user(self.users['orders']):
            Order.confirm([order])
            for label, call in [
                    ('description', lambda: Order.write([order],
                            {'description': "改"})),
                    ('date', lambda: Order.write([order],
                            {'date': dt.date(2020, 1, 1)})),
                    ('counterparty', lambda: Order.write([order], {
                                'counterparty':
                                self.parties["洁净洗车服务部"].id})),
                    ('extension', lambda: Order.write([order], {
                                'extension': {'comment': "好"}})),
                    ('line write', lambda: Line.write([wash],
                            {'quantity': Decimal(4)})),
                    ('line delete', lambda: Line.delete([tpa])),
                    ('lines via order', lambda: Order.write([order],
                            {'lines': [('delete', [tpa.id])]})),
                    ]:
                with self.subTest(user=True, label=label):
                    with self.assertRaises(UserError):
                        call()
        # internal code (no access check) is refused the same
        for label, call in [
                ('description', lambda: Order.write([order],
                        {'description': "改"})),
                ('line write', lambda: Line.write([wash],
                        {'unit_price': Decimal(1)})),
                ('line delete', lambda: Line.delete([tpa])),
                ]:
            with self.subTest(user=False, label=label):
                with self.assertRaises(OrderFrozenError):
                    call()
        # nor is its state written, but by its workflow
        for values in [{'state': 'draft'}, {'state': 'invoiced'},
                {'invoiced_at': dt.datetime.now()}]:
            with self.subTest(user=False, values=values):
                with self.assertRaises(OrderError):
                    Order.write([order], values)
        # write and delete are refused before they change anything
        order = Order(order.id)
        self.assertEqual(order.state, 'confirmed')
        self.assertEqual(order.total_amount, Decimal('1106.50'))
        self.assertEqual(len(order.lines), 2)
        self.assertEqual(order.lines[0].quantity, 3)
        self.assertIsNone(order.description)
        # a line is refused once created (the transaction is rolled back)
        new_line = {'order': order.id, 'product': self.products['TPA'].id,
            'quantity': 1, 'unit_price': Decimal(1),
            'tax_rate': Decimal('0.06')}
        with set_company(self.company), as_user(self.users['orders']):
            with self.assertRaises(UserError):
                Line.create([dict(new_line)])
        with self.assertRaises(OrderFrozenError):
            Line.create([dict(new_line)])

    @with_transaction()
    def test_system_fields_refused(self):
        "A user sets no state, date of transition, total, number or digest"
        pool = Pool()
        Order = pool.get('dualrec.order')
        order = self.set_up()
        values = two_lines(self.company, self.parties[INSURER],
            self.products, self.branches['P1-C1-O1'])
        with set_company(self.company), as_user(self.users['orders']):
            for name, value in [
                    ('state', 'confirmed'), ('state', 'invoiced'),
                    ('invoiced_at', dt.datetime(2026, 1, 1)),
                    ('settled_at', dt.datetime(2026, 1, 1)),
                    ('total_amount', Decimal(1)),
                    ('untaxed_amount', Decimal(1)),
                    ('number', 'SO1'), ('fingerprint', 'x'),
                    ('cancel_reason', "x"),
                    ('credited_order', order.id),
                    ]:
                with self.subTest(mode='write', name=name):
                    with self.assertRaises(UserError):
                        Order.write([order], {name: value})
                with self.subTest(mode='create', name=name):
                    with self.assertRaises(UserError):
                        Order.create([dict(values, **{name: value})])
            # the default a client sends back is accepted
            new, = Order.create([dict(values, state='draft')])
            self.assertEqual(new.state, 'draft')
        order = Order(order.id)
        self.assertEqual(order.state, 'draft')
        self.assertIsNone(order.invoiced_at)

    @with_transaction()
    def test_cancel(self):
        "Cancelling needs a reason and a draft or confirmed order"
        pool = Pool()
        Order = pool.get('dualrec.order')
        draft = self.set_up()
        with set_company(self.company), as_user(self.users['orders']):
            for reason in [None, '', '   \n']:
                with self.subTest(reason=reason):
                    with self.assertRaises(OrderError):
                        Order.cancel_with_reason([draft], reason)
            self.assertEqual(draft.state, 'draft')
            Order.cancel_with_reason([draft], " 重复下单 ")
            self.assertEqual(draft.state, 'cancelled')
            self.assertEqual(draft.cancel_reason, "重复下单")
            self.assertTrue(draft.cancelled_at)
            with self.assertRaises(OrderError):
                Order.cancel_with_reason([draft], "again")
            # a cancelled order is no more confirmed
            with self.assertRaises(UserError):
                Order.confirm([draft])
        Order.confirm([draft])
        with self.assertRaises(OrderError):
            Order.invoice([draft])
        self.assertEqual(Order(draft.id).state, 'cancelled')
        with set_company(self.company), as_user(self.users['orders']):
            order, = Order.create([two_lines(self.company,
                        self.parties[INSURER], self.products,
                        self.branches['P1-C1-O1'])])
            Order.confirm([order])
        Order.invoice([order])
        with set_company(self.company), as_user(self.users['orders']):
            with self.assertRaises(OrderError):
                Order.cancel_with_reason([order], "too late")
        self.assertEqual(Order(order.id).state, 'invoiced')

    @with_transaction()
    def test_cancel_wizard(self):
        "The cancel wizard asks for the reason and the order center right"
        pool = Pool()
        Order = pool.get('dualrec.order')
        Wizard = pool.get('dualrec.order.cancel', type='wizard')
        order = self.set_up()
        with set_company(self.company), as_user(self.users['orders']), \
                Transaction().set_context(active_model='dualrec.order',
                    active_id=order.id, active_ids=[order.id]):
            session_id, _, _ = Wizard.create()
            Wizard.execute(session_id, {'start': {'reason': "客户撤单"}},
                'cancel')
        order = Order(order.id)
        self.assertEqual(order.state, 'cancelled')
        self.assertEqual(order.events[-1].comment, "客户撤单")

    @with_transaction()
    def test_confirm(self):
        "Confirming needs lines and moves draft orders only"
        pool = Pool()
        Order = pool.get('dualrec.order')
        order = self.set_up()
        values = order_values(self.company, self.parties[INSURER],
            self.products['WASH'], self.branches['P1'])
        values['lines'] = []
        with set_company(self.company), as_user(self.users['orders']):
            empty, = Order.create([values])
            with self.assertRaises(OrderError):
                Order.confirm([empty])
            self.assertEqual(empty.state, 'draft')
            Order.confirm([order])
            confirmed_at = order.confirmed_at
            # the button is refused on a confirmed order
            with self.assertRaises(UserError):
                Order.confirm([order])
        # internal code confirms the draft orders it is given only
        Order.confirm([order])
        order = Order(order.id)
        self.assertEqual(order.confirmed_at, confirmed_at)
        self.assertEqual(len(order.events), 2)

    @with_transaction()
    def test_invoice_settle(self):
        "Finance's methods move confirmed → invoiced → settled only"
        pool = Pool()
        Order = pool.get('dualrec.order')
        order = self.set_up()
        for method in [Order.invoice, Order.settle]:
            with self.subTest(method=method.__name__):
                with self.assertRaises(OrderError):
                    method([order])
        self.assertEqual(order.state, 'draft')
        base = dt.datetime.combine(dt.date.today() + dt.timedelta(days=1),
            dt.time(8))
        with Transaction().set_context(_dualrec_now=base):
            Order.confirm([order])
        with self.assertRaises(OrderError):
            Order.settle([order])
        with Transaction().set_context(
                _dualrec_now=base + dt.timedelta(days=2, hours=12)):
            Order.invoice([order], comment="INV-1")
        with self.assertRaises(OrderError):
            Order.invoice([order])
        with Transaction().set_context(
                _dualrec_now=base + dt.timedelta(days=9)):
            Order.settle([order])
        order = Order(order.id)
        self.assertEqual(order.state, 'settled')
        self.assertEqual(order.invoiced_at,
            base + dt.timedelta(days=2, hours=12))
        self.assertEqual(order.settled_at, base + dt.timedelta(days=9))
        self.assertEqual(order.invoice_days, Decimal('2.50'))
        self.assertEqual(order.settle_days, Decimal('6.50'))
        self.assertIsNotNone(order.confirm_days)
        self.assertGreater(order.confirm_days, 0)
        self.assertEqual(order.state_since, base + dt.timedelta(days=9))
        for method in [Order.invoice, Order.settle]:
            with self.subTest(method=method.__name__):
                with self.assertRaises(OrderError):
                    method([order])
        with self.assertRaises(OrderError):
            Order.cancel_with_reason([order], "late")
        self.assertEqual([(e.from_state, e.to_state, e.comment)
                for e in order.events], [
                (None, 'draft', None), ('draft', 'confirmed', None),
                ('confirmed', 'invoiced', "INV-1"),
                ('invoiced', 'settled', None)])
        # not callable over RPC
        self.assertNotIn('invoice', Order.__rpc__)
        self.assertNotIn('settle', Order.__rpc__)

    @with_transaction()
    def test_reopen_unsettle(self):
        "Finance takes orders back: settled → invoiced → confirmed only"
        pool = Pool()
        Order = pool.get('dualrec.order')
        order = self.set_up()
        for method in [Order.reopen, Order.unsettle]:
            with self.subTest(method=method.__name__):
                with self.assertRaises(OrderError):
                    method([order])
        Order.confirm([order])
        confirmed_at = Order(order.id).confirmed_at
        with self.assertRaises(OrderError):
            Order.reopen([order])
        Order.invoice([order])
        Order.settle([order])
        with self.assertRaises(OrderError):
            Order.reopen([order])
        Order.unsettle([order], comment="payment failed")
        order = Order(order.id)
        self.assertEqual(order.state, 'invoiced')
        self.assertIsNone(order.settled_at)
        self.assertIsNone(order.settle_days)
        self.assertIsNotNone(order.invoiced_at)
        Order.reopen([order], comment="red letter")
        order = Order(order.id)
        self.assertEqual(order.state, 'confirmed')
        self.assertIsNone(order.invoiced_at)
        self.assertEqual(order.confirmed_at, confirmed_at)
        self.assertEqual([(e.from_state, e.to_state, e.comment)
                for e in order.events][-2:], [
                ('settled', 'invoiced', "payment failed"),
                ('invoiced', 'confirmed', "red letter")])
        # invoiced again as it was the first time
        Order.invoice([order])
        self.assertEqual(Order(order.id).state, 'invoiced')
        self.assertNotIn('reopen', Order.__rpc__)
        self.assertNotIn('unsettle', Order.__rpc__)

    @with_transaction()
    def test_trace_and_audit(self):
        "Every transition is kept with who and when and audited"
        pool = Pool()
        Order = pool.get('dualrec.order')
        AuditLog = pool.get('dualrec.audit.log')
        order = self.set_up()
        user = self.users['orders']
        with set_company(self.company), as_user(user):
            Order.confirm([order])
        Order.invoice([order])
        Order.settle([order], comment="paid")
        events = Order(order.id).events
        self.assertEqual([e.to_state for e in events],
            ['draft', 'confirmed', 'invoiced', 'settled'])
        self.assertEqual([e.user for e in events], [user, user,
                events[2].user, events[3].user])
        self.assertTrue(all(e.date for e in events))
        self.assertEqual(events[3].comment, "paid")
        dates = [e.date for e in events]
        self.assertEqual(dates, sorted(dates))
        entries = AuditLog.search([('model', '=', 'dualrec.order'),
                ('record_id', '=', order.id)], order=[('id', 'ASC')])
        self.assertEqual([e.action for e in entries], ['create',
                'order_confirm', 'order_invoice', 'order_settle'])
        self.assertEqual(entries[1].user, user)
        self.assertEqual(entries[3].details, "paid")

    @with_transaction()
    def test_trace_immutable(self):
        "Nobody writes, deletes or adds an event outside the workflow"
        pool = Pool()
        Event = pool.get('dualrec.order.event')
        order = self.set_up()
        event, = order.events
        for label, user in [('root', 0), ('admin', 1)]:
            with Transaction().set_user(user):
                with self.subTest(label=label, mode='write'):
                    with self.assertRaises(OrderEventError):
                        Event.write([event], {'comment': "x"})
                with self.subTest(label=label, mode='delete'):
                    with self.assertRaises(OrderEventError):
                        Event.delete([event])
                with self.subTest(label=label, mode='create'):
                    with self.assertRaises(OrderEventError):
                        Event.create([{'order': order.id,
                                    'date': dt.datetime.now(),
                                    'to_state': 'settled'}])
        with set_company(self.company), as_user(self.users['orders']):
            with self.assertRaises(UserError):
                Event.write([event], {'comment': "x"})
            with self.assertRaises(UserError):
                Event.delete([event])
            with self.assertRaises(UserError):
                Event.create([{'order': order.id, 'date': dt.datetime.now(),
                            'to_state': 'settled'}])
        event = Event(event.id)
        self.assertIsNone(event.comment)
        self.assertEqual(event.to_state, 'draft')

    @with_transaction()
    def test_no_delete(self):
        "An order is never deleted, by the center or internal code"
        pool = Pool()
        Order = pool.get('dualrec.order')
        order = self.set_up()
        with set_company(self.company), as_user(self.users['orders']):
            with self.assertRaises(UserError):
                Order.delete([order])
        with self.assertRaises(OrderError):
            Order.delete([order])
        self.assertEqual(Order.search([('id', '=', order.id)]), [order])

    @with_transaction()
    def test_credit(self):
        "A credit order is a negative draft referring to the original"
        pool = Pool()
        Order = pool.get('dualrec.order')
        order = self.set_up()
        with set_company(self.company), as_user(self.users['orders']):
            with self.assertRaises(UserError):
                Order.credit([order])
        with self.assertRaises(OrderError):
            Order.credit([order])
        with set_company(self.company), as_user(self.users['orders']):
            Order.confirm([order])
            action = Order.credit([order])
            credit, = Order.search([('credited_order', '=', order.id)])
            self.assertEqual(action['res_id'], [credit.id])
            self.assertEqual(credit.state, 'draft')
            self.assertEqual(credit.origin, order)
            self.assertEqual(credit.counterparty, order.counterparty)
            self.assertEqual(credit.total_amount, -order.total_amount)
            self.assertEqual(credit.tax_amount, -order.tax_amount)
            self.assertEqual(credit.untaxed_amount, -order.untaxed_amount)
            self.assertEqual([l.total_amount for l in credit.lines],
                [-l.total_amount for l in order.lines])
            self.assertNotEqual(credit.number, order.number)
            self.assertIsNone(credit.external_ref)
            # one at a time
            with self.assertRaises(OrderError):
                Order.credit([order])
            Order.confirm([credit])
            self.assertEqual(Order(order.id).state, 'confirmed')
            with self.assertRaises(OrderError):
                Order.credit([order])
            # a credit is not credited
            with self.assertRaises(UserError):
                Order.credit([credit])
            Order.cancel_with_reason([credit], "错开")
            second = Order.credit([order])['res_id']
            self.assertEqual(len(second), 1)
            self.assertNotEqual(second, [credit.id])

    @with_transaction()
    def test_extension(self):
        "The extension keys are those of the type, of their kind"
        pool = Pool()
        Order = pool.get('dualrec.order')
        order = self.set_up()
        good = {'use_time': dt.datetime(2026, 11, 30, 9, 30),
            'vehicle_model': "比亚迪 汉", 'region_code': '310115',
            'location': "上海市浦东新区", 'merchant_store': "张江店",
            'service_rating': 5, 'comment': "很好"}
        with set_company(self.company), as_user(self.users['orders']):
            Order.write([order], {'extension': good})
            self.assertEqual(Order(order.id).extension, good)
            for value, key in [
                    ({'service_rating': 'good'}, "Service Rating"),
                    ({'service_rating': 7}, "Service Rating"),
                    ({'service_rating': 0}, "Service Rating"),
                    ({'service_rating': 4.5}, "Service Rating"),
                    ({'use_time': '2026-11-30 09:30'}, "Use Time"),
                    ({'vehicle_model': 7}, "Vehicle Model"),
                    ({'color': 'red'}, 'color'),
                    ]:
                with self.subTest(value=value):
                    with self.assertRaises(OrderExtensionError) as cm:
                        Order.write([order], {'extension': value})
                    self.assertIn(key, cm.exception.message)
            # (the refused values were written before the validation: the
            # transaction of the call is rolled back)
            Order.write([order], {'extension': good})
            # keys are declared per type: technical services have none
            technical = order_values(self.company, self.parties[INSURER],
                self.products['TPA'], self.branches['P1'],
                type_='technical', extension={'vehicle_model': "X"})
            with self.assertRaises(OrderExtensionError) as cm:
                Order.create([technical])
            self.assertIn('vehicle_model', cm.exception.message)
            # risk assessments have no rating
            risk = order_values(self.company, self.parties[INSURER],
                self.products['TPA'], self.branches['P1'], type_='risk',
                extension={'service_rating': 3})
            with self.assertRaises(OrderExtensionError):
                Order.create([risk])
            risk['extension'] = {'vehicle_model': "特斯拉 Model 3"}
            risk, = Order.create([risk])

            for domain, expected in [
                    ([('extension.vehicle_model', '=', "比亚迪 汉")],
                        [order]),
                    ([('extension.vehicle_model', 'ilike', "%model%")],
                        [risk]),
                    ([('extension.service_rating', '>=', 4)], [order]),
                    ([('extension.region_code', '=', '310115')], [order]),
                    ([('extension.vehicle_model', '=', "无")], []),
                    ]:
                with self.subTest(domain=domain):
                    self.assertEqual(Order.search(domain), expected)
            # exportable
            data = Order.export_data([order], ['number', 'extension'])
            self.assertEqual(data[0][0], order.number)
            self.assertEqual(data[0][1]['vehicle_model'], "比亚迪 汉")

    @with_transaction()
    def test_create_from(self):
        "create_from is idempotent on the company, source and reference"
        pool = Pool()
        Order = pool.get('dualrec.order')
        self.set_up()
        party, product = self.parties[INSURER], self.products['WASH']
        origin = self.branches['P1']
        first = from_values(self.company, party, product, 'R1',
            origin=origin, extension={'service_rating': 4})
        orders = Order.create_from([first])
        order, = orders
        self.assertEqual(order.state, 'confirmed')
        self.assertEqual(order.total_amount, Decimal('106.00'))
        self.assertEqual(order.direction, 'receivable')
        self.assertEqual(order.origin, origin)
        self.assertEqual(order.extension, {'service_rating': 4})
        self.assertEqual(order.fingerprint, Order.content_from(first))
        self.assertEqual(order.fingerprint, order.get_content())
        self.assertNotEqual(order.fingerprint,
            Order.content_from(dict(first, description="changed")))
        # a retry returns the first order, whatever its values
        again = Order.create_from([dict(first, description="changed")])
        self.assertEqual(again, [order])
        # duplicates collapse within one call, the order is kept
        other = self.company.__class__(create_company(name="Other Co").id)
        result = Order.create_from([
                from_values(self.company, party, product, 'R2'),
                first,
                from_values(self.company, party, product, 'R2'),
                from_values(self.company, party, product, 'R1',
                    source='lead'),
                from_values(other, party, product, 'R1'),
                ])
        self.assertEqual(result[1], order)
        self.assertEqual(result[0], result[2])
        self.assertEqual(len({o.id for o in result}), 4)
        self.assertEqual(result[4].company, other)
        self.assertEqual(len(Order.search([('source', '=', 'coupon'),
                        ('external_ref', '=', 'R2')])), 1)
        drafts = Order.create_from([from_values(self.company, party, product,
                    'R3')], confirm=False)
        self.assertEqual([o.state for o in drafts], ['draft'])
        for values in [dict(first, source=None), dict(first, external_ref=''),
                dict(first, external_ref='R9', type_='nope')]:
            with self.subTest(values=values):
                with self.assertRaises(OrderError):
                    Order.create_from([values])

    @with_transaction()
    def test_external_ref_unique(self):
        "The database refuses a second order of the same reference"
        pool = Pool()
        Order = pool.get('dualrec.order')

        def values(company=None, source='api'):
            company = company or self.company
            return order_values(company, self.parties[INSURER],
                self.products['WASH'], source=source, external_ref='E1',
                currency=company.currency.id)
        self.set_up()
        # another source or company may use the reference
        Order.create([values(), values(source='import'),
                values(create_company(name="Other Co"))])
        self.assertEqual(
            len(Order.search([('external_ref', '=', 'E1')])), 3)
        with self.assertRaises(UserError):
            Order.create([values()])


@unittest.skipUnless(POSTGRESQL, "concurrent transactions need PostgreSQL")
class OrderConcurrencyTestCase(_DBTestCase):
    "Test the uniqueness of orders under concurrent transactions"
    module = 'dualrec_orders'

    def commit_fixtures(self, code):
        "Commit and return a company, a party and a product of its own."
        company = create_company(name=f"Concurrent Co {code}")
        party = create_party(f"并发保险 {code}")
        with set_company(company):
            product = create_service(code)
        Transaction().commit()
        return company.id, party.id, product.id

    def run_in_thread(self, function, company):
        """Start function in its own transaction in a thread; return the
        thread, its result dict and the events started and release."""
        result = {}
        started, release = threading.Event(), threading.Event()

        def target():
            try:
                with Transaction().start(DB_NAME, 1,
                        context={'company': company}) as transaction:
                    try:
                        result['value'] = function()
                        started.set()
                        release.wait(30)
                        transaction.commit()
                    except Exception as error:
                        transaction.rollback()
                        raise error
            except Exception as error:
                result['error'] = error
            finally:
                started.set()
        thread = threading.Thread(target=target)
        thread.start()
        return thread, result, started, release

    @with_transaction()
    def test_unique_concurrent_create(self):
        "A second insert of the reference waits for the first and fails"
        company, party, product = self.commit_fixtures('CONC1')

        def create():
            Order = Pool().get('dualrec.order')
            Company = Pool().get('company.company')
            Party = Pool().get('party.party')
            Product = Pool().get('product.product')
            order, = Order.create([order_values(Company(company),
                        Party(party), Product(product), source='api',
                        external_ref='CONC-1')])
            return order.id
        first, first_result, first_started, first_release = (
            self.run_in_thread(create, company))
        first_started.wait(30)
        self.assertIn('value', first_result)
        second, second_result, second_started, second_release = (
            self.run_in_thread(create, company))
        second_release.set()
        second.join(2)
        self.assertTrue(second.is_alive(), "the second insert must wait")
        first_release.set()
        first.join(30)
        second.join(30)
        self.assertNotIn('error', first_result)
        self.assertIn('error', second_result)
        Transaction().rollback()
        Order = Pool().get('dualrec.order')
        self.assertEqual([o.id for o in Order.search([
                        ('external_ref', '=', 'CONC-1')])],
            [first_result['value']])

    @with_transaction()
    def test_create_from_concurrent(self):
        "Two concurrent create_from of a reference give the same order"
        company, party, product = self.commit_fixtures('CONC2')

        def create_from():
            Order = Pool().get('dualrec.order')
            Company = Pool().get('company.company')
            Party = Pool().get('party.party')
            Product = Pool().get('product.product')
            # as the dispatcher and the queue worker do: retry the
            # transaction on an operational error
            for count in range(5):
                try:
                    order, = Order.create_from([from_values(
                                Company(company), Party(party),
                                Product(product), 'CONC-2')])
                    return order.id
                except backend.DatabaseOperationalError:
                    Transaction().rollback()
            raise AssertionError("no order after 5 tries")
        first, first_result, first_started, first_release = (
            self.run_in_thread(create_from, company))
        first_started.wait(30)
        self.assertIn('value', first_result)
        second, second_result, second_started, second_release = (
            self.run_in_thread(create_from, company))
        second_release.set()
        second.join(1)
        first_release.set()
        first.join(30)
        second.join(30)
        self.assertEqual(first_result.get('error'), None)
        self.assertEqual(second_result.get('error'), None)
        self.assertEqual(first_result['value'], second_result['value'])
        Transaction().rollback()
        Order = Pool().get('dualrec.order')
        self.assertEqual(len(Order.search([
                        ('external_ref', '=', 'CONC-2')])), 1)
