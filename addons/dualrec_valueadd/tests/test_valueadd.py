# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Merchants, batches, issuing and the access to coupons."""
import contextlib
import datetime as dt
import io
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.modules.dualrec_core.tests.tools import as_user
from trytond.modules.dualrec_valueadd.exceptions import CouponRefusal
from trytond.modules.dualrec_valueadd.tests.tools import (
    set_company, set_up_valueadd)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction


def owners_xlsx(rows):
    "Return an xlsx of owners with a Chinese header."
    import xlsxwriter
    data = io.BytesIO()
    book = xlsxwriter.Workbook(data)
    sheet = book.add_worksheet()
    for i, row in enumerate([['姓名', '手机号', '车牌号', '车型', '保单号']]
            + rows):
        for j, value in enumerate(row):
            sheet.write(i, j, value)
    book.close()
    return data.getvalue()


@contextlib.contextmanager
def patch_config(section, option, value):
    "Set a trytond configuration option for a while."
    from trytond.config import config
    old = config.get(section, option)
    config.set(section, option, value)
    try:
        yield
    finally:
        if old is None:
            config.remove_option(section, option)
        else:
            config.set(section, option, old)


class ValueaddTestCase(ModuleTestCase):
    "Test the value-added services"
    module = 'dualrec_valueadd'

    def redeem(self, data, coupon, request_no, store='TH', user='merchant',
            **values):
        Redemption = Pool().get('dualrec.coupon.redemption')
        with as_user(data.users[user]):
            return Redemption.redeem(coupon.code, store, request_no,
                **values)

    def run_issue(self, batch, **values):
        "Run the issue wizard on batch with the start values."
        Issue = Pool().get('dualrec.coupon.issue', type='wizard')
        session_id, _, _ = Issue.create()
        with Transaction().set_context(active_model=batch.__name__,
                active_id=batch.id, active_ids=[batch.id]):
            issue = Issue(session_id)
            for name, value in values.items():
                setattr(issue.start, name, value)
            return issue.do_issue({'name': "Coupons"})

    @with_transaction()
    def test_issue_wizard(self):
        "The issue wizard issues bearer coupons or one per row of an xlsx"
        Coupon = Pool().get('dualrec.coupon')
        data = set_up_valueadd()
        with set_company(data.company), as_user(data.users['valueadd']):
            own = data.batches['own']
            self.run_issue(own, count=5)
            self.assertEqual(Coupon.search_count([('batch', '=', own.id)]),
                5)

            insurer = data.batches['insurer']
            self.run_issue(insurer, file=owners_xlsx([
                        ["张三", '13800138000', '粤A 12345', "比亚迪 汉",
                            'PD0001'],
                        ["李四", '13900139000', '粤B88888', "特斯拉",
                            'PD0002'],
                        ]))
            coupons = Coupon.search([('batch', '=', insurer.id)],
                order=[('plate', 'ASC')])
            self.assertEqual([(c.plate, c.owner_name, c.phone)
                    for c in coupons], [
                    ('粤A12345', "张三", '138****8000'),
                    ('粤B88888', "李四", '139****9000')])
            self.assertTrue(coupons[0].matches_phone('13800138000'))
            self.assertFalse(coupons[0].matches_phone('13900139000'))
            self.assertNotIn('13800138000', coupons[0].phone_encrypted)

            with self.assertRaises(UserError):
                self.run_issue(insurer, file=owners_xlsx(
                        [["王五", '', '', '', '']]))

    @with_transaction()
    def test_quantity(self):
        "A batch issues no more than its quantity"
        pool = Pool()
        Batch = pool.get('dualrec.coupon.batch')
        data = set_up_valueadd()
        with set_company(data.company):
            batch = data.batches['own']
            limited = Batch.copy([batch], {'quantity': 3})[0]
            Batch.activate([limited])
            self.assertEqual(len(limited.issue([{}] * 3)), 3)
            with self.assertRaises(CouponRefusal) as cm:
                limited.issue([{}])
            self.assertEqual(cm.exception.code, 'sold_out')
            self.assertEqual((limited.issued, limited.redeemed), (3, 0))
            Batch.close([limited])
            with self.assertRaises(CouponRefusal) as cm:
                limited.issue([{}])
            self.assertEqual(cm.exception.code, 'batch_inactive')
            with self.assertRaises(UserError):
                Batch.delete([limited])

    @with_transaction()
    def test_set_up_refusals(self):
        "Stores, agreements and batches refuse bad values"
        pool = Pool()
        Store = pool.get('dualrec.merchant.store')
        Agreement = pool.get('dualrec.merchant.agreement')
        Batch = pool.get('dualrec.coupon.batch')
        data = set_up_valueadd()
        with set_company(data.company):
            with self.assertRaises(UserError):
                Store.create([{'merchant': data.parties['merchant'].id,
                            'code': 'X', 'name': "X", 'region_code': '44'}])
            agreement, = Agreement.search([
                    ('merchant', '=', data.parties['merchant'].id)])
            with self.assertRaises(UserError):
                Agreement.copy([agreement])
            with self.assertRaises(UserError):
                Agreement.copy([agreement], {
                        'start_date': dt.date(2000, 1, 1),
                        'end_date': dt.date(2000, 12, 31),
                        'merchant_tax_rate': Decimal('0.07')})
            self.assertEqual(len(Agreement.copy([agreement], {
                            'start_date': dt.date(2001, 1, 1),
                            'end_date': dt.date(2001, 12, 31)})), 1)
            with self.assertRaises(UserError):
                Batch.create([{'name': "X", 'face': "X",
                            'issuer': data.company.party.id,
                            'funding': data.company.party.id,
                            'service': data.service.id, 'scope': 'regions',
                            'regions': '4403'}])

    @with_transaction()
    def test_expire_company_day(self):
        "The expiry job follows the company's calendar day"
        pool = Pool()
        Coupon = pool.get('dualrec.coupon')
        Date = pool.get('ir.date')
        data = set_up_valueadd()
        with set_company(data.company):
            coupons = data.batches['own'].issue([{}] * 2)
            today = Date.today()
            table = Coupon.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.update([table.last_day],
                    [today - dt.timedelta(days=1)],
                    where=table.id == coupons[0].id))
            cursor.execute(*table.update([table.last_day], [today],
                    where=table.id == coupons[1].id))
            self.assertEqual(Coupon.expire(), 1)
            self.assertEqual([c.state for c in Coupon.browse([c.id for c in coupons])],
                ['expired', 'issued'])

    @with_transaction()
    def test_access(self):
        "Each role sees its own coupons and nothing it may not"
        pool = Pool()
        Coupon = pool.get('dualrec.coupon')
        Redemption = pool.get('dualrec.coupon.redemption')
        Batch = pool.get('dualrec.coupon.batch')
        Order = pool.get('dualrec.order')
        data = set_up_valueadd()
        with set_company(data.company):
            insurer = data.batches['insurer'].issue([
                    {'plate': '粤A12345', 'phone': '13800138000'}])[0]
            own_a, own_b, own_c = data.batches['own'].issue([{}] * 3)
        self.redeem(data, insurer, 'A-1', plate='粤A12345')
        self.redeem(data, own_a, 'A-2')
        self.redeem(data, own_b, 'B-1', store='B1', user='merchant_b')

        with as_user(data.users['merchant']):
            self.assertEqual({c.id for c in Coupon.search([])},
                {insurer.id, own_a.id})
            self.assertEqual(len(Redemption.search([])), 2)
            # the owner's phone is not the merchant's
            with self.assertRaises(AccessError):
                Coupon.read([insurer.id], ['phone'])
            self.assertEqual(Coupon.read([insurer.id], ['plate'])[0][
                    'plate'], '粤A12345')
            with self.assertRaises(AccessError):
                Coupon.read([own_b.id], ['code'])
            with self.assertRaises(AccessError):
                Batch.search([])
        with as_user(data.users['merchant_b']):
            self.assertEqual([c.id for c in Coupon.search([])], [own_b.id])
        with as_user(data.users['issuer']):
            self.assertEqual([c.id for c in Coupon.search([])], [insurer.id])
            self.assertEqual([b.id for b in Batch.search([])],
                [data.batches['insurer'].id])
            self.assertEqual(len(Redemption.search([])), 1)
        with as_user(data.users['issuer_b']):
            self.assertEqual(Coupon.search([]), [])
        with as_user(data.users['valueadd']):
            self.assertEqual(Coupon.search_count([]), 4)
            self.assertEqual(Coupon.read([insurer.id], ['phone'])[0][
                    'phone'], '138****8000')
            # coupons change through their workflow only
            with self.assertRaises(AccessError):
                Coupon.create([{'code': 'X', 'batch': data.batches[
                                'own'].id}])
            with self.assertRaises(UserError):
                Coupon.write([own_c], {'state': 'redeemed'})
            with self.assertRaises(AccessError):
                Redemption.write(Redemption.search([], limit=1),
                    {'state': 'returned'})
            Coupon.cancel([own_c])
            self.assertEqual(own_c.state, 'cancelled')
        with as_user(data.users['finance']):
            self.assertEqual(Redemption.search_count([]), 3)
            self.assertEqual(Order.search_count([('source', '=', 'coupon')]),
                4)
            with self.assertRaises(AccessError):
                Batch.create([{'name': "X"}])
        with as_user(data.users['sales']):
            with self.assertRaises(AccessError):
                Coupon.search([])
            with self.assertRaises(AccessError):
                Redemption.search([])

    @with_transaction()
    def test_orders_by_worker(self):
        "With a queue worker, the orders come from one task for many uses"
        pool = Pool()
        Queue = pool.get('ir.queue')
        Redemption = pool.get('dualrec.coupon.redemption')
        data = set_up_valueadd()
        owners = [{'plate': f'粤A2345{n}'} for n in range(3)]
        with set_company(data.company):
            bound = data.batches['insurer'].issue(owners)
            bearer = data.batches['own'].issue([{}])
        tasks = [('name', '=', 'dualrec_coupon_orders')]
        with patch_config('queue', 'worker', 'True'):
            redemptions = [self.redeem(data, c, f'Q-{n}',
                    plate=owners[n]['plate'])[0]
                for n, c in enumerate(bound)]
            redemptions.append(self.redeem(data, bearer[0], 'Q-B')[0])
            # the merchant has its answer; the orders wait for one task
            self.assertTrue(all(r.orders_pending and not r.merchant_order
                    for r in redemptions))
            self.assertEqual(Queue.search_count(tasks), 1)
            # a return needs its orders at once: made, then cancelled
            with as_user(data.users['merchant']):
                returned, _ = Redemption.return_(bound[2].code, 'Q-2',
                    'QR-2', "顾客取消")
            self.assertFalse(returned.orders_pending)
            self.assertEqual((returned.merchant_order.state,
                    returned.insurer_order.state),
                ('cancelled', 'cancelled'))
            task, = Queue.search(tasks)
            task.run()
        redemptions = Redemption.browse(redemptions)
        self.assertFalse(any(r.orders_pending for r in redemptions))
        for redemption in redemptions[:2]:
            merchant, insurer = (redemption.merchant_order,
                redemption.insurer_order)
            self.assertEqual((merchant.state, merchant.direction,
                    merchant.counterparty, merchant.origin),
                ('confirmed', 'payable', data.parties['merchant'],
                    redemption))
            self.assertEqual((insurer.direction, insurer.counterparty),
                ('receivable', data.parties['insurer']))
            self.assertEqual(merchant.extension['merchant_store'],
                redemption.store.name)
        self.assertIsNone(redemptions[3].insurer_order)
        self.assertEqual(redemptions[3].merchant_order.state, 'confirmed')
        # nothing left: the scheduled job finds nothing to do, and a second
        # run creates no second order
        self.assertEqual(Redemption.create_pending_orders(), 0)
        Redemption.create_orders(redemptions[:1])
        self.assertEqual(Redemption.browse(redemptions[:1])[0]
            .merchant_order, redemptions[0].merchant_order)

    @with_transaction()
    def test_figures_and_reissue(self):
        "The figures count the batch; the owners who liked it get more"
        pool = Pool()
        Figure = pool.get('dualrec.coupon.figure')
        Redemption = pool.get('dualrec.coupon.redemption')
        Reissue = pool.get('dualrec.coupon.reissue', type='wizard')
        from trytond.modules.dualrec_valueadd.tests.tools import create_batch
        data = set_up_valueadd()
        owners = [{'plate': f'粤A1234{n}', 'phone': f'1380013800{n}',
                'name': f"车主{n}"} for n in range(3)]
        with set_company(data.company):
            coupons = data.batches['insurer'].issue(owners)
        for n, rating in [(0, 5), (1, 3)]:
            self.redeem(data, coupons[n], f'F-{n}', plate=owners[n]['plate'])
            with as_user(data.users['app']):
                Redemption.rate(coupons[n].code, rating,
                    phone=owners[n]['phone'])
        with as_user(data.users['valueadd']), \
                Transaction().set_context(company=data.company.id):
            figure, = [f for f in Figure.search([])
                if f.batch == data.batches['insurer']]
            self.assertEqual((figure.issued, figure.redeemed,
                    figure.expired, figure.redemption_rate, figure.rating),
                (3, 2, 0, 66.67, 4.0))
            self.assertGreaterEqual(figure.issue_days, 0)
        with as_user(data.users['sales']):
            with self.assertRaises(AccessError):
                Figure.search([])

        with set_company(data.company):
            target = create_batch(data.company, data.parties['insurer'],
                data.service, name="回馈券")
        with as_user(data.users['valueadd']):
            session_id, _, _ = Reissue.create()
            reissue = Reissue(session_id)
            reissue.start.service = data.service
            reissue.start.min_rating = 4
            reissue.start.from_date = reissue.start.to_date = None
            reissue.start.batch = target
            action, _ = reissue.do_issue({'name': "Coupons"})
            issued = pool.get('dualrec.coupon').search(
                [('batch', '=', target.id)])
            self.assertEqual([(c.plate, c.owner_name) for c in issued],
                [('粤A12340', "车主0")])
            self.assertTrue(issued[0].matches_phone('13800138000'))
            with self.assertRaises(UserError):
                reissue.do_issue({'name': "Coupons"})


del ModuleTestCase
