# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import io
from collections import Counter, defaultdict
from decimal import Decimal

import openpyxl

from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.tests.test_tryton import _DBTestCase, with_transaction
from trytond.transaction import Transaction

from .tools import as_user, order_values, set_company, set_up_orders

INSURER = "示范财产保险股份有限公司"
MERCHANT = "洁净洗车服务部"


def at(when):
    "Return the context that dates the workflow's transitions at when."
    return Transaction().set_context(_dualrec_now=when)


def make(company, party, product, branch, date, state='confirmed',
        type_='valueadd', **values):
    """Create an order as the current user and move it through the workflow
    to state (draft, confirmed, cancelled, invoiced, settled)."""
    Order = Pool().get('dualrec.order')
    order, = Order.create([order_values(company, party, product, branch,
                type_=type_, date=date, **values)])
    if state in {'confirmed', 'invoiced', 'settled', 'cancelled'}:
        if state != 'cancelled':
            Order.confirm([order])
    if state == 'cancelled':
        Order.cancel_with_reason([order], "撤单")
    if state in {'invoiced', 'settled'}:
        Order.invoice([order])
    if state == 'settled':
        Order.settle([order])
    return order


class AnalysisTestCase(_DBTestCase):
    "Test the analysis views and the export of the orders"
    module = 'dualrec_orders'

    @with_transaction()
    def test_figures_add_up(self):
        "The figures per type and month add up to the orders counted"
        pool = Pool()
        Order = pool.get('dualrec.order')
        Figure = pool.get('dualrec.order.analysis')
        company, branches, users, parties, products = set_up_orders()
        insurer, merchant = parties[INSURER], parties[MERCHANT]
        wash, tpa = products['WASH'], products['TPA']
        outlet, other = branches['P1-C1-O1'], branches['P1-C2-O1']
        with set_company(company), as_user(users['orders']):
            make(company, insurer, wash, outlet, dt.date(2026, 11, 5),
                quantity=3, unit_price='35.50')
            make(company, insurer, wash, outlet, dt.date(2026, 11, 20),
                state='draft')
            make(company, merchant, wash, other, dt.date(2026, 11, 21),
                state='settled', unit_price='53.00')
            make(company, insurer, tpa, other, dt.date(2026, 12, 1),
                type_='technical', unit_price='1060.00')
            make(company, insurer, wash, outlet, dt.date(2026, 11, 10),
                state='cancelled', unit_price='999.00')

            per_key = defaultdict(lambda: [0, Decimal(0), Decimal(0),
                    Decimal(0)])
            for figure in Figure.search([]):
                key = (figure.type_.code, figure.month)
                per_key[key][0] += figure.orders
                per_key[key][1] += figure.untaxed_amount
                per_key[key][2] += figure.tax_amount
                per_key[key][3] += figure.total_amount
            self.assertEqual(dict(per_key), {
                    ('valueadd', '2026-11'): [3, Decimal('250.47'),
                        Decimal('15.03'), Decimal('265.50')],
                    ('technical', '2026-12'): [1, Decimal('1000.00'),
                        Decimal('60.00'), Decimal('1060.00')],
                    })
            counted = Order.search([('state', '!=', 'cancelled')])
            self.assertEqual(sum(f.total_amount for f in Figure.search([])),
                sum(o.total_amount for o in counted))

            by_branch = Counter()
            for figure in Figure.search([]):
                by_branch[figure.branch.code] += figure.orders
            self.assertEqual(by_branch, {'P1-C1-O1': 2, 'P1-C2-O1': 2})

            with Transaction().set_context(states=['cancelled']):
                figure, = Figure.search([])
                self.assertEqual((figure.orders, figure.total_amount),
                    (1, Decimal('999.00')))
            with Transaction().set_context(
                    from_date=dt.date(2026, 11, 15),
                    to_date=dt.date(2026, 11, 30)):
                self.assertEqual(sum(f.orders for f in Figure.search([])), 2)
            with Transaction().set_context(direction='payable'):
                self.assertEqual(Figure.search([]), [])

    @with_transaction()
    def test_lead_times(self):
        "The lead times per type average the days of the orders' workflow"
        pool = Pool()
        Order = pool.get('dualrec.order')
        LeadTime = pool.get('dualrec.order.analysis.lead_time')
        company, branches, users, parties, products = set_up_orders()
        insurer, wash = parties[INSURER], products['WASH']
        outlet = branches['P1-C1-O1']
        now = dt.datetime.now()
        day = dt.timedelta(days=1)
        with set_company(company), as_user(users['orders']):
            first = make(company, insurer, wash, outlet, dt.date(2026, 11, 5),
                state='draft')
            second = make(company, insurer, wash, outlet,
                dt.date(2026, 11, 6), state='draft')
            make(company, insurer, wash, outlet, dt.date(2026, 11, 7),
                state='draft')
            with at(now + 2 * day):
                Order.confirm([first])
            with at(now + 4 * day):
                Order.confirm([second])
            with at(now + 5 * day):
                Order.invoice([first])
            with at(now + 12 * day):
                Order.settle([first])

            lead, = LeadTime.search([])
            self.assertEqual(lead.type_.code, 'valueadd')
            self.assertEqual((lead.orders, lead.confirmed, lead.invoiced,
                    lead.settled), (3, 2, 1, 1))
            self.assertAlmostEqual(lead.confirm_days, 3.0, delta=0.02)
            self.assertAlmostEqual(lead.invoice_days, 3.0, delta=0.02)
            self.assertAlmostEqual(lead.settle_days, 7.0, delta=0.02)

    @with_transaction()
    def test_ratings(self):
        "Ratings are counted and averaged per service, merchant and store"
        pool = Pool()
        Service = pool.get('dualrec.order.analysis.rating.service')
        Merchant = pool.get('dualrec.order.analysis.rating.merchant')
        Store = pool.get('dualrec.order.analysis.rating.store')
        company, branches, users, parties, products = set_up_orders()
        insurer, merchant = parties[INSURER], parties[MERCHANT]
        wash, tpa = products['WASH'], products['TPA']
        outlet = branches['P1-C1-O1']
        with set_company(company), as_user(users['orders']):
            rated = make(company, merchant, wash, outlet,
                dt.date(2026, 11, 5),
                extension={'service_rating': 5, 'merchant_store': "A店"})
            make(company, merchant, wash, outlet, dt.date(2026, 11, 6),
                extension={'service_rating': 3, 'merchant_store': "A店"})
            two_lines = order_values(company, insurer, wash, outlet,
                date=dt.date(2026, 11, 7),
                extension={'service_rating': 2, 'merchant_store': "B店"})
            two_lines['lines'][0][1].extend([
                    dict(two_lines['lines'][0][1][0], product=tpa.id),
                    dict(two_lines['lines'][0][1][0]),
                    ])
            Order = pool.get('dualrec.order')
            Order.confirm(Order.create([two_lines]))
            make(company, merchant, wash, outlet, dt.date(2026, 11, 8),
                extension={'merchant_store': "A店"})
            # the credit order copies the rating: it is not counted twice
            credit, = Order.browse(Order.credit([rated])['res_id'])
            self.assertEqual(credit.extension['service_rating'], 5)

            self.assertEqual(
                {(r.product, r.ratings, r.rating)
                    for r in Service.search([])},
                {(wash, 3, 3.33), (tpa, 1, 2.0)})
            self.assertEqual(
                {(r.counterparty.name, r.ratings, r.rating)
                    for r in Merchant.search([])},
                {(MERCHANT, 2, 4.0), (INSURER, 1, 2.0)})
            self.assertEqual(
                {(r.counterparty.name, r.store, r.ratings, r.rating)
                    for r in Store.search([])},
                {(MERCHANT, "A店", 2, 4.0), (INSURER, "B店", 1, 2.0)})

    @with_transaction()
    def test_usage_habits(self):
        "Value-added orders are counted by hour, weekday, model and region"
        pool = Pool()
        Order = pool.get('dualrec.order')
        Company = pool.get('company.company')
        Usage = pool.get('dualrec.order.analysis.usage')
        company, branches, users, parties, products = set_up_orders()
        Company.write([company], {'timezone': 'Asia/Shanghai'})
        insurer, wash = parties[INSURER], products['WASH']
        outlet = branches['P1-C1-O1']
        utc = dt.datetime
        with set_company(company), as_user(users['orders']):
            # 02:30 UTC on Tuesday 1 December is 10:30 in Shanghai
            make(company, insurer, wash, outlet, dt.date(2026, 12, 1),
                extension={'use_time': utc(2026, 12, 1, 2, 30),
                    'vehicle_model': "比亚迪汉", 'region_code': '440300'})
            used = make(company, insurer, wash, outlet, dt.date(2026, 12, 1),
                extension={'use_time': utc(2026, 12, 1, 1, 0),
                    'vehicle_model': "比亚迪汉", 'region_code': '440300'})
            Order.credit([used])
            # 16:10 UTC on Saturday is 00:10 on Sunday in Shanghai
            late = make(company, insurer, wash, outlet, dt.date(2026, 12, 5),
                state='draft', extension={'use_time': utc(2026, 12, 5, 9, 0),
                    'vehicle_model': "Model 3", 'region_code': '110105'})
            Order.write([late], {'extension': {
                        'use_time': utc(2026, 12, 5, 16, 10),
                        'vehicle_model': "Model 3", 'region_code': '110105'}})
            Order.confirm([late])
            make(company, insurer, wash, outlet, dt.date(2026, 12, 6),
                extension={'vehicle_model': "Model 3"})
            # not a value-added order
            make(company, insurer, products['TPA'], outlet,
                dt.date(2026, 12, 1), type_='risk',
                extension={'use_time': utc(2026, 12, 1, 2, 0),
                    'vehicle_model': "比亚迪汉", 'region_code': '440300'})
            self.assertEqual((late.use_hour, late.use_weekday), (0, '6'))

            rows = Usage.search([])
            counts = {name: Counter() for name in ['use_hour', 'use_weekday',
                    'vehicle_model', 'region_code']}
            for row in rows:
                for name, counter in counts.items():
                    counter[getattr(row, name)] += row.orders
            self.assertEqual(counts['use_hour'], {10: 1, 9: 1, 0: 1, None: 1})
            self.assertEqual(counts['use_weekday'],
                {'1': 2, '6': 1, None: 1})
            self.assertEqual(counts['vehicle_model'],
                {"比亚迪汉": 2, "Model 3": 2})
            self.assertEqual(counts['region_code'],
                {'440300': 2, '110105': 1, None: 1})

    @with_transaction()
    def test_stuck(self):
        "An order past the configured days in its state is listed as stuck"
        pool = Pool()
        Order = pool.get('dualrec.order')
        Configuration = pool.get('dualrec.order.configuration')
        company, branches, users, parties, products = set_up_orders()
        insurer, wash = parties[INSURER], products['WASH']
        outlet = branches['P1-C1-O1']
        now = dt.datetime.now()
        days = lambda n: now - dt.timedelta(days=n)  # noqa: E731
        date = dt.date(2026, 10, 1)
        with set_company(company), as_user(users['orders']):
            with at(days(40)):
                old_draft = make(company, insurer, wash, outlet, date,
                    state='draft')
                moved_on = make(company, insurer, wash, outlet, date,
                    state='draft')
                cancelled = make(company, insurer, wash, outlet, date,
                    state='cancelled')
            with at(days(50)):
                old_confirmed = make(company, insurer, wash, outlet, date,
                    state='draft')
            with at(days(35)):
                Order.confirm([old_confirmed])
            with at(days(1)):
                Order.confirm([moved_on])
            fresh = make(company, insurer, wash, outlet, date, state='draft')

            self.assertEqual(Configuration(1).stuck_days, 30)
            stuck = Order.search([('stuck', '=', True)])
            self.assertEqual(set(stuck), {old_draft, old_confirmed})
            self.assertEqual(set(Order.search([('stuck', '=', False)])),
                {moved_on, cancelled, fresh})
            self.assertEqual([o.stuck for o in [old_draft, moved_on,
                        old_confirmed, cancelled, fresh]],
                [True, False, True, False, False])

            Configuration.write([Configuration(1)], {'stuck_days': 38})
            self.assertEqual(Order.search([('stuck', '=', True)]),
                [old_draft])

    @with_transaction()
    def test_export(self):
        "The export lists the orders with their extension and their lines"
        pool = Pool()
        Export = pool.get('dualrec.order.export', type='report')
        company, branches, users, parties, products = set_up_orders()
        insurer, wash = parties[INSURER], products['WASH']
        outlet = branches['P1-C1-O1']
        with set_company(company), as_user(users['orders']):
            first = make(company, insurer, wash, outlet, dt.date(2026, 11, 5),
                quantity=3, unit_price='35.50', source='import',
                external_ref='X-1', extension={'service_rating': 4,
                    'vehicle_model': "比亚迪汉",
                    'use_time': dt.datetime(2026, 11, 5, 8, 15)})
            two_lines = order_values(company, insurer, wash, outlet,
                date=dt.date(2026, 11, 6))
            two_lines['lines'][0][1].append(
                dict(two_lines['lines'][0][1][0], product=products['TPA'].id,
                    quantity=Decimal(-1), unit_price=Decimal('10.60')))
            Order = pool.get('dualrec.order')
            second, = Order.create([two_lines])

            ext, data, direct, name = Export.execute(
                [first.id, second.id], {})
        self.assertEqual(ext, 'xlsx')
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
        self.assertEqual(book.sheetnames, ["Orders", "Lines"])
        orders = [list(r) for r in book["Orders"].iter_rows(
                values_only=True)]
        lines = [list(r) for r in book["Lines"].iter_rows(values_only=True)]
        header = orders[0]
        for title in ["Number", "Date", "Type", "Counterparty", "Total",
                "External Reference", "Days to Confirm", "Line Count",
                "First Service", "Vehicle Model", "Service Rating",
                "Use Time"]:
            self.assertIn(title, header)
        rows = {r[header.index("Number")]: dict(zip(header, r))
            for r in orders[1:]}
        self.assertEqual(set(rows), {first.number, second.number})
        row = rows[first.number]
        self.assertEqual((row["Type"], row["State"], row["Total"],
                row["External Reference"], row["Line Count"],
                row["First Service"], row["Vehicle Model"],
                row["Service Rating"], row["Use Time"], row["Date"]),
            ("Value-added Service", "Confirmed", 106.5, 'X-1', 1,
                wash.rec_name, "比亚迪汉", 4, dt.datetime(2026, 11, 5, 8, 15),
                dt.datetime(2026, 11, 5)))
        self.assertEqual(rows[second.number]["State"], "Draft")
        self.assertEqual(rows[second.number]["Total"], 95.4)
        self.assertEqual(len(lines), 4)
        line_header = lines[0]
        by_order = Counter(r[line_header.index("Order")] for r in lines[1:])
        self.assertEqual(by_order, {first.number: 1, second.number: 2})
        self.assertIn([products['TPA'].rec_name, -1, -10.6], [[
                    r[line_header.index("Service")],
                    r[line_header.index("Quantity")],
                    r[line_header.index("Total")]] for r in lines[1:]])
        book.close()

    @with_transaction()
    def test_access(self):
        """A manager sees the figures and exports of his branch scope only;
        finance all; a salesperson nothing"""
        pool = Pool()
        Figure = pool.get('dualrec.order.analysis')
        LeadTime = pool.get('dualrec.order.analysis.lead_time')
        Usage = pool.get('dualrec.order.analysis.usage')
        Store = pool.get('dualrec.order.analysis.rating.store')
        Export = pool.get('dualrec.order.export', type='report')
        ModelData = pool.get('ir.model.data')
        action = {'action_id': ModelData.get_id(
                'dualrec_orders', 'report_order_export')}
        company, branches, users, parties, products = set_up_orders()
        insurer, wash = parties[INSURER], products['WASH']
        with set_company(company), as_user(users['orders']):
            mine = make(company, insurer, wash, branches['P1-C1-O1'],
                dt.date(2026, 11, 5), extension={'service_rating': 5,
                    'merchant_store': "A店"})
            other = make(company, insurer, wash, branches['P1-C2-O1'],
                dt.date(2026, 11, 5), unit_price='212.00',
                extension={'service_rating': 1, 'merchant_store': "A店"})

        with set_company(company), as_user(users['manager']):
            figures = Figure.search([])
            self.assertEqual([(f.branch.code, f.orders, f.total_amount)
                    for f in figures], [('P1-C1-O1', 1, Decimal('106.00'))])
            lead, = LeadTime.search([])
            self.assertEqual(lead.orders, 1)
            store, = Store.search([])
            self.assertEqual((store.ratings, store.rating), (1, 5.0))
            self.assertEqual(sum(u.orders for u in Usage.search([])), 1)
            ext, _, _, _ = Export.execute([mine.id], action)
            self.assertEqual(ext, 'xlsx')
            with self.assertRaises(AccessError):
                Export.execute([other.id], action)

        with set_company(company), as_user(users['finance']):
            self.assertEqual(sum(f.orders for f in Figure.search([])), 2)
            store, = Store.search([])
            self.assertEqual((store.ratings, store.rating), (2, 3.0))
            Export.execute([mine.id, other.id], action)

        for role in ['sales', 'reviewer', 'qc']:
            with self.subTest(role=role), set_company(company), as_user(
                    users[role]):
                for Model in [Figure, LeadTime, Usage, Store]:
                    with self.assertRaises(AccessError):
                        Model.search([])
                with self.assertRaises(AccessError):
                    Export.execute([mine.id], action)
