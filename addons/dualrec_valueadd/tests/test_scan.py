# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The public scan page of the plates, its providers and the agents' API."""
import re
import time
from decimal import Decimal
from pathlib import Path

from werkzeug.test import EnvironBuilder

from trytond.config import config
from trytond.modules.company.tests import set_company
from trytond.modules.dualrec_core.tests.tools import as_user, create_user
from trytond.modules.dualrec_orders.tests.tools import (
    add_group, create_party)
from trytond.modules.dualrec_valueadd import scan_routes
from trytond.modules.dualrec_valueadd.exceptions import PlateRefusal
from trytond.modules.dualrec_valueadd.plate import plate_key
from trytond.modules.dualrec_valueadd.scan import scan_key
from trytond.modules.dualrec_valueadd.tests.test_plate import set_up_plates
from trytond.modules.dualrec_valueadd.tests.test_plate_sale import assign
from trytond.modules.dualrec_valueadd.tests.tools import partner_user
from trytond.pool import Pool
from trytond.protocols.wrappers import Request
from trytond.tests.test_tryton import _DBTestCase, with_transaction
from trytond.transaction import Transaction

from dualrec import plate_scan as scans
from dualrec.plate import sign_serial
from dualrec.privacy_sim import PrivacySimulator
from dualrec.sms import SmsSimulator

OWNER = '13800138000'
OWNER_B = '13912345678'
SECRET = 'test-provider-secret-0123456789abcdef'


def load_chinese():
    "Load the module's zh_CN translations, as trytond-admin -l zh_CN does"
    pool = Pool()
    Lang = pool.get('ir.lang')
    Translation = pool.get('ir.translation')
    zh, = Lang.search([('code', '=', 'zh_CN')])
    Lang.write([zh], {'translatable': True})
    Translation.translation_import('zh_CN', 'dualrec_valueadd',
        str(Path(__file__).parent.parent / 'locale' / 'zh_CN.po'))


class ScanTestCase(_DBTestCase):
    "Test the public scan page of the plates"
    module = 'dualrec_valueadd'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.privacy = PrivacySimulator(secret=SECRET).start()
        cls.addClassCleanup(cls.privacy.stop)
        cls.sms = SmsSimulator(secret=SECRET).start()
        cls.addClassCleanup(cls.sms.stop)
        if not config.has_section('dualrec_valueadd'):
            config.add_section('dualrec_valueadd')
        config.set('dualrec_valueadd', 'privacy_secret', SECRET)
        config.set('dualrec_valueadd', 'sms_secret', SECRET)

    def setUp(self):
        super().setUp()
        scan_routes.LIMITS = scans.Limits()
        self.privacy.bindings.clear()
        self.privacy.calls.clear()
        self.sms.messages.clear()

    def set_up(self, kind='axn'):
        "Return the company, users and plates by state of the tests."
        pool = Pool()
        Batch = pool.get('dualrec.plate.batch')
        Plate = pool.get('dualrec.plate')
        Purchase = pool.get('dualrec.plate.purchase')
        Configuration = pool.get('dualrec.valueadd.configuration')
        company, other, users, product = set_up_plates()
        load_chinese()
        Configuration.write([Configuration(1)], {
                'privacy_provider': 'http', 'privacy_url': self.privacy.url,
                'privacy_app_key': 'app', 'privacy_kind': kind,
                'sms_provider': 'http', 'sms_url': self.sms.url,
                'sms_app_key': 'app'})
        agents = {name: create_party(f"业务员{name}", f'AG{name}')
            for name in 'AB'}
        for name, party in agents.items():
            user = users[f'agent{name}'] = create_user(f'agent{name}',
                company)
            add_group(user, 'group_plate_agent', module='dualrec_valueadd')
            partner_user(user, party)
        insurer = create_party("示范财产保险", 'INS')
        with set_company(company), as_user(users['plate']):
            batch = Batch(product=product, prefix='NC', year=2026,
                first=1, last=6)
            batch.save()
            Batch.produce([batch])
            found = Plate.search([], order=[('serial', 'ASC')])
        plates = dict(zip(['bound', 'sold', 'deactivated', 'in_stock',
                    'other_agent', 'agent_sold'], found))
        # agent A places plates 1, 2 and 6, agent B plate 5; the insurer
        # buys them; plate 3 is deactivated
        with set_company(company), as_user(users['plate']):
            for agent, first, last in [('A', 1, 2), ('A', 6, 6),
                    ('B', 5, 5)]:
                assign(agents[agent], first=f'NC2026{first:06d}',
                    last=f'NC2026{last:06d}')
            purchases = [Purchase(insurer=insurer, agent=agents[agent],
                    quantity=quantity, unit_price=Decimal('9.90'),
                    tax_rate=Decimal('0.13'))
                for agent, quantity in [('A', 3), ('B', 1)]]
            Purchase.save(purchases)
            Purchase.confirm(purchases)
            Plate.deactivate([plates['deactivated']])
        with set_company(company):
            plates['bound'].bind('粤A12345', OWNER, 'staff')
        return company, users, plates

    def payload(self, plate):
        return sign_serial(plate_key(), plate.serial)

    def page(self, payload, action=None, data=None, addr='10.0.0.1'):
        "Answer the page or form action of payload in this transaction"
        builder = EnvironBuilder(method='POST' if action else 'GET',
            data=data, environ_base={'REMOTE_ADDR': addr})
        response = scan_routes.handle(Request(builder.get_environ()),
            Pool(), payload, action)
        self.assertNoOwner(response)
        return response

    def assertNoOwner(self, response):
        "The owners' numbers are in no response, body or headers"
        text = response.get_data(as_text=True) + str(response.headers)
        for number in [OWNER, OWNER_B]:
            self.assertNotIn(number, text.replace(' ', ''))
            self.assertNotIn(number[3:], text)

    def token(self, response):
        return re.search(r'name="token" value="([^"]+)"',
            response.get_data(as_text=True)).group(1)

    @with_transaction()
    def test_pages_by_state(self):
        "Bound, unbound, deactivated, in-stock and forged plates' pages"
        _, _, plates = self.set_up()
        response = self.page(self.payload(plates['bound']))
        self.assertEqual(response.status_code, 200)
        body = response.get_data(as_text=True)
        for text in ['请挪车', '呼叫车主', '发送挪车短信', '粤A***45']:
            self.assertIn(text, body)
        self.assertNotIn('粤A12345', body)
        self.assertEqual(response.headers['Cache-Control'], 'no-store')
        self.assertIn("default-src 'none'",
            response.headers['Content-Security-Policy'])
        self.assertLess(len(response.get_data()), 50 * 1024)

        body = self.page(self.payload(plates['sold'])).get_data(as_text=True)
        self.assertIn('该挪车牌尚未绑定', body)
        self.assertIn('bind/request', body)
        body = self.page(self.payload(plates['deactivated'])).get_data(
            as_text=True)
        self.assertIn('该挪车牌已停用', body)
        self.assertNotIn('<form', body)
        body = self.page(self.payload(plates['in_stock'])).get_data(
            as_text=True)
        self.assertIn('尚未启用', body)

        good = self.payload(plates['bound'])
        forged = good[:-1] + ('A' if good[-1] != 'A' else 'B')
        unknown = sign_serial(plate_key(), 'NC2026000999')
        answers = [self.page(p) for p in [forged, unknown, 'garbage',
                'NC2026000001']]
        self.assertEqual({r.status_code for r in answers}, {404})
        # an unknown serial answers exactly as a forged one
        self.assertEqual(len({r.get_data() for r in answers}), 1)
        self.assertIn('二维码无效', answers[0].get_data(as_text=True))

    @with_transaction()
    def test_call_reuses_binding(self):
        "A call binds one virtual number, reused until the owner changes"
        pool = Pool()
        Privacy = pool.get('dualrec.plate.privacy')
        Scan = pool.get('dualrec.plate.scan')
        company, _, plates = self.set_up()
        payload = self.payload(plates['bound'])
        token = self.token(self.page(payload))
        first = self.page(payload, 'call', {'token': token})
        self.assertEqual(first.status_code, 200)
        second = self.page(payload, 'call', {'token': token},
            addr='10.0.0.2')
        body = second.get_data(as_text=True)
        binding, = Privacy.search([])
        self.assertEqual((binding.plate, binding.state, binding.kind),
            (plates['bound'], 'active', 'axn'))
        self.assertIn(f'tel:{binding.secret_no}', body)
        self.assertEqual(
            [c for c, _ in self.privacy.calls], ['bind_axn'])
        # the virtual number reaches the owner
        self.assertEqual(self.privacy.route(binding.secret_no, OWNER_B),
            OWNER)
        self.assertEqual(Privacy.plate_of(binding.binding_id),
            plates['bound'])

        # a new owner: the old number is released, a new one is bound
        with set_company(company):
            plates['bound'].bind('粤A12345', OWNER_B, 'staff')
        self.assertEqual(binding.state, 'released')
        self.assertIsNone(self.privacy.route(binding.secret_no, '13700000000'))
        self.page(payload, 'call', {'token': token})
        active, = Privacy.search([('state', '=', 'active')])
        self.assertEqual(self.privacy.route(active.secret_no, '13700000000'),
            OWNER_B)
        self.assertEqual(Scan.search_count([('kind', '=', 'call'),
                    ('outcome', '=', 'ok')]), 3)
        # scans are logged with a hash of the address, not the address
        self.assertFalse(Scan.search([('client', 'like', '10.0.%')]))

    @with_transaction()
    def test_call_axb_and_refusals(self):
        "AXB needs the caller's phone; a bad token or plate state refuses"
        Privacy = Pool().get('dualrec.plate.privacy')
        _, _, plates = self.set_up(kind='axb')
        payload = self.payload(plates['bound'])
        page = self.page(payload)
        self.assertIn('name="caller"', page.get_data(as_text=True))
        token = self.token(page)
        refused = self.page(payload, 'call', {'token': token,
                'caller': '123'})
        self.assertEqual(refused.status_code, 400)
        self.assertIn('手机号', refused.get_data(as_text=True))
        self.assertFalse(Privacy.search([]))
        done = self.page(payload, 'call', {'token': token,
                'caller': '13700137000'})
        self.assertEqual(done.status_code, 200)
        binding, = Privacy.search([])
        self.assertEqual(self.privacy.route(binding.secret_no,
                '13700137000'), OWNER)
        self.assertIsNone(self.privacy.route(binding.secret_no, OWNER_B))
        # a token of another plate, or none, is refused
        other = self.payload(plates['sold'])
        for data in [{}, {'token': 'x.y'},
                {'token': self.token(self.page(other))}]:
            with self.subTest(data=data):
                self.assertEqual(self.page(payload, 'call', data).status_code,
                    400)
        # calling a plate not bound is refused
        response = self.page(other, 'call',
            {'token': self.token(self.page(other))})
        self.assertEqual(response.status_code, 409)

    @with_transaction()
    def test_rate_limit(self):
        "Too many calls from one address answer 429 in Chinese"
        _, _, plates = self.set_up()
        payload = self.payload(plates['bound'])
        token = self.token(self.page(payload))
        per_client = scans.LIMITS['call'][1]
        for _ in range(per_client):
            self.assertEqual(
                self.page(payload, 'call', {'token': token}).status_code,
                200)
        response = self.page(payload, 'call', {'token': token})
        self.assertEqual(response.status_code, 429)
        self.assertIn('操作过于频繁', response.get_data(as_text=True))
        self.assertIn('分钟后再试', response.get_data(as_text=True))
        self.assertTrue(int(response.headers['Retry-After']) > 0)
        # another address may still call, until the plate's own limit
        self.assertEqual(self.page(payload, 'call', {'token': token},
                addr='10.0.0.9').status_code, 200)
        Scan = Pool().get('dualrec.plate.scan')
        self.assertEqual(Scan.search_count([('outcome', '=', 'limited')]), 1)

    @with_transaction()
    def test_message(self):
        "A preset message goes to the owner; free text is refused"
        _, _, plates = self.set_up()
        payload = self.payload(plates['bound'])
        token = self.token(self.page(payload))
        response = self.page(payload, 'message', {'token': token,
                'preset': 'fire'})
        self.assertEqual(response.status_code, 200)
        self.assertIn('已发送', response.get_data(as_text=True))
        message, = self.sms.messages
        self.assertEqual((message.phone, message.template),
            (OWNER, 'plate_move_car'))
        self.assertIn('消防通道', message.text)
        response = self.page(payload, 'message', {'token': token,
                'preset': '快来挪车！'})
        self.assertEqual(response.status_code, 400)
        self.assertEqual(len(self.sms.messages), 1)

    @with_transaction()
    def test_owner_binding(self):
        "The owner binds with the SMS code; wrong codes are counted"
        pool = Pool()
        Binding = pool.get('dualrec.plate.binding')
        plate = None
        _, _, plates = self.set_up()
        plate = plates['sold']
        payload = self.payload(plate)
        token = self.token(self.page(payload))
        # bad input changes nothing and sends nothing
        for data in [{'vehicle_plate': '粤A12345', 'phone': OWNER_B},
                {'vehicle_plate': 'XX', 'phone': OWNER_B, 'consent': '1'},
                {'vehicle_plate': '粤B88888', 'phone': '123',
                    'consent': '1'}]:
            with self.subTest(data=data):
                response = self.page(payload, 'bind/request',
                    {'token': token, **data})
                self.assertEqual(response.status_code, 400)
                self.assertIn('class="err"', response.get_data(as_text=True))
        self.assertEqual(self.sms.messages, [])

        response = self.page(payload, 'bind/request', {'token': token,
                'vehicle_plate': '粤b 88888', 'phone': OWNER_B,
                'consent': '1'})
        self.assertEqual(response.status_code, 200)
        body = response.get_data(as_text=True)
        self.assertIn('139****5678', body)
        request = re.search(r'name="request" value="([^"]+)"', body).group(1)
        code = self.sms.last(OWNER_B).params['code']
        wrong = '%06d' % ((int(code) + 1) % 10 ** 6)
        response = self.page(payload, 'bind/confirm', {'token': token,
                'request': request, 'code': wrong})
        self.assertEqual(response.status_code, 400)
        self.assertIn('验证码错误', response.get_data(as_text=True))
        self.assertIn('139****5678', response.get_data(as_text=True))
        self.assertEqual(plate.state, 'sold')

        response = self.page(payload, 'bind/confirm', {'token': token,
                'request': request, 'code': code})
        self.assertEqual(response.status_code, 200)
        self.assertIn('绑定成功', response.get_data(as_text=True))
        plate = pool.get('dualrec.plate')(plate.id)
        self.assertEqual((plate.state, plate.vehicle_plate,
                plate.bound_channel), ('bound', '粤B88888', 'owner'))
        self.assertTrue(plate.matches_phone(OWNER_B))
        log, = Binding.search([('plate', '=', plate.id)])
        self.assertEqual((log.action, log.channel, log.phone),
            ('bind', 'owner', '139****5678'))
        # the code is single use
        response = self.page(payload, 'bind/confirm', {'token': token,
                'request': request, 'code': code})
        self.assertGreaterEqual(response.status_code, 400)

    @with_transaction()
    def test_providers_unconfigured(self):
        "Without providers nothing is offered and a post is refused, 503"
        pool = Pool()
        Configuration = pool.get('dualrec.valueadd.configuration')
        Scan = pool.get('dualrec.plate.scan')
        _, _, plates = self.set_up()
        Configuration.write([Configuration(1)], {
                'privacy_provider': None, 'sms_provider': None})
        payload = self.payload(plates['bound'])
        page = self.page(payload)
        body = page.get_data(as_text=True)
        self.assertNotIn('/call"', body)
        self.assertNotIn('/message"', body)
        # a form posted all the same (an old page)
        token = scans.form_token(scan_key(), plates['bound'].serial,
            time.time())
        response = self.page(payload, 'call', {'token': token})
        self.assertEqual(response.status_code, 503)
        self.assertIn('暂时无法呼叫车主', response.get_data(as_text=True))
        self.assertEqual(self.privacy.calls, [])
        self.assertEqual(Scan.search_count([('outcome', '=', 'failed')]), 1)

    @with_transaction()
    def test_code_attempts(self):
        "After five wrong codes even the right one is refused"
        _, _, plates = self.set_up()
        plate = plates['sold']
        payload = self.payload(plate)
        token = self.token(self.page(payload))
        body = self.page(payload, 'bind/request', {'token': token,
                'vehicle_plate': '粤B88888', 'phone': OWNER_B,
                'consent': '1'}).get_data(as_text=True)
        request = re.search(r'name="request" value="([^"]+)"', body).group(1)
        code = self.sms.last(OWNER_B).params['code']
        wrong = '%06d' % ((int(code) + 1) % 10 ** 6)
        for _ in range(scans.CODE_ATTEMPTS):
            self.page(payload, 'bind/confirm', {'token': token,
                    'request': request, 'code': wrong})
        response = self.page(payload, 'bind/confirm', {'token': token,
                'request': request, 'code': code})
        self.assertEqual(response.status_code, 400)
        self.assertIn('重新获取', response.get_data(as_text=True))
        self.assertEqual(plate.state, 'sold')

    @with_transaction()
    def test_agent_api(self):
        "An agent binds, lists and unbinds its plates, not another's"
        company, users, plates = self.set_up()
        with set_company(company), as_user(users['agentA']):
            request = Request(EnvironBuilder(method='POST',
                    json={'vehicle_plate': '粤A00001', 'phone': OWNER_B}
                    ).get_environ())
            answer, status = scan_routes.bind_plate(request, Pool(),
                plates['agent_sold'].serial)
            self.assertEqual(status, 201)
            self.assertEqual((answer['state'], answer['phone'],
                    answer['vehicle_plate']),
                ('bound', '139****5678', '粤A00001'))
            with self.assertRaises(PlateRefusal) as cm:
                scan_routes.bind_plate(request, Pool(),
                    plates['other_agent'].serial)
            self.assertEqual(cm.exception.status, 404)
            listing = scan_routes.list_plates(Request(EnvironBuilder(
                        query_string='state=bound').get_environ()), Pool())
            self.assertEqual([p['serial'] for p in listing['plates']],
                sorted([plates['bound'].serial,
                        plates['agent_sold'].serial]))
            self.assertNotIn(OWNER, str(listing))
            answer = scan_routes.unbind_plate(Request(EnvironBuilder(
                        method='POST').get_environ()), Pool(),
                plates['agent_sold'].serial)
            self.assertEqual(answer['state'], 'sold')
        with set_company(company), as_user(users['agentB']):
            listing = scan_routes.list_plates(Request(EnvironBuilder(
                        ).get_environ()), Pool())
            self.assertEqual([p['serial'] for p in listing['plates']],
                [plates['other_agent'].serial])
        with set_company(company), as_user(users['plate']):
            with self.assertRaises(Exception):
                scan_routes.list_plates(Request(EnvironBuilder(
                            ).get_environ()), Pool())

    @with_transaction()
    def test_agent_api_served(self):
        "Through the API machinery: bearer key, JSON errors with a code"
        import json
        pool = Pool()
        Api = pool.get('dualrec.api')
        Application = pool.get('res.user.application')
        company, users, plates = self.set_up()
        keys = {}
        for name in ['agentA', 'plate']:
            application = Application(user=users[name],
                application='dualrec', state='validated')
            application.save()
            keys[name] = application.key

        def call(name, func, body=None, **kwargs):
            request = Request(EnvironBuilder(method='POST',
                    headers={'Authorization': f'Bearer {keys[name]}',
                        'Accept-Language': 'zh-CN'},
                    data=json.dumps(body or {}),
                    content_type='application/json').get_environ())
            response = Api.serve(request, func, **kwargs)
            self.assertNoOwner(response)
            return response.status_code, json.loads(response.get_data())

        status, data = call('agentA', scan_routes.bind_plate,
            {'vehicle_plate': '粤A00001', 'phone': OWNER_B},
            serial=plates['agent_sold'].serial)
        self.assertEqual((status, data['state'], data['phone']),
            (201, 'bound', '139****5678'))
        status, data = call('agentA', scan_routes.bind_plate,
            {'vehicle_plate': '粤A00001', 'phone': OWNER_B},
            serial=plates['agent_sold'].serial)
        self.assertEqual(status, 200)
        status, data = call('agentA', scan_routes.unbind_plate,
            serial=plates['agent_sold'].serial)
        self.assertEqual((status, data['state']), (200, 'sold'))
        # (an error rolls the transaction back: the test's data with it)
        status, data = call('agentA', scan_routes.bind_plate,
            {'vehicle_plate': '粤A00002', 'phone': OWNER_B},
            serial=plates['other_agent'].serial)
        self.assertEqual((status, data['code']), (404, 'unknown'))
        self.assertIn(plates['other_agent'].serial, data['message'])

    @with_transaction()
    def test_access(self):
        "Plate staff read the scans and numbers; salespeople see nothing"
        from trytond.model.exceptions import AccessError
        pool = Pool()
        Scan = pool.get('dualrec.plate.scan')
        Privacy = pool.get('dualrec.plate.privacy')
        company, users, plates = self.set_up()
        payload = self.payload(plates['bound'])
        self.page(payload, 'call', {'token': self.token(self.page(payload))})
        with set_company(company), as_user(users['plate']):
            self.assertEqual(len(Scan.search([])), 2)
            self.assertEqual(len(Privacy.search([])), 1)
            with self.assertRaises(AccessError):
                Scan.create([{'plate': plates['bound'].id,
                            'company': company.id, 'kind': 'view',
                            'at': Transaction().context.get('_now')
                            or plates['bound'].create_date,
                            'outcome': 'ok'}])
        with set_company(company), as_user(users['sales']):
            with self.assertRaises(AccessError):
                Scan.search([])
            with self.assertRaises(AccessError):
                Privacy.search([])
        with as_user(users['other']):
            self.assertEqual(Scan.search([]), [])
