# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The JSON API against a running server with the demo data."""
import hashlib
import os
import unittest
from concurrent.futures import ThreadPoolExecutor

import requests

from .server import PASSWORD, LiveServer, sql

MIB = 1024 * 1024


def fake_video(size, seed=b'dualrec'):
    "Bytes that start like an MP4 file (ftyp box) followed by noise."
    head = b'\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2'
    body = bytearray()
    block = hashlib.sha256(seed).digest()
    while len(head) + len(body) < size:
        block = hashlib.sha256(block).digest()
        body += block * 64
    return (head + bytes(body))[:size]


class ApiTestCase(unittest.TestCase):
    "Test the JSON API of the recorder"

    @classmethod
    def setUpClass(cls):
        cls.server = LiveServer().start()
        cls.addClassCleanup(cls.server.stop)
        cls.base = (f'{cls.server.url}/{cls.server.database}'
            '/dualrec/api/v1')
        cls.tokens = {login: cls.login(login)['token']
            for login in ['sales', 'sales2', 'reviewer']}
        products = cls.call('GET', '/products', 'sales').json()
        cls.product = next(p for p in products if p['code'] == 'LIFE-001')

    @classmethod
    def login(cls, login, password=PASSWORD, language='zh-CN'):
        response = requests.post(cls.base + '/login',
            json={'login': login, 'password': password},
            headers={'Accept-Language': language}, timeout=30)
        return response.json() if response.ok else response

    @classmethod
    def call(cls, method, path, login=None, token=None, **kwargs):
        headers = kwargs.pop('headers', {})
        token = token or (cls.tokens[login] if login else None)
        if token:
            headers['Authorization'] = f'Bearer {token}'
        headers.setdefault('Accept-Language', 'zh-CN')
        return requests.request(method, cls.base + path, headers=headers,
            timeout=60, **kwargs)

    def assertError(self, response, status, code):
        self.assertEqual(response.status_code, status, response.text)
        data = response.json()
        self.assertEqual(data['code'], code)
        self.assertTrue(data['message'])
        self.assertNotIn('Traceback', response.text)
        return data

    def new_ticket(self, login='sales', **values):
        data = {'task_number': 'T-100', 'product': self.product['id'],
            'policyholder_name': "张三", 'id_type': 'resident_id',
            'id_number': '11010519491231002X', 'phone': '13812345678',
            **values}
        response = self.call('POST', '/tickets', login, json=data)
        self.assertEqual(response.status_code, 201, response.text)
        return response.json()

    def timeline(self):
        return [{'node': n['id'], 'started_at': '2026-11-22T08:00:00+08:00',
                'confirmed_at': '2026-11-22T08:00:30+08:00'}
            for n in self.product['script']['nodes']]

    def start_upload(self, ticket, data, login='sales', **values):
        payload = {'ticket': ticket['id'], 'size': len(data),
            'sha256': hashlib.sha256(data).hexdigest(),
            'content_type': 'video/mp4', 'timeline': self.timeline(),
            'device': 'test', 'browser': 'requests', **values}
        return self.call('POST', '/uploads', login, json=payload)

    def put(self, upload_id, data, offset, login='sales'):
        return self.call('PUT', f'/uploads/{upload_id}?offset={offset}',
            login, data=data,
            headers={'Content-Type': 'application/octet-stream'})

    def test_me(self):
        "The current user is told with his roles and branch"
        data = self.call('GET', '/me', 'sales').json()
        self.assertEqual(data['login'], 'sales')
        self.assertEqual(data['roles'], ['sales'])
        self.assertEqual(data['language'], 'zh_CN')
        self.assertIn('广州天河营业部', data['branch']['name'])

    def test_products_with_script(self):
        "Products come with their current script and its nodes"
        script = self.product['script']
        self.assertTrue(self.product['recording_mandatory'])
        self.assertEqual(len(script['nodes']), 11)
        self.assertIn('此次录音录像过程对于今后您维护权益非常关键',
            script['nodes'][0]['text'])

    def test_options_translated(self):
        "The form's choices come in the user's language with the settings"
        data = self.call('GET', '/options', 'sales').json()
        id_types = dict(data['id_types'])
        self.assertEqual(id_types['resident_id'], '居民身份证')
        self.assertIn('annual', dict(data['payment_methods']))
        self.assertGreater(data['chunk_size'], 0)
        self.assertGreater(data['recorder']['video_bits_per_second'], 0)

    def test_id_number_check(self):
        "An ID number is checked as the ticket checks it, errors explained"
        good = self.call('POST', '/id_numbers/check', 'sales', json={
                'id_type': 'resident_id', 'id_number': '11010519491231002X'})
        self.assertEqual(good.status_code, 200, good.text)
        self.assertEqual(good.json()['masked'], '110***********002X')
        bad = self.call('POST', '/id_numbers/check', 'sales', json={
                'id_type': 'resident_id', 'id_number': '110105194912310021'})
        data = self.assertError(bad, 400, 'id_number_checksum')
        self.assertIn('校验', data['message'])
        self.assertError(self.call('POST', '/id_numbers/check', 'sales',
                json={'id_type': 'resident_id'}), 400, 'bad_id_number')

    def test_recorder_app_served(self):
        "The recorder's files come with their types, revalidated by ETag"
        url = f'{self.server.url}/dualrec/recorder'
        page = requests.get(url, timeout=30)
        self.assertEqual(page.status_code, 200)
        self.assertEqual(page.headers['Content-Type'],
            'text/html; charset=utf-8')
        self.assertIn('/dualrec/recorder/app.js', page.text)
        script = requests.get(url + '/app.js', timeout=30)
        self.assertEqual(script.headers['Content-Type'],
            'text/javascript; charset=utf-8')
        self.assertEqual(script.headers['Cache-Control'], 'no-cache')
        again = requests.get(url + '/app.js', timeout=30,
            headers={'If-None-Match': script.headers['ETag']})
        self.assertEqual(again.status_code, 304)
        # OWL comes from npm through the web root
        owl = requests.get(self.server.url
            + '/node_modules/@odoo/owl/dist/owl.es.js', timeout=30)
        self.assertEqual(owl.status_code, 200)
        for path in ['/%2e%2e/recording.py', '/missing.js', '/.hidden']:
            with self.subTest(path=path):
                response = requests.get(url + path, timeout=30)
                self.assertEqual(response.status_code, 404)

    def test_login_refused(self):
        "A wrong password answers 401 in the user's language"
        response = self.login('sales', 'wrong-password')
        data = self.assertError(response, 401, 'login_failed')
        self.assertEqual(data['message'], "用户名或密码错误。")
        response = self.login('sales', 'wrong-password', language='en')
        self.assertEqual(response.json()['message'],
            "Wrong login or password.")
        count, = sql(self.server, "SELECT COUNT(*) FROM dualrec_audit_log "
            "WHERE action = 'login_failed' AND login = 'sales'")[0]
        self.assertGreaterEqual(count, 2)

    def test_token_required(self):
        "Calls without a valid token answer 401"
        self.assertError(self.call('GET', '/me'), 401, 'unauthorized')
        self.assertError(self.call('GET', '/me', token='forged'),
            401, 'unauthorized')

    def test_logout_revokes(self):
        "After logout the token no longer works"
        token = self.login('sales')['token']
        self.assertEqual(self.call('GET', '/me', token=token).status_code,
            200)
        self.assertEqual(
            self.call('POST', '/logout', token=token).json(),
            {'revoked': True})
        self.assertError(self.call('GET', '/me', token=token),
            401, 'unauthorized')

    def test_token_expiry(self):
        "An expired token answers 401"
        data = self.login('sales')
        self.assertEqual(
            self.call('GET', '/me', token=data['token']).status_code, 200)
        digest = hashlib.sha256(data['token'].encode()).hexdigest()
        sql(self.server, "UPDATE dualrec_api_token SET expires_at = ? "
            "WHERE key_digest = ?", ('2000-01-01 00:00:00', digest))
        self.assertError(self.call('GET', '/me', token=data['token']),
            401, 'unauthorized')

    def test_ticket_scope(self):
        "Another salesperson's ticket is not found; a reviewer sees it"
        ticket = self.new_ticket()
        self.assertEqual(ticket['id_number'], '110***********002X')
        self.assertEqual(ticket['phone'], '138****5678')
        self.assertError(self.call('GET', f"/tickets/{ticket['id']}",
                'sales2'), 404, 'not_found')
        self.assertNotIn(ticket['id'],
            [t['id'] for t in self.call('GET', '/tickets', 'sales2').json()])
        self.assertEqual(self.call('GET', f"/tickets/{ticket['id']}",
                'reviewer').json()['number'], ticket['number'])
        self.assertError(self.call('GET', '/tickets/999999', 'sales'),
            404, 'not_found')
        data = fake_video(1000)
        self.assertError(self.start_upload(ticket, data, 'sales2'),
            404, 'not_found')

    def test_invalid_ticket_changes_nothing(self):
        "An invalid ID number is refused in Chinese and creates nothing"
        before = len(self.call('GET', '/tickets', 'sales').json())
        response = self.call('POST', '/tickets', 'sales', json={
                'task_number': 'T-1', 'product': self.product['id'],
                'policyholder_name': "李四", 'id_type': 'resident_id',
                'id_number': '110105194912310021'})
        data = self.assertError(response, 400, 'invalid')
        self.assertIn('校验码', data['message'])
        self.assertEqual(
            len(self.call('GET', '/tickets', 'sales').json()), before)

    def test_resumable_upload(self):
        "An upload cut halfway resumes from the stored ranges"
        ticket = self.new_ticket()
        data = fake_video(5 * MIB + 123)
        response = self.start_upload(ticket, data)
        self.assertEqual(response.status_code, 201, response.text)
        upload = response.json()
        chunks = [(o, data[o:o + MIB]) for o in range(0, len(data), MIB)]
        # the first half arrives, one chunk twice (a retry)
        for offset, chunk in chunks[:3] + [chunks[1]]:
            self.assertEqual(self.put(upload['id'], chunk, offset)
                .status_code, 200)
        # the connection drops; the client asks what the server has
        state = self.call('GET', f"/uploads/{upload['id']}", 'sales').json()
        self.assertEqual(state['received'], [[0, 3 * MIB]])
        self.assertEqual(state['missing'], [[3 * MIB, len(data)]])
        self.assertError(self.call('POST',
                f"/uploads/{upload['id']}/complete", 'sales'),
            409, 'incomplete')
        for offset, chunk in reversed(chunks[3:]):
            self.assertEqual(self.put(upload['id'], chunk, offset)
                .status_code, 200)
        response = self.call('POST', f"/uploads/{upload['id']}/complete",
            'sales')
        # answered at once: the checks wait in the queue (no worker runs
        # in this test)
        self.assertEqual(response.status_code, 202, response.text)
        self.assertEqual(response.json()['state'], 'verifying')
        recording = response.json()['recording']
        self.assertEqual(recording['version'], 1)
        self.assertEqual(recording['status'], 'verifying')
        self.assertEqual(recording['original_sha256'],
            hashlib.sha256(data).hexdigest())
        self.assertEqual(len(recording['timeline']), 11)
        ticket = self.call('GET', f"/tickets/{ticket['id']}", 'sales').json()
        self.assertEqual(ticket['state'], 'recorded')
        self.assertEqual(ticket['recording']['id'], recording['id'])
        status = self.call('GET', f"/recordings/{recording['id']}",
            'sales').json()
        self.assertEqual(status['status'], 'verifying')
        self.assertError(self.call('GET', f"/recordings/{recording['id']}",
                'sales2'), 404, 'not_found')

    def test_wrong_checksum(self):
        "A file that does not match its SHA-256 fails its queued check"
        ticket = self.new_ticket()
        data = fake_video(MIB)
        upload = self.start_upload(ticket, data,
            sha256=hashlib.sha256(b'other').hexdigest()).json()
        self.assertEqual(self.put(upload['id'], data, 0).status_code, 200)
        response = self.call('POST', f"/uploads/{upload['id']}/complete",
            'sales')
        self.assertEqual(response.status_code, 202, response.text)
        recording = response.json()['recording']
        # the queued task, as the worker runs it
        self.server.run_python("Recording = pool.get('dualrec.recording')\n"
            f"Recording.process([Recording({recording['id']})])")
        state = self.call('GET', f"/uploads/{upload['id']}", 'sales').json()
        self.assertEqual(state['state'], 'failed')
        recording = self.call('GET', f"/recordings/{recording['id']}",
            'sales').json()
        self.assertEqual(recording['status'], 'failed')
        self.assertIn('checksum_mismatch', recording['error'])
        # the received parts are gone
        uploads = (self.server.directory / 'db' / self.server.database
            / 'dualrec' / 'uploads')
        self.assertFalse((uploads / upload['id']).exists())

    def test_parallel_complete(self):
        "Parallel completes of one upload all answer its state"
        ticket = self.new_ticket()
        data = fake_video(MIB + 10)
        upload = self.start_upload(ticket, data).json()
        self.assertEqual(self.put(upload['id'], data, 0).status_code, 200)
        path = f"/uploads/{upload['id']}/complete"
        with ThreadPoolExecutor(5) as executor:
            answers = list(executor.map(
                    lambda _: self.call('POST', path, 'sales'), range(5)))
        self.assertEqual([a.status_code for a in answers], [202] * 5,
            [a.text for a in answers])
        self.assertEqual(len({a.json()['recording']['id']
                    for a in answers}), 1)
        again = self.call('POST', path, 'sales')
        self.assertEqual((again.status_code, again.json()['state']),
            (202, 'verifying'))
        ticket = self.call('GET', f"/tickets/{ticket['id']}", 'sales').json()
        self.assertEqual(len(ticket['recordings']), 1)

    def test_chunk_over_limit(self):
        "A chunk over the chunk size is refused with 413, not an error"
        ticket = self.new_ticket()
        data = fake_video(80 * MIB)
        upload = self.start_upload(ticket, data).json()
        for size in [upload['chunk_size'] + MIB, 65 * MIB]:
            with self.subTest(size=size):
                self.assertError(self.put(upload['id'], data[:size], 0),
                    413, 'chunk_size')

    def test_misaligned_chunk(self):
        "A chunk not on the envelope's 1 MiB borders is refused"
        ticket = self.new_ticket()
        data = fake_video(3 * MIB)
        upload = self.start_upload(ticket, data).json()
        self.assertError(self.put(upload['id'], data[10:MIB], 10),
            400, 'chunk_alignment')

    def test_oversize(self):
        "A file over the maximum size is refused before any byte is sent"
        ticket = self.new_ticket()
        response = self.call('POST', '/uploads', 'sales', json={
                'ticket': ticket['id'], 'size': 3 * 1024 ** 3,
                'sha256': '0' * 64, 'content_type': 'video/mp4'})
        self.assertError(response, 413, 'too_large')

    def test_not_a_video(self):
        "Content that is not a video container is refused and not stored"
        ticket = self.new_ticket()
        data = b'\x89PNG\r\n\x1a\n' + os.urandom(2000)
        upload = self.start_upload(ticket, data).json()
        self.assertError(self.put(upload['id'], data, 0), 415, 'not_video')
        state = self.call('GET', f"/uploads/{upload['id']}", 'sales').json()
        self.assertEqual(state['received'], [])

    def test_chunk_past_the_end(self):
        "A chunk beyond the announced size is refused"
        ticket = self.new_ticket()
        data = fake_video(2000)
        upload = self.start_upload(ticket, data).json()
        self.assertError(self.put(upload['id'], data[:1000], 1500),
            416, 'chunk_out_of_range')
        state = self.call('GET', f"/uploads/{upload['id']}", 'sales').json()
        self.assertEqual(state['received'], [])
