# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The settlement of the plates: call fees, merged orders, agents' fees."""
import datetime as dt
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.modules.company.tests import set_company
from trytond.modules.dualrec_core.tests.tools import as_user
from trytond.modules.dualrec_orders.tests.tools import create_service
from trytond.modules.dualrec_valueadd.plate_settle import settle
from trytond.pool import Pool
from trytond.tests.test_tryton import _DBTestCase, with_transaction

from .test_plate_sale import assign, set_up_sales

CHINA = dt.timezone(dt.timedelta(hours=8))


def call(call_id, serial, seconds, when):
    "Return a call record of the provider, of seconds, answered at when."
    answer = when + dt.timedelta(seconds=5)
    record = {
        'call_id': call_id,
        'sub_id': 'S-' + serial,
        'out_id': serial,
        'phone_no': '13812345678',
        'secret_no': '17012341921',
        'peer_no': '18912347726',
        'call_time': when.strftime('%Y-%m-%d %H:%M:%S'),
        'release_time': (answer + dt.timedelta(seconds=seconds)).strftime(
            '%Y-%m-%d %H:%M:%S'),
        'release_dir': '2',
        'release_cause': '16',
        'cost': '0.12',
        }
    if seconds:
        record['start_time'] = answer.strftime('%Y-%m-%d %H:%M:%S')
    else:
        record['unconnected_cause'] = '1'
    return record


def local_month(china_time):
    "Return the month (YYYY-MM) of a naive China time."
    return china_time.strftime('%Y-%m')


class PlateSettleTestCase(_DBTestCase):
    "Test the settlement of the plates"
    module = 'dualrec_valueadd'

    @with_transaction()
    def test_settle_both_modes(self):
        """Separate purchases make a call-fee order, merged ones one order
        with their calls; agents earn per binding and per call; each is
        settled once"""
        pool = Pool()
        Purchase = pool.get('dualrec.plate.purchase')
        Agreement = pool.get('dualrec.plate.agreement')
        Plate = pool.get('dualrec.plate')
        Call = pool.get('dualrec.plate.call')
        Configuration = pool.get('dualrec.valueadd.configuration')
        Date = pool.get('ir.date')
        Settle = pool.get('dualrec.plate.settle', type='wizard')
        company, users, parties, _ = set_up_sales()
        with set_company(company):
            today = Date.today()
            Configuration.save([Configuration(1,
                        plate_call_product=create_service('NC-CALL'),
                        plate_agent_product=create_service('NC-AGENT'))])
        wang, li = parties['wang'], parties['li']
        pingan, taiping = parties['pingan'], parties['taiping']
        with set_company(company), as_user(users['plate']):
            assign(wang, first='NC2026000001', last='NC2026000010')
            assign(li, first='NC2026000011', last='NC2026000020')
            Agreement.save([
                    Agreement(insurer=pingan, start_date=today.replace(
                            month=1, day=1), fee_mode='per_call',
                        call_price=Decimal('0.50'),
                        agent_bind_fee=Decimal('2.00'),
                        agent_call_fee=Decimal('0.10')),
                    Agreement(insurer=taiping, start_date=today.replace(
                            month=1, day=1), fee_mode='per_minute',
                        call_price=Decimal('0.20'),
                        agent_bind_fee=Decimal('1.50'),
                        agent_call_fee=Decimal(0)),
                    ])
            separate = Purchase(insurer=pingan, agent=wang, quantity=6,
                unit_price=Decimal('9.90'), tax_rate=Decimal('0.13'),
                mode='separate')
            merged = Purchase(insurer=taiping, agent=li, quantity=6,
                unit_price=Decimal('8.00'), tax_rate=Decimal('0.13'),
                mode='merged')
            Purchase.save([separate, merged])
            Purchase.confirm([separate, merged])
        with set_company(company):
            for i, serial in enumerate(['NC2026000001', 'NC2026000002',
                        'NC2026000011']):
                Plate.find_serial(serial).bind(f'粤B1234{i}',
                    f'1380013800{i}', 'agent')
            # unbound and bound again: the agent earns once
            plate = Plate.find_serial('NC2026000002')
            plate.unbind('staff')
            plate.bind('粤B99999', '13900139000', 'owner')

            now = dt.datetime.now(CHINA).replace(tzinfo=None)
            hour = now - dt.timedelta(hours=1)
            summary = Call.receive(enumerate([
                        call('C1', 'NC2026000001', 30, hour),
                        call('C2', 'NC2026000001', 0, hour),  # not answered
                        call('C3', 'NC2026000002', 200, hour),
                        call('C4', 'NC2026000011', 61, hour),
                        call('C5', 'NC2026000011', 59, hour),
                        ], 1), 'import')
            self.assertEqual(summary['created'], 5)

        # finance runs the wizard for the month up to today
        with set_company(company), as_user(users['finance']):
            session_id, _, _ = Settle.create()
            wizard = Settle(session_id)
            wizard.start.company = company
            wizard.start.start_date = today.replace(day=1)
            wizard.start.end_date = today
            wizard.start.insurers = []
            action, _ = wizard.do_settle({'name': "Orders"})
            self.assertIn('pyson_domain', action)
        with set_company(company):
            orders = {(o.source, o.counterparty): o
                for o in pool.get('dualrec.order').search([
                        ('source', 'in', ['plate_calls', 'plate_merged',
                                'plate_payout'])])}
            self.assertEqual(set(orders), {
                    ('plate_calls', pingan), ('plate_merged', taiping),
                    ('plate_payout', wang), ('plate_payout', li)})
            calls = orders['plate_calls', pingan]
            # two connected calls at 0.50
            self.assertEqual((calls.type_.code, calls.direction,
                    calls.total_amount), ('call', 'receivable',
                    Decimal('1.00')))
            combined = orders['plate_merged', taiping]
            # six plates at 8.00 and 2 + 1 minutes at 0.20
            self.assertEqual((combined.type_.code, combined.total_amount,
                    len(combined.lines)),
                ('plate', Decimal('48.60'), 2))
            self.assertEqual(merged.order, combined)
            # the separate purchase was settled by its own order
            self.assertEqual(Purchase(separate.id).order.source,
                'plate_purchase')
            # wang: 2 plates bound at 2.00, 2 calls at 0.10; li: 1 at 1.50
            wang_order = orders['plate_payout', wang]
            self.assertEqual((wang_order.direction, wang_order.type_.code,
                    wang_order.total_amount),
                ('payable', 'payout', Decimal('4.20')))
            self.assertEqual(orders['plate_payout', li].total_amount,
                Decimal('1.50'))
            self.assertEqual(Call.search_count([('order', '=', None),
                        ('connected', '=', True)]), 0)

            # a call record arriving late goes to the next settlement
            Call.receive(enumerate([call('C6', 'NC2026000001', 10, hour)], 1),
                'push')
            second = settle(company, today.replace(day=1), today)
            self.assertEqual(sorted((o.source, o.total_amount)
                    for o in second),
                [('plate_calls', Decimal('0.50')),
                    ('plate_payout', Decimal('0.10'))])
            self.assertEqual(settle(company, today, today), [])

            # the month's figures: 6 call records, 5 connected, per insurer
            Figure = pool.get('dualrec.plate.call.figure')
            rows = {f.insurer: (f.month, f.calls, f.connected, f.minutes,
                    f.cost) for f in Figure.search([])}
            month = local_month(hour)
            self.assertEqual(rows, {
                    pingan: (month, 4, 3, 1 + 4 + 1, Decimal('0.48')),
                    taiping: (month, 2, 2, 2 + 1, Decimal('0.24')),
                    })

            with self.assertRaises(UserError):
                settle(company, today, today + dt.timedelta(days=1))
            with self.assertRaises(UserError):
                settle(company, today, today - dt.timedelta(days=1))

    @with_transaction()
    def test_settle_without_agreement(self):
        "Calls of an insurer without agreement are refused, nothing made"
        pool = Pool()
        Purchase = pool.get('dualrec.plate.purchase')
        Call = pool.get('dualrec.plate.call')
        Order = pool.get('dualrec.order')
        Configuration = pool.get('dualrec.valueadd.configuration')
        Date = pool.get('ir.date')
        company, users, parties, _ = set_up_sales()
        with set_company(company):
            Configuration.save([Configuration(1,
                        plate_call_product=create_service('NC-CALL'),
                        plate_agent_product=create_service('NC-AGENT'))])
        with set_company(company), as_user(users['plate']):
            purchase = Purchase(insurer=parties['pingan'], quantity=2,
                unit_price=Decimal('9.90'), tax_rate=Decimal('0.13'))
            purchase.save()
            Purchase.confirm([purchase])
        with set_company(company):
            now = dt.datetime.now(CHINA).replace(tzinfo=None)
            Call.receive(enumerate([call('C1', 'NC2026000001', 30,
                            now - dt.timedelta(hours=1))], 1), 'import')
            before = Order.search_count([])
            with self.assertRaises(UserError) as cm:
                settle(company, Date.today().replace(day=1), Date.today())
            self.assertIn("示范财险", cm.exception.message)
            self.assertEqual(Order.search_count([]), before)

        # an insurer's agreements never overlap
        Agreement = pool.get('dualrec.plate.agreement')
        with set_company(company), as_user(users['plate']):
            Agreement(insurer=parties['pingan'],
                start_date=dt.date(2026, 1, 1),
                end_date=dt.date(2026, 6, 30),
                call_price=Decimal('0.50')).save()
            Agreement.save([
                    Agreement(insurer=parties['pingan'],
                        start_date=dt.date(2026, 7, 1),
                        call_price=Decimal('0.60')),
                    Agreement(insurer=parties['taiping'],
                        start_date=dt.date(2026, 1, 1),
                        call_price=Decimal('0.40')),
                    ])
            # (a refused agreement's row stays in this test's transaction)
            for start, end in [(dt.date(2026, 6, 1), None),
                    (dt.date(2025, 1, 1), dt.date(2026, 1, 1))]:
                with self.subTest(start=start, end=end), \
                        self.assertRaises(UserError):
                    Agreement(insurer=parties['pingan'], start_date=start,
                        end_date=end, call_price=Decimal('0.50')).save()
