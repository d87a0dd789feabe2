# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Forbidden writes tried by every demo role through JSON-RPC (proteus) and
the JSON API against a running server: each must be refused, with nothing
changed.  The tickets reach their states through the workflow only: the API
upload, the worker, the submit button and the review wizard."""
import datetime as dt
import hashlib
import tempfile
import time
import unittest
import xmlrpc.client
from contextlib import ExitStack
from pathlib import Path

import requests
from proteus import Model, Wizard, config as pconfig

from dualrec import pii, testing

from .server import PASSWORD, LiveServer

ROLES = ['sales', 'sales2', 'reviewer', 'qc', 'manager', 'finance',
    'sysadmin']
ID_NUMBER = '11010519491231002X'

# (label, model, target, values): target names a record made in setUpClass
WRITES = [
    ("state of a pending ticket", 'dualrec.ticket', 'pending',
        {'state': 'approved'}),
    ("state of a draft ticket", 'dualrec.ticket', 'draft',
        {'state': 'approved'}),
    ("reviewer of a pending ticket", 'dualrec.ticket', 'pending',
        {'reviewer': 'reviewer'}),
    ("review comment", 'dualrec.ticket', 'pending',
        {'review_comment': "OK"}),
    ("completed on", 'dualrec.ticket', 'draft',
        {'completed_on': dt.date(2026, 1, 1)}),
    ("retention end", 'dualrec.ticket', 'recorded',
        {'retention_end': dt.date(2020, 1, 1)}),
    ("number", 'dualrec.ticket', 'draft', {'number': 'X-1'}),
    ("salesperson", 'dualrec.ticket', 'draft', {'salesperson': 'sales2'}),
    ("ciphertext of the ID number", 'dualrec.ticket', 'draft',
        {'id_number_encrypted': 'x'}),
    ("policyholder after review", 'dualrec.ticket', 'approved',
        {'policyholder_name': "李四"}),
    ("ID number after review", 'dualrec.ticket', 'approved',
        {'id_number': '110105194912310029'}),
    ("product after recording", 'dualrec.ticket', 'recorded',
        {'product': 'other_product'}),
    ("task number after recording", 'dualrec.ticket', 'recorded',
        {'task_number': 'T-OTHER'}),
    ("branch to another outlet", 'dualrec.ticket', 'draft',
        {'branch': 'other_outlet'}),
    ("applicant age after review", 'dualrec.ticket', 'approved',
        {'applicant_age': 40}),
    ("phone of a pending ticket", 'dualrec.ticket', 'pending',
        {'phone': '13900000000'}),
    ("recording status", 'dualrec.recording', 'recording',
        {'status': 'failed'}),
    ("recording hash", 'dualrec.recording', 'recording',
        {'compressed_sha256': '0' * 64}),
    ("recording manifest", 'dualrec.recording', 'recording',
        {'manifest': '{}'}),
    ("recording retention over", 'dualrec.recording', 'recording',
        {'retention_over': True}),
    ("review decision", 'dualrec.review', 'review', {'decision': 'reject'}),
    ("QC task state", 'dualrec.qc.task', 'qc_task', {'state': 'passed'}),
    ("QC task inspected by", 'dualrec.qc.task', 'qc_task',
        {'inspected_by': 'qc'}),
    ("QC task ticket", 'dualrec.qc.task', 'qc_task', {'ticket': 'draft'}),
    ("legal hold moved to another ticket", 'dualrec.legal.hold', 'hold',
        {'ticket': 'draft'}),
    ]
# (label, model, values) created by every role
CREATES = [
    ("ticket already approved", 'dualrec.ticket',
        {'state': 'approved'}),
    ("ticket in another outlet", 'dualrec.ticket',
        {'branch': 'other_outlet'}),
    ("ticket with a retention end", 'dualrec.ticket',
        {'retention_end': dt.date(2020, 1, 1)}),
    ("review decision", 'dualrec.review',
        {'ticket': 'pending', 'decision': 'approve',
            'decided_at': dt.datetime(2026, 1, 1)}),
    ]


class ProbeTestCase(unittest.TestCase):
    "Test that no role writes what only the system sets"

    @classmethod
    def setUpClass(cls):
        cls.server = LiveServer(worker=True).start()
        cls.addClassCleanup(cls.server.stop)
        cls.api = (f'{cls.server.url}/{cls.server.database}'
            '/dualrec/api/v1')
        cls.configs = {}
        # sessions: one password check each, not one a call
        stack = ExitStack()
        cls.addClassCleanup(stack.close)
        url = f'http://localhost:{cls.server.port}/{cls.server.database}/rpc/'
        for login in ROLES + ['admin']:
            cls.configs[login] = stack.enter_context(
                pconfig.set_xmlrpc_session(url, login, PASSWORD))
        cls.tokens = {login: requests.post(cls.api + '/login',
                json={'login': login, 'password': PASSWORD},
                timeout=30).json()['token'] for login in ['sales', 'sales2']}
        cls.ids = {}
        admin = cls.configs['admin']
        User = Model.get('res.user', config=admin)
        for login in ROLES:
            cls.ids[login], = [u.id for u in User.find(
                    [('login', '=', login)])]
        products = cls.call('GET', '/products', 'sales').json()
        cls.product = next(p for p in products if p['code'] == 'LIFE-001')
        cls.ids['other_product'] = next(
            p['id'] for p in products if p['code'] != 'LIFE-001')
        cls.outlets = {login: User(cls.ids[login]).branch.id
            for login in ['sales', 'sales2']}

        directory = tempfile.TemporaryDirectory()
        cls.addClassCleanup(directory.cleanup)
        clip = Path(directory.name) / 'recording.mp4'
        testing.generate_recording(str(clip), 4)
        cls.ids['draft'] = cls.new_ticket('T-DRAFT')
        cls.ids['recorded'], _ = cls.upload(cls.new_ticket('T-REC'),
            clip.read_bytes()[:4096] + b'x' * 1024)
        pending, recording = cls.upload(cls.new_ticket('T-PEND'),
            clip.read_bytes())
        approved, _ = cls.upload(cls.new_ticket('T-APPR'),
            clip.read_bytes())
        cls.wait_ready([recording, _])
        cls.ids['pending'], cls.ids['approved'] = pending, approved
        cls.ids['recording'] = recording
        Ticket = Model.get('dualrec.ticket', config=cls.configs['sales'])
        for ticket in [Ticket(pending), Ticket(approved)]:
            ticket.click('submit')
        review = Wizard('dualrec.ticket.review',
            [Model.get('dualrec.ticket', config=cls.configs['reviewer'])(
                    approved)],
            config=cls.configs['reviewer'])
        review.form.comment = "OK"
        review.execute('approve')
        cls.ids['review'], = [r.id for r in Model.get('dualrec.review',
                config=admin).find([('ticket', '=', approved)])]
        # the manager draws the QC samples: the approved ticket's applicant
        # is over 60, all of them are inspected
        Rule = Model.get('dualrec.qc.rule', config=cls.configs['manager'])
        for rule in Rule.find([]):
            rule.click('sample')
        cls.ids['qc_task'] = Model.get('dualrec.qc.task', config=admin
            ).find([('ticket', '=', approved)], limit=1)[0].id
        cls.ids['other_ticket'] = cls.new_ticket('T-SZ', login='sales2')
        Hold = Model.get('dualrec.legal.hold', config=cls.configs['manager'])
        hold = Hold(ticket=Model.get('dualrec.ticket',
                config=cls.configs['manager'])(approved), reason='complaint')
        hold.save()
        cls.ids['hold'] = hold.id

    @classmethod
    def call(cls, method, path, login, **kwargs):
        headers = {'Authorization': f'Bearer {cls.tokens[login]}',
            'Accept-Language': 'en', **kwargs.pop('headers', {})}
        return requests.request(method, cls.api + path, headers=headers,
            timeout=60, **kwargs)

    @classmethod
    def new_ticket(cls, task_number, login='sales', **values):
        response = cls.call('POST', '/tickets', login, json={
                'task_number': task_number, 'product': cls.product['id'],
                'policyholder_name': "张三", 'id_type': 'resident_id',
                'id_number': ID_NUMBER, 'phone': '13812345678', **values})
        assert response.status_code == 201, response.text
        return response.json()['id']

    @classmethod
    def upload(cls, ticket, data):
        start = dt.datetime.now(dt.timezone.utc)
        timeline = [{'node': node['id'],
                'started_at': (start + dt.timedelta(seconds=i)).isoformat(),
                'confirmed_at': (start + dt.timedelta(seconds=i + 1)
                    ).isoformat(),
                } for i, node in enumerate(cls.product['script']['nodes'])]
        upload = cls.call('POST', '/uploads', 'sales', json={
                'ticket': ticket, 'size': len(data),
                'sha256': hashlib.sha256(data).hexdigest(),
                'content_type': 'video/mp4', 'timeline': timeline}).json()
        cls.call('PUT', f"/uploads/{upload['id']}?offset=0", 'sales',
            data=data, headers={'Content-Type': 'application/octet-stream'})
        response = cls.call('POST', f"/uploads/{upload['id']}/complete",
            'sales')
        assert response.ok, response.text
        return ticket, response.json()['recording']['id']

    @classmethod
    def wait_ready(cls, recordings):
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            statuses = [cls.call('GET', f'/recordings/{r}', 'sales').json()[
                    'status'] for r in recordings]
            if all(s in {'ready', 'failed'} for s in statuses):
                break
            time.sleep(0.5)
        assert statuses == ['ready'] * len(recordings), statuses

    def resolve(self, values, login):
        resolved = {}
        for name, value in values.items():
            if value == 'other_outlet':
                # an outlet that is not the user's
                value = self.outlets[
                    'sales' if login == 'sales2' else 'sales2']
            elif isinstance(value, str) and value in self.ids:
                value = self.ids[value]
            resolved[name] = value
        return resolved

    def snapshot(self, model, record_id, names):
        "Read names of the record as the administrator."
        proxy = self.configs['admin'].get_proxy(model)
        record, = proxy.read([record_id], list(names),
            self.configs['admin'].context)
        return record

    def test_forbidden_writes(self):
        "Every role is refused each forbidden write, and nothing changes"
        for login in ROLES:
            cfg = self.configs[login]
            for label, model, target, values in WRITES:
                values = self.resolve(values, login)
                record_id = self.ids[target]
                with self.subTest(login=login, write=label):
                    before = self.snapshot(model, record_id, values)
                    proxy = cfg.get_proxy(model)
                    with self.assertRaises(xmlrpc.client.Fault):
                        proxy.write([record_id], values, cfg.context)
                    self.assertEqual(
                        self.snapshot(model, record_id, values), before)

    def test_forbidden_creates(self):
        "Every role is refused each forbidden create"
        for login in ROLES:
            cfg = self.configs[login]
            for label, model, values in CREATES:
                values = self.resolve(values, login)
                if model == 'dualrec.ticket':
                    values = {'task_number': 'T-PROBE',
                        'product': self.product['id'],
                        'policyholder_name': "张三",
                        'id_type': 'resident_id', **values}
                with self.subTest(login=login, create=label):
                    proxy = cfg.get_proxy(model)
                    count = self.configs['admin'].get_proxy(model
                        ).search_count([], self.configs['admin'].context)
                    with self.assertRaises(xmlrpc.client.Fault):
                        proxy.create([values], cfg.context)
                    self.assertEqual(self.configs['admin'].get_proxy(model
                        ).search_count([], self.configs['admin'].context),
                        count)

    def test_salesperson_writes_his_draft(self):
        "The salesperson still writes his draft ticket, in his branch"
        cfg = self.configs['sales']
        proxy = cfg.get_proxy('dualrec.ticket')
        proxy.write([self.ids['draft']], {'insurance_period': '10 years'},
            cfg.context)
        self.assertEqual(self.snapshot('dualrec.ticket', self.ids['draft'],
                ['insurance_period'])['insurance_period'], '10 years')

    def test_api_refuses(self):
        "The JSON API refuses system fields and other outlets"
        response = self.call('POST', '/tickets', 'sales', json={
                'task_number': 'T-API', 'product': self.product['id'],
                'policyholder_name': "张三", 'id_type': 'resident_id',
                'state': 'approved'})
        self.assertEqual(response.status_code, 400, response.text)
        self.assertEqual(response.json()['code'], 'unknown_fields')
        response = self.call('POST', '/tickets', 'sales', json={
                'task_number': 'T-API', 'product': self.product['id'],
                'policyholder_name': "张三", 'id_type': 'resident_id',
                'branch': self.outlets['sales2']})
        self.assertIn(response.status_code, {400, 403, 404}, response.text)

    def test_unmask_other_branch_refused(self):
        "A reviewer cannot unmask a ticket of a branch he cannot read"
        cfg = self.configs['reviewer']
        proxy = cfg.get_proxy('dualrec.ticket')
        with self.assertRaises(xmlrpc.client.Fault):
            proxy.unmask([self.ids['other_ticket']], cfg.context)
        plain = proxy.unmask([self.ids['pending']], cfg.context)
        self.assertEqual(plain[str(self.ids['pending'])]['id_number']
            if str(self.ids['pending']) in plain
            else plain[self.ids['pending']]['id_number'], ID_NUMBER)

    def test_pii_search_limited(self):
        "Without the unmask right, PII searches are full, few and audited"
        cfg = self.configs['manager']
        proxy = cfg.get_proxy('dualrec.ticket')
        with self.assertRaises(xmlrpc.client.Fault):
            proxy.search([('id_number', '=', pii.mask_id_number(ID_NUMBER))],
                0, None, None, cfg.context)
        with self.assertRaises(xmlrpc.client.Fault):
            proxy.search([('id_number', '!=', ID_NUMBER)],
                0, None, None, cfg.context)
        found = proxy.search([('id_number', '=', ID_NUMBER)],
            0, None, None, cfg.context)
        self.assertIn(self.ids['draft'], found)
        refused = 0
        for _ in range(25):
            try:
                proxy.search([('phone', '=', '13812345678')],
                    0, None, None, cfg.context)
            except xmlrpc.client.Fault:
                refused += 1
        self.assertEqual(refused, 21)
        admin = self.configs['admin']
        logged = admin.get_proxy('dualrec.audit.log').search_count([
                ('action', '=', 'pii_search'),
                ('user', '=', self.ids['manager'])], admin.context)
        self.assertEqual(logged, 5)
