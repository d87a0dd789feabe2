# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from decimal import Decimal

from trytond.modules.company.tests import create_company, set_company
from trytond.modules.dualrec_core.tests.tools import create_branches
from trytond.modules.dualrec_orders import demo as orders_demo
from trytond.modules.dualrec_valueadd import demo, demo_plates
from trytond.pool import Pool
from trytond.tests.test_tryton import _DBTestCase, with_transaction


def create_cny_company(name):
    pool = Pool()
    Currency = pool.get('currency.currency')
    currencies = Currency.search([('code', '=', 'CNY')])
    if currencies:
        cny, = currencies
    else:
        cny, = Currency.create([{'name': "Chinese Yuan", 'symbol': '¥',
                    'code': 'CNY', 'rounding': Decimal('0.01'),
                    'digits': 2}])
    company = create_company(name, currency=cny)
    company.timezone = 'Asia/Shanghai'
    company.save()
    return company


class DemoTestCase(_DBTestCase):
    "Test the value-added services demo"
    module = 'dualrec_valueadd'

    @with_transaction()
    def test_demo_coupons(self):
        "The demo has coupons in every state, redeemed with their orders"
        pool = Pool()
        Coupon = pool.get('dualrec.coupon')
        Redemption = pool.get('dualrec.coupon.redemption')
        PartnerUser = pool.get('dualrec.valueadd.user')
        Party = pool.get('party.party')
        company = create_cny_company(orders_demo.COMPANY)
        create_branches(company)
        with set_company(company):
            # the order center's parties, without its orders
            orders_demo.load_data(company, 'dualrec2026', count=0)
            batches = demo.load_data(company, password='dualrec2026')

        self.assertEqual(Coupon.search_count([]), 500)
        self.assertEqual({c.state for c in Coupon.search([])},
            {'issued', 'redeemed', 'expired', 'cancelled'})
        # the insurers and merchants of the order center are reused
        self.assertEqual(Party.search_count([('code', '=', 'INS01')]), 1)
        merchants = Party.search([('merchant', '=', True)])
        self.assertEqual(sorted(p.code for p in merchants),
            ['MER01', 'MER02', 'MER03', 'MER04'])
        self.assertTrue(all(1 <= len(m.merchant_stores) <= 3
                for m in merchants))
        self.assertEqual(batches['wash'].issuer.code, 'INS01')
        self.assertEqual(batches['inspection'].funding, company.party)

        redemptions = Redemption.search([])
        self.assertEqual({r.state for r in redemptions}, {'done', 'returned'})
        self.assertTrue(all(r.merchant_order for r in redemptions))
        funded = [r for r in redemptions if r.coupon.batch.insurer_funded]
        own = [r for r in redemptions if not r.coupon.batch.insurer_funded]
        self.assertTrue(funded and own)
        self.assertTrue(all(r.insurer_order for r in funded))
        self.assertFalse(any(r.insurer_order for r in own))
        for redemption in redemptions:
            order = redemption.merchant_order
            self.assertEqual(order.direction, 'payable')
            self.assertEqual(order.counterparty, redemption.merchant)
            self.assertEqual(order.state, {'done': 'confirmed',
                    'returned': 'cancelled'}[redemption.state])
        # redeemed by the merchants' staff users
        self.assertEqual({r.user.login for r in redemptions},
            {'merchant1', 'merchant2'})

        rated = [r for r in redemptions if r.rating]
        self.assertTrue(rated)
        self.assertTrue(all(
                r.merchant_order.extension['service_rating'] == r.rating
                for r in rated))

        partners = {p.user.login: p.party.code
            for p in PartnerUser.search([])}
        self.assertEqual(partners, {'merchant1': 'MER01',
                'merchant2': 'MER03', 'insurer_api': 'INS01',
                'agent1': 'AGT01', 'agent2': 'AGT02', 'agent3': 'AGT03'})

        # a produced batch of plates in stock, made by the plate staff
        Plate = pool.get('dualrec.plate')
        plates = Plate.search([])
        self.assertEqual(len(plates), demo.PLATE_COUNT)
        counts = {}
        for plate in plates:
            key = (plate.state, plate.agent and plate.agent.code,
                plate.insurer and plate.insurer.code)
            counts[key] = counts.get(key, 0) + 1
        # 300 + 300 + 200 assigned, 20 returned; 250 and 200 sold, of
        # which 120 and 80 bound
        self.assertEqual(counts, {
                ('in_stock', None, None): 220,
                ('assigned', 'AGT01', None): 50,
                ('sold', 'AGT01', 'INS01'): 130,
                ('bound', 'AGT01', 'INS01'): 120,
                ('assigned', 'AGT02', None): 100,
                ('sold', 'AGT02', 'INS02'): 120,
                ('bound', 'AGT02', 'INS02'): 80,
                ('assigned', 'AGT03', None): 180,
                })
        Purchase = pool.get('dualrec.plate.purchase')
        separate, = Purchase.search([('mode', '=', 'separate')])
        self.assertEqual(separate.order.total_amount, Decimal('2475.00'))
        merged, = Purchase.search([('mode', '=', 'merged')])
        self.assertEqual(merged.state, 'confirmed')
        bound = [p for p in plates if p.state == 'bound']
        self.assertTrue(all(p.phone and '*' in p.phone for p in bound))
        # 2,000 call records of the bound plates, the last month settled
        Call = pool.get('dualrec.plate.call')
        self.assertEqual(Call.search_count([]), demo_plates.CALL_COUNT)
        self.assertEqual(Call.search_count([('plate.state', '!=', 'bound')]),
            0)
        settled = Call.search([('order', '!=', None)])
        self.assertTrue(settled)
        self.assertTrue(all(c.connected for c in settled))
        Order = pool.get('dualrec.order')
        self.assertEqual({o.source for o in Order.search([('source', 'in', [
                            'plate_calls', 'plate_merged',
                            'plate_payout'])])},
            {'plate_calls', 'plate_merged', 'plate_payout'})
        self.assertEqual(merged.order.source, 'plate_merged')
        self.assertEqual(plates[0].batch.create_uid.login, 'plates')
        self.assertTrue(plates[0].url.startswith(demo.PLATE_URL + '/NC'))
