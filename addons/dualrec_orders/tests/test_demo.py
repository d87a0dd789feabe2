# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import random
from zoneinfo import ZoneInfo

from trytond.modules.dualrec_core.tests.tools import create_branches
from trytond.modules.dualrec_orders import demo
from trytond.pool import Pool
from trytond.tests.test_tryton import _DBTestCase, with_transaction

from .tools import create_company, set_company


class DemoTestCase(_DBTestCase):
    "Test the demo data of the order center"
    module = 'dualrec_orders'

    def load(self, count=30, seed=2026):
        company = create_company()
        company.timezone = 'Asia/Shanghai'
        company.save()
        create_branches(company)
        with set_company(company):
            orders = demo.load_data(company, 'dualrec2026', count=count,
                seed=seed)
        return company, orders

    @with_transaction()
    def test_demo_orders(self):
        "The demo orders went through the workflow at back-dated times"
        pool = Pool()
        User = pool.get('res.user')
        Date = pool.get('ir.date')
        company, orders = self.load()
        with set_company(company):
            today = Date.today()
        now = dt.datetime.now()

        self.assertEqual(len(orders), 30)
        self.assertLess(min(o.events[0].date for o in orders),
            now - dt.timedelta(days=30))
        states = {o.state for o in orders}
        self.assertLessEqual({'draft', 'confirmed', 'settled'}, states)
        user, = User.search([('login', '=', 'orders')])
        self.assertEqual(User.get_login(
                'orders', {'password': 'dualrec2026'}), user.id)
        self.assertEqual(user.company, company)
        path = {
            'draft': [None],
            'confirmed': [None, 'draft'],
            'invoiced': [None, 'draft', 'confirmed'],
            'settled': [None, 'draft', 'confirmed', 'invoiced'],
            }
        for order in orders:
            self.assertLessEqual(order.date, today)
            self.assertGreaterEqual(order.date, today - dt.timedelta(days=90))
            self.assertEqual(order.company, company)
            self.assertTrue(order.branch)
            events = order.events
            # the trace is back-dated, in order, ending in the order's state
            dates = [e.date for e in events]
            self.assertEqual(dates, sorted(dates))
            self.assertLess(dates[-1], now)
            self.assertLessEqual(dates[0].date(), order.date)
            self.assertEqual(events[-1].to_state, order.state)
            self.assertEqual(order.state_since, dates[-1])
            self.assertEqual(events[0].user, user)
            if order.state == 'cancelled':
                self.assertTrue(order.cancel_reason)
                self.assertEqual(events[-1].comment, order.cancel_reason)
                self.assertIn(events[-1].from_state, {'draft', 'confirmed'})
            else:
                self.assertEqual([e.from_state for e in events],
                    path[order.state])
            if order.state in {'confirmed', 'invoiced', 'settled'}:
                self.assertEqual(order.confirmed_at, dates[1])
                self.assertGreater(order.confirm_days, 0)
                self.assertLess(order.confirm_days, 4)
            if order.state == 'settled':
                self.assertGreater(order.settle_days, 0)
            self.assertEqual(order.total_amount,
                sum(l.total_amount for l in order.lines))

    @with_transaction()
    def test_demo_extension(self):
        "The value-added demo orders carry their extension data"
        company, orders = self.load(count=40)
        valueadd = [o for o in orders if o.type_.code == 'valueadd']
        self.assertTrue(valueadd)
        for order in valueadd:
            extension = order.extension
            self.assertLessEqual({'use_time', 'vehicle_model', 'region_code',
                    'location', 'merchant_store'}, set(extension))
            self.assertIsInstance(extension['use_time'], dt.datetime)
            self.assertLess(extension['use_time'], order.events[0].date)
            if 'service_rating' in extension:
                self.assertIn(extension['service_rating'], range(1, 6))
        self.assertGreater(len({o.extension['use_time'].hour
                    for o in valueadd}), 3)
        self.assertTrue(any('comment' in o.extension for o in valueadd))
        for order in orders:
            keys = {k.name for k in order.type_.extension_keys}
            self.assertLessEqual(set(order.extension or {}), keys)

    def test_demo_deterministic(self):
        "The same seed plans the same orders"
        today = dt.date(2026, 12, 2)
        now = dt.datetime(2026, 12, 2, 6)
        args = (today, now, ZoneInfo('Asia/Shanghai'), sorted(demo.REGIONS),
            [c for c, _ in demo.INSURERS], [c for c, *_ in demo.MERCHANTS])
        first = demo.plan(random.Random(7), 50, *args)
        self.assertEqual(first, demo.plan(random.Random(7), 50, *args))
        self.assertNotEqual(first, demo.plan(random.Random(8), 50, *args))
        # every end state, business dates of the last three months in order
        self.assertEqual({steps[-1][1] for _, steps in first},
            {'create', 'confirm', 'cancel', 'invoice', 'settle'})
        dates = [values['date'] for values, _ in first]
        self.assertEqual(dates, sorted(dates))
        self.assertGreaterEqual(dates[0], today - dt.timedelta(days=89))
        self.assertLessEqual(dates[-1], today)
