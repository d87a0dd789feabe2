# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The orders of the JSON API, through trytond's WSGI application."""
import datetime as dt
import os
import threading
import unittest
from decimal import Decimal

from trytond.modules.company.tests import create_company, set_company
from trytond.modules.dualrec_core.tests.tools import (
    create_branches, create_user)
from trytond.modules.dualrec_orders.tests.tools import (
    add_group, create_party)
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, RouteTestCase
from trytond.transaction import Transaction

BASE = f'/{DB_NAME}/dualrec/api/v1'


def body(reference, **values):
    "Return the body of POST orders of a one-line car wash order."
    result = {
        'type': 'valueadd',
        'counterparty': 'APIINS',
        'date': '2026-11-20',
        'branch': 'P1-C1',
        'external_reference': reference,
        'description': "洗车",
        'extension': {'use_time': '2026-11-20T09:30:00',
            'service_rating': 5, 'vehicle_model': "比亚迪 汉"},
        'lines': [{'product': 'APIWASH', 'quantity': 2,
                'unit_price': '35.50', 'tax_rate': '6%'}],
        }
    result.update(values)
    return result


def create_service(code):
    "Create the service product of code (Tryton computes the code)."
    pool = Pool()
    Template = pool.get('product.template')
    Uom = pool.get('product.uom')
    unit, = Uom.search([('name', '=', 'Unit')], limit=1)
    template, = Template.create([{'name': f"Service {code}",
                'type': 'service', 'default_uom': unit.id,
                'list_price': Decimal('100'),
                'products': [('create', [{'suffix_code': code}])]}])
    product, = template.products
    assert product.code == code
    return product


class OrdersApiTestCase(RouteTestCase):
    "Test the orders of the JSON API"
    module = 'dualrec_orders'

    @classmethod
    def setUpDatabase(cls):
        pool = Pool()
        Currency = pool.get('currency.currency')
        Token = pool.get('dualrec.api.token')
        Application = pool.get('res.user.application')
        Order = pool.get('dualrec.order')
        cny, = Currency.create([{'name': "Yuan", 'code': 'CNY',
                    'symbol': '¥'}])
        company = create_company("示范科技", currency=cny)
        other = create_company("另一家公司", currency=cny)
        branches = create_branches(company)
        users = {
            'orders': create_user('apiorders', company, None,
                branches['P1']),
            'app': create_user('apiapp', company, None, branches['P1']),
            'finance': create_user('apifinance', company,
                'group_dualrec_finance', branches['P1']),
            'sales': create_user('apisales', company, 'group_dualrec_sales',
                branches['P1-C1-O1']),
            }
        add_group(users['orders'], 'group_order_center')
        add_group(users['app'], 'group_order_center')
        create_party("示范财产保险股份有限公司", 'APIINS')
        foreign_party = create_party("外地保险", 'APIOTHER')
        with set_company(company):
            create_service('APIWASH')
        with set_company(other):
            foreign_product = create_service('APIOTHERWASH')
            foreign, = Order.create_from([{'company': other.id,
                        'type_': 'valueadd', 'counterparty': foreign_party,
                        'date': dt.date(2026, 11, 1), 'source': 'api',
                        'external_ref': 'FOREIGN-1',
                        'lines': [{'product': foreign_product,
                                'quantity': Decimal(1),
                                'unit_price': Decimal('10'),
                                'tax_rate': Decimal('0.06')}]}])
        cls.foreign_id = foreign.id
        cls.tokens = {name: Token.issue(user.id, 24)[0]
            for name, user in users.items()}
        application, = Application.create([{'user': users['app'].id,
                    'application': 'dualrec', 'state': 'validated'}])
        cls.app_key = application.key

    def call(self, method, path, user='orders', key=None, **kwargs):
        "Return (status, JSON) of an API call as user (or with key)."
        secret = key or self.tokens[user]
        response = self.client().open(BASE + path, method=method,
            headers={'Authorization': f'Bearer {secret}',
                'Accept-Language': 'en'}, **kwargs)
        return response.status_code, response.get_json()

    def count_orders(self):
        with Transaction().start(DB_NAME, 0):
            Order = Pool().get('dualrec.order')
            return Order.search_count([])

    def test_create_repeat_conflict(self):
        "POST creates (201), a repeat returns it (200), a change is 409"
        status, data = self.call('POST', '/orders', json=body('R-1'))
        self.assertEqual(status, 201, data)
        self.assertEqual(data['state'], 'confirmed')
        self.assertTrue(data['number'].startswith('SO'))
        self.assertEqual(data['total_amount'], '71.00')
        self.assertEqual(data['untaxed_amount'], '66.98')
        self.assertEqual(Decimal(data['lines'][0]['tax_rate']), Decimal('0.06'))
        self.assertEqual(data['extension']['use_time'],
            '2026-11-20T09:30:00')
        self.assertEqual(data['branch'], 'P1-C1')
        self.assertEqual(data['source'], 'api')
        self.assertEqual([(e['from_state'], e['to_state'], e['user'])
                for e in data['trace']], [
                (None, 'draft', 'apiorders'),
                ('draft', 'confirmed', 'apiorders')])
        count = self.count_orders()

        # the same content written otherwise: numbers, rate and time
        status, again = self.call('POST', '/orders', json=body('R-1',
                lines=[{'product': 'APIWASH', 'quantity': '2.00',
                        'unit_price': 35.5, 'tax_rate': 0.06}]))
        self.assertEqual(status, 200, again)
        self.assertEqual(again['id'], data['id'])

        status, error = self.call('POST', '/orders',
            json=body('R-1', description="改了"))
        self.assertEqual(status, 409, error)
        self.assertEqual(error['code'], 'conflict')
        self.assertEqual(error['id'], data['id'])
        self.assertIn(data['number'], error['message'])
        self.assertEqual(self.count_orders(), count)

    def test_draft_and_counterparty_by_id(self):
        "confirm false keeps a draft; the counterparty may be given by id"
        status, data = self.call('POST', '/orders', json=body('R-2'))
        party_id = data['counterparty']['id']
        status, draft = self.call('POST', '/orders', json=body('R-3',
                counterparty={'id': party_id}, confirm=False,
                extension=None))
        self.assertEqual(status, 201, draft)
        self.assertEqual(draft['state'], 'draft')
        self.assertEqual(draft['counterparty']['code'], 'APIINS')
        self.assertEqual(draft['extension'], {})

    def test_bad_input(self):
        "Bad input answers 400 with its code and writes nothing"
        count = self.count_orders()
        cases = [
            ({'counterparty': 'NOBODY'}, 'unknown_counterparty'),
            ({'counterparty': {'id': 999999}}, 'unknown_counterparty'),
            ({'type': 'nothing'}, 'unknown_type'),
            ({'branch': 'NOWHERE'}, 'unknown_branch'),
            ({'date': '20.11.2026'}, 'bad_date'),
            ({'external_reference': ''}, 'missing_field'),
            ({'lines': []}, 'missing_field'),
            ({'lines': [{'product': 'NOSUCH', 'unit_price': 1,
                            'tax_rate': 6}]}, 'unknown_product'),
            ({'lines': [{'product': 'APIWASH', 'unit_price': 'abc',
                            'tax_rate': 6}]}, 'bad_amount'),
            ({'lines': [{'product': 'APIWASH', 'unit_price': 10,
                            'tax_rate': '7%'}]}, 'bad_rate'),
            ({'extension': {'service_rating': 'great'}}, 'bad_extension'),
            ({'extension': {'use_time': 'yesterday'}}, 'bad_extension'),
            ({'extension': {'no_such_key': 1}}, 'bad_extension'),
            ({'direction': 'sideways'}, 'bad_value'),
            ]
        for values, code in cases:
            with self.subTest(code=code, values=values):
                status, error = self.call('POST', '/orders',
                    json=body('BAD-1', **values))
                self.assertEqual(status, 400, error)
                self.assertEqual(error['code'], code)
                self.assertTrue(error['message'])
        status, error = self.call('POST', '/orders', data='not json')
        self.assertEqual((status, error['code']), (400, 'bad_json'))
        self.assertEqual(self.count_orders(), count)
        # the reference is still free
        status, data = self.call('POST', '/orders', json=body('BAD-1'))
        self.assertEqual(status, 201, data)

    def test_translated_message(self):
        "The message of an error names the refused value"
        response = self.client().post(BASE + '/orders',
            json=body('T-1', counterparty='NOBODY'),
            headers={'Authorization': f'Bearer {self.tokens["orders"]}',
                'Accept-Language': 'en'})
        self.assertIn('NOBODY', response.get_json()['message'])

    def test_list_and_get(self):
        "GET lists with filters and pages, and one order with its trace"
        ids = []
        for reference, date in [('L-1', '2026-10-01'), ('L-2', '2026-10-02'),
                ('L-3', '2026-10-03')]:
            status, data = self.call('POST', '/orders',
                json=body(reference, date=date, confirm=reference != 'L-3'))
            self.assertEqual(status, 201, data)
            ids.append(data['id'])
        status, data = self.call('GET', '/orders', query_string={
                'type': 'valueadd', 'state': 'draft'})
        self.assertEqual(status, 200, data)
        self.assertIn(ids[2], [o['id'] for o in data['orders']])
        self.assertTrue(all(o['state'] == 'draft' for o in data['orders']))

        status, data = self.call('GET', '/orders', query_string={
                'since': '2026-10-02', 'state': 'confirmed'})
        listed = [o['id'] for o in data['orders']]
        self.assertIn(ids[1], listed)
        self.assertNotIn(ids[0], listed)
        self.assertTrue(all(o['date'] >= '2026-10-02'
                for o in data['orders']))

        status, data = self.call('GET', '/orders',
            query_string={'since': '2000-01-01T00:00:00+08:00'})
        self.assertEqual(status, 200, data)
        self.assertTrue(set(ids) <= {o['id'] for o in data['orders']})
        status, data = self.call('GET', '/orders',
            query_string='since=2000-01-01T00:00:00+08:00')
        self.assertEqual(status, 200, data)
        self.assertTrue(set(ids) <= {o['id'] for o in data['orders']})
        status, data = self.call('GET', '/orders',
            query_string={'since': '2999-01-01T00:00:00'})
        self.assertEqual((status, data['orders']), (200, []))

        status, page = self.call('GET', '/orders',
            query_string={'limit': 1, 'offset': 1})
        self.assertEqual((page['limit'], page['offset']), (1, 1))
        self.assertEqual(len(page['orders']), 1)
        self.assertGreaterEqual(page['count'], 3)
        for query, code in [({'limit': 1001}, 'bad_value'),
                ({'offset': -1}, 'bad_value'),
                ({'state': 'lost'}, 'bad_value'),
                ({'type': 'nothing'}, 'unknown_type'),
                ({'since': 'last week'}, 'bad_date')]:
            with self.subTest(query=query):
                status, error = self.call('GET', '/orders',
                    query_string=query)
                self.assertEqual((status, error['code']), (400, code))

        status, order = self.call('GET', f'/orders/{ids[0]}')
        self.assertEqual(status, 200, order)
        self.assertEqual(order['external_reference'], 'L-1')
        self.assertEqual([e['to_state'] for e in order['trace']],
            ['draft', 'confirmed'])
        self.assertEqual(order['lines'][0]['product'], 'APIWASH')
        self.assertEqual(order['extension']['service_rating'], 5)

        # finance reads
        status, order = self.call('GET', f'/orders/{ids[0]}',
            user='finance')
        self.assertEqual(status, 200, order)

    def test_foreign_and_unknown_404(self):
        "An order of another company or no order at all is 404"
        for order_id in [self.foreign_id, 999999, 'abc']:
            with self.subTest(order_id=order_id):
                status, error = self.call('GET', f'/orders/{order_id}')
                self.assertEqual((status, error['code']), (404, 'not_found'))
        status, data = self.call('GET', '/orders', query_string={
                'limit': 1000})
        self.assertNotIn(self.foreign_id, [o['id'] for o in data['orders']])

    def test_forbidden(self):
        "Without the order center right: 403; finance may not create"
        count = self.count_orders()
        for user, method, path in [('sales', 'GET', '/orders'),
                ('sales', 'GET', f'/orders/{self.foreign_id}'),
                ('sales', 'POST', '/orders'),
                ('finance', 'POST', '/orders')]:
            with self.subTest(user=user, method=method, path=path):
                status, error = self.call(method, path, user=user,
                    json=body('F-1') if method == 'POST' else None)
                self.assertEqual((status, error['code']), (403, 'forbidden'))
        self.assertEqual(self.count_orders(), count)
        status, error = self.call('GET', '/orders', key='not-a-key')
        self.assertEqual((status, error['code']), (401, 'unauthorized'))

    def test_application_key(self):
        "A validated 'dualrec' application key creates and reads"
        status, data = self.call('POST', '/orders', key=self.app_key,
            json=body('A-1', source='crm'))
        self.assertEqual(status, 201, data)
        self.assertEqual(data['trace'][0]['user'], 'apiapp')
        status, order = self.call('GET', f'/orders/{data["id"]}',
            key=self.app_key)
        self.assertEqual((status, order['source']), (200, 'crm'))

    @unittest.skipUnless(
        os.environ.get('DUALREC_TEST_BACKEND') == 'postgresql',
        "concurrent transactions need PostgreSQL")
    def test_concurrent_posts_one_order(self):
        "Two concurrent POSTs of one reference create one order"
        barrier = threading.Barrier(4)
        results = []

        def post():
            barrier.wait()
            results.append(self.call('POST', '/orders', json=body('C-1')))

        threads = [threading.Thread(target=post) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = sorted(status for status, _ in results)
        self.assertEqual(statuses, [200, 200, 200, 201], results)
        self.assertEqual(len({data['id'] for _, data in results}), 1)
        with Transaction().start(DB_NAME, 0):
            Order = Pool().get('dualrec.order')
            self.assertEqual(Order.search_count(
                    [('external_ref', '=', 'C-1')]), 1)
