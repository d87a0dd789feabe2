# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Move-car plate batches, their plates and the printer's sheets."""
import re
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import create_company, set_company
from trytond.modules.dualrec_core.tests.tools import as_user, create_user
from trytond.modules.dualrec_orders.tests.tools import (
    add_group, create_service)
from trytond.modules.dualrec_valueadd.plate import plate_key
from trytond.pool import Pool
from trytond.tests.test_tryton import _DBTestCase, with_transaction

from dualrec.plate import verify_payload


def set_up_plates():
    "Return the company, the users and the product of the plate tests."
    pool = Pool()
    Currency = pool.get('currency.currency')
    Configuration = pool.get('dualrec.valueadd.configuration')
    cny = Currency(name="Yuan", code='CNY', symbol='¥')
    cny.save()
    company = create_company("示范科技", currency=cny)
    company.timezone = 'Asia/Shanghai'
    company.save()
    other = create_company("另一家科技", currency=cny)
    users = {
        'plate': create_user('plate', company),
        'finance': create_user('finance', company, 'group_dualrec_finance'),
        'sales': create_user('sales', company, 'group_dualrec_sales'),
        'other': create_user('other_plate', other),
        }
    add_group(users['plate'], 'group_plate', module='dualrec_valueadd')
    add_group(users['other'], 'group_plate', module='dualrec_valueadd')
    with set_company(company):
        product = create_service('PLATE', name="智能挪车牌",
            price=Decimal('9.90'))
    Configuration.save([Configuration(1, plate_url='https://nc.example.cn/m')])
    return company, other, users, product


class PlateTestCase(_DBTestCase):
    "Test the move-car plates"
    module = 'dualrec_valueadd'

    @with_transaction()
    def test_produce_and_print(self):
        "A batch produces its plates in stock, each with a signed URL"
        pool = Pool()
        Batch = pool.get('dualrec.plate.batch')
        Plate = pool.get('dualrec.plate')
        Sheet = pool.get('dualrec.plate.batch.sheet', type='report')
        company, _, users, product = set_up_plates()
        with set_company(company), as_user(users['plate']):
            batch = Batch(product=product, prefix='nc', year=2026,
                first=1, last=30)
            batch.save()
            self.assertTrue(batch.number.startswith('NCB'))
            self.assertEqual((batch.prefix, batch.first_serial,
                    batch.last_serial, batch.quantity),
                ('NC', 'NC2026000001', 'NC2026000030', 30))
            Batch.produce([batch])
            self.assertEqual(batch.state, 'produced')
            self.assertTrue(batch.production_date)
            plates = Plate.search([('batch', '=', batch.id)])
            self.assertEqual(len(plates), 30)
            self.assertEqual({p.state for p in plates}, {'in_stock'})
            first = plates[0]
            self.assertEqual(first.serial, 'NC2026000001')
            self.assertEqual(first.product, product)
            self.assertTrue(first.url.startswith(
                    'https://nc.example.cn/m/NC2026000001.'))
            self.assertEqual(verify_payload(plate_key(), first.url),
                'NC2026000001')

            ext, content, _, name = Sheet.execute([batch.id], {
                    'model': 'dualrec.plate.batch', 'id': batch.id,
                    'ids': [batch.id]})
            self.assertEqual(ext, 'html')
            html = content.decode('utf-8')
            self.assertEqual(html.count('<svg'), 2)  # 24 + 6
            self.assertEqual(len(re.findall(r'>NC2026\d{6}<', html)), 30)
            self.assertIn(f'{batch.number} · 2/2', html)

            with self.assertRaises(UserError):
                Batch.delete([batch])
            with self.assertRaises(UserError):
                Plate.delete(plates[:1])
            with self.assertRaises(UserError):
                Plate.copy(plates[:1])

    @with_transaction()
    def test_ranges_refused(self):
        "Overlapping or invalid ranges are refused"
        Batch = Pool().get('dualrec.plate.batch')
        company, _, users, product = set_up_plates()
        with set_company(company), as_user(users['plate']):
            batch = Batch(product=product, prefix='NC', year=2026,
                first=1, last=100)
            batch.save()
            # (a refused batch's row stays in this test's transaction: the
            # refusals come first and name the oldest batch overlapped)
            for first, last in [(100, 200), (50, 60), (1, 1)]:
                with self.subTest(first=first, last=last), \
                        self.assertRaises(UserError) as cm:
                    Batch(product=product, prefix='NC', year=2026,
                        first=first, last=last).save()
                self.assertIn(batch.number, cm.exception.message)
            # another year or prefix is another range
            Batch.save([
                    Batch(product=product, prefix='NC', year=2027,
                        first=1, last=100),
                    Batch(product=product, prefix='NB', year=2026,
                        first=1, last=100),
                    Batch(product=product, prefix='NC', year=2026,
                        first=201, last=300),
                    ])
            with self.assertRaises(UserError):
                Batch(product=product, prefix='NC', year=2026, first=1,
                    last=200000).save()

    @with_transaction()
    def test_sheet_draft_refused(self):
        Batch = Pool().get('dualrec.plate.batch')
        Sheet = Pool().get('dualrec.plate.batch.sheet', type='report')
        company, _, users, product = set_up_plates()
        with set_company(company), as_user(users['plate']):
            batch = Batch(product=product, prefix='NC', year=2026,
                first=1, last=5)
            batch.save()
            with self.assertRaises(UserError):
                Sheet.execute([batch.id], {'model': 'dualrec.plate.batch',
                        'id': batch.id, 'ids': [batch.id]})

    @with_transaction()
    def test_access(self):
        "Plate staff make batches; finance reads; others see nothing"
        pool = Pool()
        Batch = pool.get('dualrec.plate.batch')
        Plate = pool.get('dualrec.plate')
        company, other, users, product = set_up_plates()
        with set_company(company), as_user(users['plate']):
            batch = Batch(product=product, prefix='NC', year=2026,
                first=1, last=3)
            batch.save()
            Batch.produce([batch])
            # plates are made by producing a batch, never by hand
            with self.assertRaises(AccessError):
                Plate.create([{'serial': 'NC2026000009', 'batch': batch.id,
                            'company': company.id}])
        with set_company(company), as_user(users['finance']):
            self.assertEqual(len(Plate.search([])), 3)
            self.assertEqual(len(Batch.search([])), 1)
            with self.assertRaises(AccessError):
                Batch.create([{'product': product.id, 'prefix': 'NC',
                            'year': 2026, 'first': 10, 'last': 20}])
        with set_company(company), as_user(users['sales']):
            with self.assertRaises(AccessError):
                Plate.search([])
            with self.assertRaises(AccessError):
                Batch.search([])
        # the plate staff of another company see none of this company's
        with set_company(other), as_user(users['other']):
            self.assertEqual(Plate.search([]), [])
            self.assertEqual(Batch.search([]), [])

