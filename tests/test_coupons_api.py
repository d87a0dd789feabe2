# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The coupons of the JSON API: issue, redeem exactly once, return, rate."""
import datetime as dt
import os
import threading
import time
import unittest
from decimal import Decimal

from dualrec import coupon as codes

from trytond.modules.dualrec_valueadd.tests.tools import set_up_valueadd
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, RouteTestCase
from trytond.transaction import Transaction

BASE = f'/{DB_NAME}/dualrec/api/v1'
POSTGRESQL = os.environ.get('DUALREC_TEST_BACKEND') == 'postgresql'


class CouponsApiTestCase(RouteTestCase):
    "Test the coupons of the JSON API"
    module = 'dualrec_valueadd'

    @classmethod
    def setUpDatabase(cls):
        Token = Pool().get('dualrec.api.token')
        data = set_up_valueadd()
        cls.tokens = {name: Token.issue(user.id, 24)[0]
            for name, user in data.users.items()}
        cls.batches = {name: b.number for name, b in data.batches.items()}
        cls.bearer = {}
        for name in ['own', 'later', 'region', 'merchant_b', 'twice']:
            coupons = data.batches[name].issue([{}] * 3)
            cls.bearer[name] = [c.code for c in coupons]
        if POSTGRESQL:
            cls.many = [c.code for c in data.batches['own'].issue(
                    [{}] * 1000)]

    def call(self, method, path, user, **kwargs):
        response = self.client().open(BASE + path, method=method,
            headers={'Authorization': f'Bearer {self.tokens[user]}',
                'Accept-Language': 'en'}, **kwargs)
        return response.status_code, response.get_json()

    def issue(self, request_no, plate='粤A12345', phone='13800138000',
            user='issuer', **values):
        body = {'batch': self.batches['insurer'], 'request_no': request_no,
            'policy_number': f'PDAA2026{request_no}',
            'owner': {'name': "张三", 'phone': phone},
            'vehicle': {'plate': plate, 'model': "比亚迪 汉"}}
        body.update(values)
        return self.call('POST', '/coupons/issue', user, json=body)

    def redeem(self, code, request_no, store='TH', user='merchant',
            **values):
        body = {'code': code, 'store': store, 'use_request_no': request_no,
            'operator': "李四"}
        body.update(values)
        return self.call('POST', '/coupons/redeem', user, json=body)

    def coupon(self, code):
        with Transaction().start(DB_NAME, 0):
            Coupon = Pool().get('dualrec.coupon')
            coupon, = Coupon.search([('code', '=', code)])
            return {'state': coupon.state, 'uses': coupon.uses,
                'redemptions': [(r.state, r.request_no,
                        r.merchant_order.state if r.merchant_order else None,
                        r.insurer_order.state if r.insurer_order else None)
                    for r in coupon.redemptions]}

    def test_issue_idempotent(self):
        "An insurer's request issues once; a repeat returns its coupons"
        status, data = self.issue('REQ-1', count=2)
        self.assertEqual(status, 201, data)
        self.assertEqual(len(data['coupons']), 2)
        coupon = data['coupons'][0]
        self.assertEqual(codes.check_code(coupon['code']), coupon['code'])
        self.assertEqual(coupon['plate'], '粤A12345')
        self.assertEqual(coupon['state'], 'issued')
        self.assertNotIn('phone', coupon)
        status, again = self.issue('REQ-1', count=2,
            vehicle={'plate': '粤a 12345', 'model': "比亚迪 汉"})
        self.assertEqual(status, 200, again)
        self.assertEqual([c['code'] for c in again['coupons']],
            [c['code'] for c in data['coupons']])
        status, error = self.issue('REQ-1', plate='粤B54321', count=2)
        self.assertEqual((status, error['code']), (409, 'conflict'))

    def test_issue_refusals(self):
        "Issue refuses bad input, foreign batches and other users"
        for values, code, status in [
                ({'count': 0}, 'bad_value', 400),
                ({'batch': 'QP-NONE'}, 'unknown_batch', 404),
                ({'vehicle': {'plate': 'ABC'}}, 'bad_plate', 400),
                ({'vehicle': {}}, 'plate_required', 400),
                ({'owner': {'phone': '123'}}, 'bad_phone', 400),
                ({'batch': ''}, 'missing_field', 400),
                ]:
            with self.subTest(code=code):
                result, error = self.issue('REQ-BAD', **values)
                self.assertEqual((result, error['code']), (status, code),
                    error)
        # another insurer's system does not see the batch
        status, error = self.issue('REQ-B', user='issuer_b')
        self.assertEqual((status, error['code']), (404, 'unknown_batch'))
        for user in ['merchant', 'app', 'sales', 'finance']:
            status, error = self.issue('REQ-X', user=user)
            self.assertEqual((status, error['code']), (403, 'forbidden'))

    def test_redeem_once(self):
        "A redemption creates the orders; a retry answers the first result"
        _, data = self.issue('REQ-2')
        code = data['coupons'][0]['code']
        status, first = self.redeem(code, 'U-1', plate='粤A12345')
        self.assertEqual(status, 201, first)
        self.assertEqual(first['coupon_state'], 'redeemed')
        self.assertTrue(first['merchant_order'])
        status, again = self.redeem(code, 'U-1', plate='粤A12345')
        self.assertEqual(status, 200, again)
        self.assertEqual(again['id'], first['id'])
        status, error = self.redeem(code, 'U-2', plate='粤A12345')
        self.assertEqual((status, error['code']), (409, 'already_redeemed'))
        self.assertIn("天河店", error['message'])
        self.assertTrue(error['redeemed_at'])
        with Transaction().start(DB_NAME, 0):
            Redemption = Pool().get('dualrec.coupon.redemption')
            redemption, = Redemption.search([('request_no', '=', 'U-1')])
            merchant, insurer = (redemption.merchant_order,
                redemption.insurer_order)
            self.assertEqual((merchant.direction, merchant.state,
                    merchant.counterparty.code, merchant.total_amount),
                ('payable', 'confirmed', 'MER', Decimal('25.00')))
            self.assertEqual((insurer.direction, insurer.counterparty.code,
                    insurer.total_amount),
                ('receivable', 'INS', Decimal('35.00')))
            self.assertEqual(merchant.extension['merchant_store'], "天河店")
            self.assertEqual(merchant.extension['region_code'], '440106')
            self.assertEqual(merchant.extension['vehicle_model'], "比亚迪 汉")
            self.assertIsInstance(merchant.extension['use_time'],
                dt.datetime)
            self.assertEqual(merchant.origin, redemption)
        # the request number is the merchant's: used for another coupon
        _, other = self.issue('REQ-3')
        status, error = self.redeem(other['coupons'][0]['code'], 'U-1',
            plate='粤A12345')
        self.assertEqual((status, error['code']), (409, 'request_conflict'))

    def test_own_coupon_no_insurer_order(self):
        "A coupon of our own batch creates the merchant's order only"
        code = self.bearer['own'][0]
        status, data = self.redeem(code, 'OWN-1')
        self.assertEqual(status, 201, data)
        self.assertEqual(self.coupon(code)['redemptions'],
            [('done', 'OWN-1', 'confirmed', None)])

    def test_refusal_codes(self):
        "Every refusal has its code and changes nothing"
        _, data = self.issue('REQ-4')
        bound = data['coupons'][0]['code']
        typo = bound[:-1] + ('2' if bound[-1] != '2' else '3')
        key = self.token_key()
        expired_token = codes.sign_token(key, bound, int(time.time()) - 1)
        forged = codes.sign_token(b'k' * 32, bound, int(time.time()) + 60)
        unknown = codes.generate_code()
        cases = [
            ((bound, 'R-1', 'TH'), {'plate': '粤B99999'}, 403,
                'plate_mismatch'),
            ((bound, 'R-2', 'TH'), {}, 403, 'plate_mismatch'),
            ((typo, 'R-3', 'TH'), {}, 400, 'bad_check'),
            (('HELLO', 'R-4', 'TH'), {}, 400, 'bad_code'),
            ((unknown, 'R-5', 'TH'), {}, 404, 'unknown'),
            ((expired_token, 'R-6', 'TH'), {}, 400, 'token_expired'),
            ((forged, 'R-7', 'TH'), {}, 400, 'bad_signature'),
            ((self.bearer['later'][0], 'R-8', 'TH'), {}, 400,
                'not_started'),
            ((self.bearer['region'][0], 'R-9', 'TH'), {}, 403,
                'wrong_region'),
            ((self.bearer['merchant_b'][0], 'R-10', 'TH'), {}, 403,
                'wrong_merchant'),
            ((bound, 'R-11', 'NOPE'), {'plate': '粤A12345'}, 400,
                'unknown_store'),
            ((bound, '', 'TH'), {'plate': '粤A12345'}, 400,
                'missing_field'),
            ((bound, 'R-12', 'TH'), {'plate': '粤A12345',
                    'use_time': '2020-01-01T08:00:00+08:00'}, 400,
                'bad_use_time'),
            ]
        for (code, request_no, store), values, status, expected in cases:
            with self.subTest(expected=expected):
                result, error = self.redeem(code, request_no, store=store,
                    **values)
                self.assertEqual((result, error['code']), (status, expected),
                    error)
                self.assertTrue(error['message'])
        self.assertEqual(self.coupon(bound), {'state': 'issued', 'uses': 0,
                'redemptions': []})
        # the region and the merchant do take their own coupons
        status, _ = self.redeem(self.bearer['region'][0], 'R-20', store='FT')
        self.assertEqual(status, 201)
        status, _ = self.redeem(self.bearer['merchant_b'][0], 'R-21',
            store='B1', user='merchant_b')
        self.assertEqual(status, 201)
        # only merchant staff redeem
        for user in ['issuer', 'app', 'valueadd']:
            status, error = self.redeem(bound, 'R-30', user=user)
            self.assertEqual((status, error['code']), (403, 'forbidden'))

    def test_expired_and_cancelled(self):
        "The expiry job moves passed coupons; expired and cancelled refuse"
        code, other = self.bearer['twice'][1:3]
        with Transaction().start(DB_NAME, 0) as transaction:
            pool = Pool()
            Coupon = pool.get('dualrec.coupon')
            Date = pool.get('ir.date')
            coupon, = Coupon.search([('code', '=', code)])
            table = Coupon.__table__()
            cursor = transaction.connection.cursor()
            # the coupon's last day passes
            cursor.execute(*table.update([table.last_day],
                    [Date.today() - dt.timedelta(days=1)],
                    where=table.id == coupon.id))
            Coupon.expire()
            cancelled, = Coupon.search([('code', '=', other)])
            Coupon.cancel([cancelled])
            transaction.commit()
        self.assertEqual(self.coupon(code)['state'], 'expired')
        status, error = self.redeem(code, 'X-1')
        self.assertEqual((status, error['code']), (400, 'expired'))
        status, error = self.redeem(other, 'X-2')
        self.assertEqual((status, error['code']), (400, 'cancelled'))

    def test_usage_limit(self):
        "A coupon of two uses is redeemed twice, then refused"
        code = self.bearer['twice'][0]
        self.assertEqual(self.redeem(code, 'T-1')[0], 201)
        self.assertEqual(self.coupon(code)['state'], 'issued')
        self.assertEqual(self.redeem(code, 'T-2')[0], 201)
        status, error = self.redeem(code, 'T-3')
        self.assertEqual((status, error['code']), (409, 'already_redeemed'))
        self.assertEqual(self.coupon(code)['uses'], 2)

    def token_key(self):
        with Transaction().start(DB_NAME, 0):
            return Pool().get('dualrec.coupon').token_key()

    def test_qr_token(self):
        "The owner's app gets a signed QR payload that the merchant scans"
        _, data = self.issue('REQ-5', phone='13900139000')
        code = data['coupons'][0]['code']
        status, error = self.call('POST', f'/coupons/{code}/token', 'app',
            json={'phone': '13800138000'})
        self.assertEqual((status, error['code']), (403, 'not_owner'))
        status, token = self.call('POST', f'/coupons/{code}/token', 'app',
            json={'phone': '13900139000'})
        self.assertEqual(status, 200, token)
        self.assertTrue(token['qr'].startswith('DRC1.'))
        status, redeemed = self.call('POST', '/coupons/redeem', 'merchant',
            json={'qr': token['qr'], 'store': 'TH', 'use_request_no': 'Q-1',
                'plate': '粤A12345'})
        self.assertEqual(status, 201, redeemed)
        self.assertEqual(redeemed['code'], code)
        # a retry once the token has expired still answers the first result
        late = codes.sign_token(self.token_key(), code, int(time.time()) - 1)
        status, again = self.call('POST', '/coupons/redeem', 'merchant',
            json={'qr': late, 'store': 'TH', 'use_request_no': 'Q-1',
                'plate': '粤A12345'})
        self.assertEqual((status, again['id']), (200, redeemed['id']))
        status, error = self.call('POST', '/coupons/redeem', 'merchant',
            json={'qr': late, 'store': 'TH', 'use_request_no': 'Q-2',
                'plate': '粤A12345'})
        self.assertEqual((status, error['code']), (400, 'token_expired'))
        status, error = self.call('POST', f'/coupons/{code}/token', 'app',
            json={'phone': '13900139000'})
        self.assertEqual((status, error['code']), (409, 'state_redeemed'))
        status, error = self.call('POST', f'/coupons/{code}/token',
            'merchant', json={'phone': '13900139000'})
        self.assertEqual((status, error['code']), (403, 'forbidden'))

    def test_return_and_rating(self):
        "A return gives the coupon back and cancels its orders; ratings"
        _, data = self.issue('REQ-6')
        code = data['coupons'][0]['code']
        self.redeem(code, 'RT-1', plate='粤A12345')
        path = f'/coupons/{code}/rating'
        status, error = self.call('POST', path, 'app',
            json={'rating': 6, 'phone': '13800138000'})
        self.assertEqual((status, error['code']), (400, 'bad_rating'))
        status, error = self.call('POST', path, 'app',
            json={'rating': 5, 'phone': '13700137000'})
        self.assertEqual((status, error['code']), (403, 'not_owner'))
        status, rated = self.call('POST', path, 'app',
            json={'rating': 5, 'comment': "很干净", 'phone': '13800138000'})
        self.assertEqual((status, rated['rating']), (201, 5), rated)
        status, error = self.call('POST', path, 'app',
            json={'rating': 3, 'phone': '13800138000'})
        self.assertEqual((status, error['code']), (409, 'already_rated'))
        with Transaction().start(DB_NAME, 0):
            Redemption = Pool().get('dualrec.coupon.redemption')
            redemption, = Redemption.search([('request_no', '=', 'RT-1')])
            self.assertEqual(redemption.merchant_order.extension[
                    'service_rating'], 5)
            self.assertEqual(redemption.merchant_order.extension['comment'],
                "很干净")

        path = f'/coupons/{code}/return'
        status, error = self.call('POST', path, 'merchant',
            json={'return_request_no': 'B-1'})
        self.assertEqual((status, error['code']), (400, 'missing_field'))
        status, error = self.call('POST', path, 'merchant_b',
            json={'return_request_no': 'B-1', 'reason': "误操作"})
        self.assertEqual((status, error['code']), (404, 'not_redeemed'))
        status, returned = self.call('POST', path, 'merchant',
            json={'return_request_no': 'B-1', 'reason': "误操作"})
        self.assertEqual((status, returned['state']), (200, 'returned'),
            returned)
        self.assertEqual(returned['coupon_state'], 'issued')
        status, again = self.call('POST', path, 'merchant',
            json={'return_request_no': 'B-1', 'reason': "误操作"})
        self.assertEqual((status, again['id']), (200, returned['id']))
        status, error = self.call('POST', path, 'merchant',
            json={'return_request_no': 'B-2', 'reason': "误操作"})
        self.assertEqual((status, error['code']), (409, 'already_returned'))
        self.assertEqual(self.coupon(code), {'state': 'issued', 'uses': 0,
                'redemptions': [('returned', 'RT-1', 'cancelled',
                        'cancelled')]})
        # and the coupon can be used again
        status, _ = self.redeem(code, 'RT-2', plate='粤A12345')
        self.assertEqual(status, 201)

    def test_return_window(self):
        "A redemption of an earlier day is past a same-day window"
        code = self.bearer['own'][1]
        self.redeem(code, 'W-1')
        with Transaction().start(DB_NAME, 0) as transaction:
            Redemption = Pool().get('dualrec.coupon.redemption')
            table = Redemption.__table__()
            redemption, = Redemption.search([('request_no', '=', 'W-1')])
            transaction.connection.cursor().execute(*table.update(
                    [table.day], [redemption.day - dt.timedelta(days=1)],
                    where=table.id == redemption.id))
            transaction.commit()
        status, error = self.call('POST', f'/coupons/{code}/return',
            'merchant', json={'return_request_no': 'WB-1', 'reason': "晚了"})
        self.assertEqual((status, error['code']), (409, 'return_window'))

    def test_refusal_message(self):
        "A refusal's message names the refused coupon, masked"
        code = codes.generate_code()
        status, error = self.redeem(code, 'MSG-1')
        self.assertEqual((status, error['code']), (404, 'unknown'))
        self.assertIn(codes.mask_code(code), error['message'])
        self.assertNotIn(code, error['message'])

    # -- concurrency -------------------------------------------------------------

    def run_at_once(self, calls, clients):
        "Run the calls from clients threads at once; return the results."
        barrier = threading.Barrier(clients)
        results = []
        lock = threading.Lock()
        queue = list(calls)

        def work():
            barrier.wait()
            while True:
                with lock:
                    if not queue:
                        return
                    call = queue.pop()
                result = call()
                with lock:
                    results.append(result)

        threads = [threading.Thread(target=work) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    @unittest.skipUnless(POSTGRESQL, "concurrent transactions need "
        "PostgreSQL")
    def test_concurrent_redemptions(self):
        "50 concurrent requests for one coupon: one success, 49 refusals"
        code = self.bearer['own'][2]
        results = self.run_at_once([
                (lambda n=n: self.redeem(code, f'C-{n}'))
                for n in range(50)], 50)
        statuses = sorted(s for s, _ in results)
        self.assertEqual(statuses, [201] + [409] * 49, results)
        self.assertEqual({d['code'] for s, d in results if s == 409},
            {'already_redeemed'})
        self.assertEqual(len(self.coupon(code)['redemptions']), 1)

    @unittest.skipUnless(POSTGRESQL, "concurrent transactions need "
        "PostgreSQL")
    def test_concurrent_retries(self):
        "50 concurrent retries of one request: 50 answers, one redemption"
        code = self.bearer['twice'][2]
        results = self.run_at_once([
                (lambda: self.redeem(code, 'SAME-1')) for _ in range(50)],
            50)
        self.assertEqual(sorted(s for s, _ in results), [200] * 49 + [201],
            results)
        self.assertEqual(len({d['id'] for _, d in results}), 1)
        self.assertEqual(self.coupon(code)['uses'], 1)

    @unittest.skipUnless(POSTGRESQL, "concurrent transactions need "
        "PostgreSQL")
    def test_many_clients(self):
        """1,000 coupons redeemed by 20 clients at once, the orders made by
        the queue worker: 1,000 redemptions and 1,000 orders, none twice"""
        from trytond.config import config
        before = config.get('queue', 'worker')
        config.set('queue', 'worker', 'True')
        try:
            results = self.run_at_once([
                    (lambda c=c, n=n: self.redeem(c, f'M-{n}'))
                    for n, c in enumerate(self.many)], 20)
        finally:
            if before is None:
                config.remove_option('queue', 'worker')
            else:
                config.set('queue', 'worker', before)
        self.assertEqual([s for s, _ in results], [201] * 1000,
            [r for r in results if r[0] != 201][:3])
        with Transaction().start(DB_NAME, 0) as transaction:
            pool = Pool()
            Queue = pool.get('ir.queue')
            # the tasks the worker would take, one after the other
            tasks = Queue.search([('name', '=', 'dualrec_coupon_orders'),
                    ('dequeued_at', '=', None)])
            self.assertTrue(1 <= len(tasks) < 1000, len(tasks))
            for task in tasks:
                task.run()
            transaction.commit()
        with Transaction().start(DB_NAME, 0):
            pool = Pool()
            Redemption = pool.get('dualrec.coupon.redemption')
            Order = pool.get('dualrec.order')
            redemptions = Redemption.search(
                [('request_no', 'like', 'M-%')])
            self.assertEqual(len(redemptions), 1000)
            self.assertEqual(len({r.coupon.id for r in redemptions}), 1000)
            self.assertFalse(any(r.orders_pending for r in redemptions))
            orders = Order.search([('source', '=', 'coupon'),
                    ('origin', 'in', [str(r) for r in redemptions])])
            self.assertEqual(len(orders), 1000)
            self.assertEqual(len({o.external_ref for o in orders}), 1000)
            self.assertEqual({o.state for o in orders}, {'confirmed'})
            self.assertEqual({r.merchant_order for r in redemptions},
                set(orders))
