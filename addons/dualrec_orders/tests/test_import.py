# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import io
from decimal import Decimal

import openpyxl
import xlsxwriter

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError, SQLConstraintError
from trytond.modules.dualrec_core.tests.tools import run_queued_tasks
from trytond.pool import Pool
from trytond.tests.test_tryton import _DBTestCase, with_transaction
from trytond.transaction import Transaction, without_check_access

from .tools import as_user, set_company, set_up_orders

HEADER = ['外部单号', '订单类型', '客户', '日期', '服务', '数量', '含税单价',
    '税率', '分支机构', 'Vehicle Model', 'service_rating']


def xlsx(rows):
    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output)
    sheet = workbook.add_worksheet()
    date_format = workbook.add_format({'num_format': 'yyyy-mm-dd'})
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, dt.date):
                sheet.write_datetime(r, c, dt.datetime.combine(
                        value, dt.time()), date_format)
            elif value is not None:
                sheet.write(r, c, value)
    workbook.close()
    return output.getvalue()


def csv_gbk(rows):
    return '\r\n'.join(','.join('' if c is None else str(c) for c in row)
        for row in rows).encode('gbk')


DAY = dt.date(2026, 12, 2)
ROWS = [
    ['W1', 'valueadd', 'MER1', DAY, 'WASH', 1, 35.5, '6%', 'P1-C1-O1',
        '宝马X5', 5],
    ['W2', 'Value-added Service', '洁净洗车服务部', '2026/12/02', 'WASH', 2, '35.50', 6,
        None, None, None],
    ['T1', 'technical', 'INS1', '20261202', 'TPA', 1, 1060, '0.06', None,
        None, None],
    ['T1', 'technical', 'INS1', '20261202', 'WASH', 1, 106, '6%', None,
        None, None],
    ['B1', 'technical', 'NOBODY', DAY, 'TPA', 1, 10, '6%', None, None, None],
    ['B2', 'technical', 'INS1', 'yesterday', 'TPA', 1, 10, '6%', None, None,
        None],
    ['B3', 'technical', 'INS1', DAY, 'TPA', 'two', 10, '6%', None, None,
        None],
    ['B4', 'valueadd', 'MER1', DAY, 'WASH', 1, 10, '6%', None, None, 9],
    ['B5', 'technical', 'INS1', DAY, 'TPA', 1, 10, '6%', None, '宝马', None],
    ['B6', 'valueadd', 'MER1', DAY, 'WASH', 1, 10, '6%', None, None, 'five'],
    ]


class ImportTestCase(_DBTestCase):
    "Test the import of orders from spreadsheets"
    module = 'dualrec_orders'

    def set_up(self):
        Product = Pool().get('product.product')
        company, branches, users, parties, products = set_up_orders()
        for code, product in products.items():
            # the product's code is its prefix and suffix codes
            Product.write([product], {'suffix_code': code})
        return company, branches, users

    def do_import(self, company, data, filename='orders.xlsx', **values):
        Import = Pool().get('dualrec.order.import')
        record, = Import.create([{'company': company.id, 'file': data,
                    'filename': filename, **values}])
        Import.preview([record])
        preview = self.counts(record)
        Import.import_([record])
        return record, preview

    def counts(self, record):
        return (record.total_rows, record.new_rows, record.unchanged_rows,
            record.updated_rows, record.rejected_rows)

    def error_rows(self, record):
        sheet = openpyxl.load_workbook(io.BytesIO(record.error_file)).active
        return list(sheet.iter_rows(values_only=True))

    @with_transaction()
    def test_import_new_unchanged_rejected(self):
        "Valid rows are imported, bad ones come back with their reason"
        pool = Pool()
        Order = pool.get('dualrec.order')
        company, branches, users = self.set_up()
        with set_company(company), as_user(users['orders']):
            record, preview = self.do_import(company, xlsx([HEADER, *ROWS]))
            self.assertEqual(preview, (10, 4, 0, 0, 6))
            self.assertEqual(record.state, 'done')
            self.assertEqual(self.counts(record), (10, 4, 0, 0, 6))
            orders = {o.external_ref: o for o in Order.search([])}
            self.assertEqual(set(orders), {'W1', 'W2', 'T1'})
            self.assertEqual(len(orders['T1'].lines), 2)
            self.assertEqual(orders['T1'].total_amount, Decimal('1166.00'))
            self.assertEqual(orders['W1'].branch, branches['P1-C1-O1'])
            self.assertEqual(orders['W1'].extension,
                {'vehicle_model': '宝马X5', 'service_rating': 5})
            self.assertEqual(orders['W2'].counterparty,
                orders['W1'].counterparty)
            self.assertEqual(orders['W2'].state, 'draft')
            errors = self.error_rows(record)
            self.assertEqual(errors[0][:2], ("Reason", '外部单号'))
            reasons = {row[1]: row[0] for row in errors[1:]}
            self.assertEqual(set(reasons),
                {'B1', 'B2', 'B3', 'B4', 'B5', 'B6'})
            self.assertIn("Unknown counterparty", reasons['B1'])
            self.assertIn("not a date", reasons['B2'])
            self.assertIn("not an amount", reasons['B3'])
            self.assertIn("Service Rating", reasons['B4'])
            self.assertIn("not an extension key", reasons['B5'])
            self.assertIn('"five" of "service_rating" is not a valid '
                'integer', reasons['B6'])

            # the same file twice creates nothing
            again, preview = self.do_import(company, xlsx([HEADER, *ROWS]))
            self.assertEqual(preview, (10, 0, 4, 0, 6))
            self.assertEqual(self.counts(again), (10, 0, 4, 0, 6))
            self.assertEqual(Order.search_count([]), 3)

    @with_transaction()
    def test_import_updated_and_confirmed_changed(self):
        "A changed draft is updated, a changed confirmed order is rejected"
        pool = Pool()
        Order = pool.get('dualrec.order')
        company, branches, users = self.set_up()
        with set_company(company), as_user(users['orders']):
            self.do_import(company, xlsx([HEADER, *ROWS[:4]]))
            w1, = Order.search([('external_ref', '=', 'W1')])
            Order.confirm([w1])
            changed = [list(r) for r in ROWS[:4]]
            changed[0][5] = 3  # W1, confirmed
            changed[1][5] = 5  # W2, draft
            changed[3][5] = 4  # T1's second line, draft
            record, preview = self.do_import(company, xlsx([HEADER, *changed]))
            self.assertEqual(preview, (4, 0, 0, 3, 1))
            self.assertEqual(self.counts(record), (4, 0, 0, 3, 1))
            w2, = Order.search([('external_ref', '=', 'W2')])
            self.assertEqual(w2.lines[0].quantity, 5)
            self.assertEqual(w2.total_amount, Decimal('177.50'))
            t1, = Order.search([('external_ref', '=', 'T1')])
            self.assertEqual([l.quantity for l in t1.lines], [1, 4])
            self.assertEqual(w1.lines[0].quantity, 1)
            self.assertIn("Confirmed order changed",
                self.error_rows(record)[1][0])
            # the updated fingerprint is the file's: a third import is a no-op
            record, _ = self.do_import(company, xlsx([HEADER, *changed]))
            self.assertEqual(self.counts(record), (4, 0, 3, 0, 1))

    @with_transaction()
    def test_import_gbk_csv(self):
        "A CSV saved by Chinese Excel (GBK) is read"
        pool = Pool()
        Order = pool.get('dualrec.order')
        company, branches, users = self.set_up()
        rows = [HEADER, ['W2', 'Value-added Service', '洁净洗车服务部', '2026/12/02',
                'WASH', 2, '35.50', '6%', '', '', '']]
        with set_company(company), as_user(users['orders']):
            record, _ = self.do_import(company, csv_gbk(rows),
                filename='orders.csv', confirm=True)
            self.assertEqual(self.counts(record), (1, 1, 0, 0, 0))
            order, = Order.search([])
            self.assertEqual(order.counterparty.name, '洁净洗车服务部')
            self.assertEqual(order.state, 'confirmed')

    @with_transaction()
    def test_import_queued_with_progress(self):
        "A file over the configured rows is imported by a queued task"
        pool = Pool()
        Order = pool.get('dualrec.order')
        Configuration = pool.get('dualrec.order.configuration')
        company, branches, users = self.set_up()
        Configuration.write([Configuration(1)], {'import_queue_rows': 10})
        rows = [[f'Q{i:04d}', 'technical', 'INS1', DAY, 'TPA', 1, 10 + i,
                '6%'] for i in range(1200)]
        with set_company(company), as_user(users['orders']), \
                Transaction().set_context(_dualrec_import_no_commit=True):
            record, preview = self.do_import(company, xlsx(
                    [HEADER[:8], *rows]))
            self.assertEqual(preview, (1200, 0, 0, 0, 0))
            self.assertEqual(record.state, 'queued')
            self.assertEqual(Order.search_count([]), 0)
            self.assertEqual(run_queued_tasks(), 1)
            record = type(record)(record.id)
            self.assertEqual(record.state, 'done')
            self.assertEqual(record.progress, 1200)
            self.assertEqual(self.counts(record), (1200, 1200, 0, 0, 0))
            self.assertEqual(Order.search_count([]), 1200)

    @with_transaction()
    def test_import_wizard(self):
        "The wizard previews the file, imports it and opens the import"
        pool = Pool()
        Order = pool.get('dualrec.order')
        Import = pool.get('dualrec.order.import')
        Wizard = pool.get('dualrec.order.import_file', type='wizard')
        company, branches, users = self.set_up()
        with set_company(company), as_user(users['orders']):
            session_id, _, _ = Wizard.create()
            wizard = Wizard(session_id)
            wizard.start.company = company
            wizard.start.file = xlsx([HEADER, *ROWS[:4]])
            wizard.start.filename = 'orders.xlsx'
            wizard.start.source = 'import'
            wizard.start.confirm = True
            self.assertEqual(wizard.transition_check(), 'preview')
            preview = wizard.default_preview(None)
            self.assertEqual((preview['total_rows'], preview['new_rows'],
                    preview['rejected_rows']), (4, 4, 0))
            self.assertEqual(Order.search_count([]), 0)
            self.assertEqual(wizard.transition_import_(), 'open_')
            _, action = wizard.do_open_({})
            record, = Import.browse(action['res_id'])
            self.assertEqual((record.state, record.new_rows), ('done', 4))
            self.assertEqual({o.state for o in Order.search([])},
                {'confirmed'})

    @with_transaction()
    def test_import_access(self):
        "A salesperson cannot create imports; finance only reads them"
        pool = Pool()
        Import = pool.get('dualrec.order.import')
        company, branches, users = self.set_up()
        data = xlsx([HEADER, *ROWS[:1]])
        with set_company(company), as_user(users['orders']):
            record, _ = self.do_import(company, data)
        for role in ['sales', 'finance', 'manager']:
            with self.subTest(role=role), set_company(company), \
                    as_user(users[role]):
                with self.assertRaises(AccessError):
                    Import.create([{'company': company.id, 'file': data,
                                'filename': 'x.xlsx'}])
        with set_company(company), as_user(users['finance']):
            self.assertEqual(Import.search([]), [record])
        with set_company(company), as_user(users['sales']):
            with self.assertRaises(AccessError):
                Import.search([])

    @with_transaction()
    def test_import_orders_complete(self):
        "Imported orders have their number, totals, trace and audit entry"
        pool = Pool()
        Order = pool.get('dualrec.order')
        Event = pool.get('dualrec.order.event')
        AuditLog = pool.get('dualrec.audit.log')
        company, branches, users = self.set_up()
        with set_company(company), as_user(users['orders']):
            user = Transaction().user
            self.do_import(company, xlsx([HEADER, *ROWS[:4]]))
            orders = Order.search([])
            self.assertEqual(len(orders), 3)
            numbers = [o.number for o in orders]
            self.assertTrue(all(numbers))
            self.assertEqual(len(set(numbers)), 3)
            for order in orders:
                self.assertEqual(order.state, 'draft')
                self.assertTrue(order.state_since)
                self.assertEqual(order.fingerprint, order.get_content())
                self.assertEqual(order.untaxed_amount + order.tax_amount,
                    order.total_amount)
                self.assertEqual(order.total_amount,
                    sum(l.total_amount for l in order.lines))
                for line in order.lines:
                    self.assertEqual(line.untaxed_amount + line.tax_amount,
                        line.total_amount)
                event, = Event.search([('order', '=', order.id)])
                self.assertEqual((event.from_state, event.to_state,
                        event.user.id), (None, 'draft', user))
                with without_check_access():
                    entry, = AuditLog.search([
                            ('model', '=', 'dualrec.order'),
                            ('record_id', '=', order.id)])
                self.assertEqual((entry.action, entry.record_name,
                        entry.user.id), ('create', order.number, user))
            t1, = [o for o in orders if o.external_ref == 'T1']
            self.assertEqual((t1.untaxed_amount, t1.tax_amount,
                    t1.total_amount), (Decimal('1100.00'), Decimal('66.00'),
                    Decimal('1166.00')))

    @with_transaction()
    def test_bulk_create_as_create(self):
        "Order._bulk_create stores what create stores and its checks"
        pool = Pool()
        Order = pool.get('dualrec.order')
        OrderType = pool.get('dualrec.order.type')
        Product = pool.get('product.product')
        Party = pool.get('party.party')
        company, branches, users = self.set_up()
        type_, = OrderType.search([('code', '=', 'valueadd')])
        product, = Product.search([('code', '=', 'WASH')])
        party, = Party.search([('code', '=', 'MER1')])

        def values(ref, **extra):
            return {'company': company.id, 'source': 'import',
                'external_ref': ref, 'type_': type_.id,
                'direction': type_.direction, 'counterparty': party.id,
                'date': DAY, 'branch': branches['P1-C1-O1'].id,
                'currency': Order.default_currency(), 'description': "D",
                'extension': {'vehicle_model': '宝马X5', 'service_rating': 4},
                'lines': [('create', [{'product': product.id,
                                'description': None,
                                'quantity': Decimal(3),
                                'unit_price': Decimal('35.55'),
                                'tax_rate': Decimal('0.06'),
                                }])],
                **extra}

        with set_company(company), as_user(users['orders']):
            bulk, = Order._bulk_create([values('X1')])
            orm, = Order.create([values('X2')])
            for name in ['company', 'type_', 'direction', 'counterparty',
                    'date', 'branch', 'currency', 'description', 'extension',
                    'untaxed_amount', 'tax_amount', 'total_amount', 'state',
                    'fingerprint', 'use_hour', 'use_weekday']:
                self.assertEqual(getattr(bulk, name), getattr(orm, name),
                    msg=name)
            self.assertNotEqual(bulk.number, orm.number)
            self.assertEqual(
                [(l.product, l.quantity, l.total_amount) for l in bulk.lines],
                [(l.product, l.quantity, l.total_amount) for l in orm.lines])
            self.assertEqual(len(bulk.events), len(orm.events))

            # what the ORM refuses, the bulk creation refuses the same way
            with self.assertRaises(UserError):
                Order._bulk_create([values('X3', extension={'nope': 1})])
            line = values('X4')
            line['lines'][0][1][0]['tax_rate'] = Decimal('0.07')
            with self.assertRaises(UserError):
                Order._bulk_create([line])
            # last: on PostgreSQL the refused insert ends the transaction
            with self.assertRaises(UserError):
                Order._bulk_create([values('X5', counterparty=None)])

    @with_transaction()
    def test_bulk_create_duplicate(self):
        "The unique constraint refuses an imported reference that exists"
        pool = Pool()
        Order = pool.get('dualrec.order')
        company, branches, users = self.set_up()
        with set_company(company), as_user(users['orders']):
            self.do_import(company, xlsx([HEADER, *ROWS[:1]]))
            w1, = Order.search([])
            values = {'company': company.id, 'source': w1.source,
                'external_ref': w1.external_ref, 'type_': w1.type_.id,
                'direction': w1.direction,
                'counterparty': w1.counterparty.id, 'date': w1.date,
                'branch': None, 'currency': w1.currency.id,
                'description': None, 'extension': None,
                'lines': [('create', [{'product': w1.lines[0].product.id,
                                'description': None,
                                'quantity': Decimal(1),
                                'unit_price': Decimal(10),
                                'tax_rate': Decimal('0.06'),
                                }])]}
            with self.assertRaises(SQLConstraintError):
                Order._bulk_create([values])
