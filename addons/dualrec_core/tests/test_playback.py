# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Signed playback links and whole-file access, called as the routes are,
inside the test transaction (the live-server test is tests/test_media_e2e)."""
import hashlib
import os
import tempfile

from werkzeug.test import EnvironBuilder

from trytond.modules.company.tests import create_company, set_company
from trytond.modules.dualrec_core import playback
from trytond.modules.dualrec_core.configuration import media_keyring
from trytond.pool import Pool
from trytond.protocols.wrappers import Request
from trytond.tests.test_tryton import _DBTestCase, with_transaction
from trytond.transaction import Transaction

from dualrec.crypto import envelope, evidence

from .tools import (
    as_user, create_branches, create_product, create_user,
    valid_resident_id)

ADDRESS = '127.0.0.1'
# over RANGE_CAP: a capped answer is visibly shorter than the file
DATA = os.urandom(playback.RANGE_CAP + 300_000)


def _raw(route):
    "The function under the with_pool and with_transaction decorators."
    return route.__wrapped__.__wrapped__


def request(path='/', headers=None, cookie=None, args=None):
    builder = EnvironBuilder(path=path, headers=headers or {},
        query_string=args, environ_base={'REMOTE_ADDR': ADDRESS})
    environ = builder.get_environ()
    if cookie:
        environ['HTTP_COOKIE'] = f'tryton_session={cookie}'
    return Request(environ)


class PlaybackTestCase(_DBTestCase):
    "Test playback links and the export right"
    module = 'dualrec_core'

    def _setup(self):
        pool = Pool()
        Configuration = pool.get('dualrec.configuration')
        Recording = pool.get('dualrec.recording')
        Ticket = pool.get('dualrec.ticket')
        ModelData = pool.get('ir.model.data')
        User = pool.get('res.user')
        company = create_company()
        branches = create_branches(company)
        sales = create_user('psales', company, 'group_dualrec_sales',
            branches['P1-C1-O1'], 'S1')
        exporter = create_user('pmanager', company, 'group_dualrec_manager',
            branches['P1'], 'M1')
        User.write([exporter], {'groups': [('add', [
                            ModelData.get_id('dualrec_core',
                                'group_dualrec_export')])]})
        product = create_product(company)
        storage = tempfile.TemporaryDirectory()
        self.addCleanup(storage.cleanup)
        configuration = Configuration(1)
        configuration.storage_path = storage.name
        configuration.save()
        plain = os.path.join(storage.name, 'plain.mp4')
        with open(plain, 'wb') as file:
            file.write(DATA)
        os.makedirs(os.path.join(storage.name, 'recordings'))
        envelope.encrypt_file(media_keyring(), plain,
            os.path.join(storage.name, 'recordings', 'r.mp4.dre'))
        os.unlink(plain)
        with set_company(company), as_user(sales):
            ticket, = Ticket.create([{
                        'task_number': 'T-1', 'product': product.id,
                        'policyholder_name': "张三",
                        'id_type': 'resident_id',
                        'id_number': valid_resident_id(),
                        'phone': '138 1234 5678'}])
        recording, = Recording.create([{
                    'ticket': ticket.id, 'status': 'ready'}])
        Recording.write([recording], {
                'compressed_path': 'recordings/r.mp4.dre',
                'compressed_sha256': hashlib.sha256(DATA).hexdigest()})
        return company, sales, exporter, Recording(recording.id)

    def _session(self, user):
        "Log user in as the web client does; return its cookie value."
        Session = Pool().get('ir.session')
        transaction = Transaction()
        with transaction.set_user(user.id), transaction.set_context(
                _request={'remote_addr': ADDRESS}):
            key = Session.new()
        return f'{user.login}:{user.id}:{key}'

    def _link(self, user, recording, mode='play', **context):
        "Click Play (or Download) as user; return the link's token."
        with as_user(user), Transaction().set_context(**context):
            action = playback.play_action(recording, mode=mode)
        return action['url'].rsplit('/', 1)[1]

    def _get(self, token, **kwargs):
        pool = Pool()
        return _raw(playback.link_media)(
            request(**kwargs), pool, token)

    @with_transaction()
    def test_link_dies_with_session(self):
        "A web client's link plays only while its session lives"
        pool = Pool()
        Session = pool.get('ir.session')
        company, sales, exporter, recording = self._setup()
        with set_company(company):
            cookie = self._session(sales)
            token = self._link(sales, recording)
            ranged = {'Range': 'bytes=0-'}
            response = self._get(token, headers=ranged, cookie=cookie)
            self.assertEqual(response.status_code, 206)
            # no session, another user's session, a forged key: refused
            self.assertEqual(self._get(token, headers=ranged).status_code,
                401)
            other = self._session(exporter)
            self.assertEqual(self._get(token, headers=ranged,
                    cookie=other).status_code, 401)
            forged = cookie.rsplit(':', 1)[0] + ':' + 'f' * 64
            self.assertEqual(self._get(token, headers=ranged,
                    cookie=forged).status_code, 401)
            # logout (sao's common.db.logout) deletes the session
            Session.remove(cookie.rsplit(':', 1)[1])
            response = self._get(token, headers=ranged, cookie=cookie)
            self.assertEqual(response.status_code, 401)
            self.assertEqual(response.get_json()['code'], 'unauthorized')
            # a tampered token (another recording) is refused too
            cookie = self._session(sales)
            parts = token.split('.')
            parts[0] = str(recording.id + 1)
            self.assertEqual(self._get('.'.join(parts), headers=ranged,
                    cookie=cookie).status_code, 401)

    @with_transaction()
    def test_link_dies_with_user(self):
        "A link of a deactivated user is refused, even with his session"
        User = Pool().get('res.user')
        company, sales, exporter, recording = self._setup()
        with set_company(company):
            cookie = self._session(sales)
            token = self._link(sales, recording)
            ranged = {'Range': 'bytes=0-99'}
            self.assertEqual(self._get(token, headers=ranged,
                    cookie=cookie).status_code, 206)
            User.write([sales], {'active': False})
            self.assertEqual(self._get(token, headers=ranged,
                    cookie=cookie).status_code, 401)

    @with_transaction()
    def test_link_dies_with_api_token(self):
        "A link made through the API lives as long as its bearer token"
        Token = Pool().get('dualrec.api.token')
        company, sales, exporter, recording = self._setup()
        with set_company(company):
            _, api_token = Token.issue(sales.id, 8)
            token = self._link(sales, recording,
                _dualrec_token=api_token.id)
            ranged = {'Range': 'bytes=0-99'}
            self.assertEqual(self._get(token, headers=ranged).status_code,
                206)
            Token.revoke([api_token])
            self.assertEqual(self._get(token, headers=ranged).status_code,
                401)

    @with_transaction()
    def test_whole_file_needs_export_right(self):
        "Without the export right: capped ranges only, no plain GET"
        company, sales, exporter, recording = self._setup()
        with set_company(company):
            cookie = self._session(sales)
            token = self._link(sales, recording)
            # a plain GET of the whole file: refused
            response = self._get(token, cookie=cookie)
            self.assertEqual(response.status_code, 403)
            self.assertEqual(response.get_json()['code'], 'range_required')
            # the player's open range: one capped piece
            response = self._get(token, cookie=cookie,
                headers={'Range': 'bytes=0-'})
            self.assertEqual(response.status_code, 206)
            self.assertEqual(response.get_data(), DATA[:playback.RANGE_CAP])
            self.assertEqual(response.headers['Content-Range'],
                f'bytes 0-{playback.RANGE_CAP - 1}/{len(DATA)}')
            response = self._get(token, cookie=cookie,
                headers={'Range': f'bytes={playback.RANGE_CAP}-'})
            self.assertEqual(response.get_data(),
                DATA[playback.RANGE_CAP:])
            # several ranges at once: refused, not a multipart whole file
            response = self._get(token, cookie=cookie,
                headers={'Range': 'bytes=0-9,20-29'})
            self.assertEqual(response.status_code, 416)
            # a download link cannot be made to work without the right
            download = self._link(sales, recording, mode='download')
            response = self._get(download, cookie=cookie,
                headers={'Range': 'bytes=0-'})
            self.assertEqual(response.status_code, 403)

            # the exporter downloads and plays the whole file
            cookie = self._session(exporter)
            download = self._link(exporter, recording, mode='download')
            response = self._get(download, cookie=cookie)
            self.assertEqual(response.status_code, 200)
            self.assertEqual(response.get_data(), DATA)
            self.assertTrue(response.headers['Content-Disposition']
                .startswith('attachment'))
            response = self._get(self._link(exporter, recording),
                cookie=cookie)
            self.assertEqual(response.status_code, 200)
            self.assertEqual(response.get_data(), DATA)

    @with_transaction()
    def test_api_media_whole_file(self):
        "The API's plain GET of the media needs the export right too"
        company, sales, exporter, recording = self._setup()
        pool = Pool()
        path = f'/recordings/{recording.id}/media'
        with set_company(company):
            with as_user(sales):
                response = playback.api_media(request(path), pool,
                    recording.id)
                self.assertEqual(response.status_code, 403)
                response = playback.api_media(request(path, args={
                            'download': '1'},
                        headers={'Range': 'bytes=0-'}), pool, recording.id)
                self.assertEqual(response.status_code, 403)
                response = playback.api_media(request(path,
                        headers={'Range': 'bytes=10-19'}), pool,
                    recording.id)
                self.assertEqual(response.status_code, 206)
                self.assertEqual(response.get_data(), DATA[10:20])
            with as_user(exporter):
                response = playback.api_media(request(path, args={
                            'download': '1'}), pool, recording.id)
                self.assertEqual(response.status_code, 200)
                self.assertEqual(response.get_data(), DATA)

    @with_transaction()
    def test_public_key_served(self):
        "The server serves the institution's public key, PEM"
        response = playback.api_evidence_public_key(request(), Pool())
        key = evidence.signing_key_from_environ()
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.get_data(), evidence.public_key_pem(key))
        self.assertEqual(response.headers['X-Dualrec-Key-Fingerprint'],
            evidence.public_key_fingerprint(key))

    @with_transaction()
    def test_playback_model(self):
        "Other addons sign and open links through dualrec.playback"
        Playback = Pool().get('dualrec.playback')
        company, sales, exporter, recording = self._setup()
        with set_company(company):
            cookie = self._session(sales)
            with as_user(sales):
                token = Playback.sign(recording)
            self.assertEqual(Playback.open(request(cookie=cookie), token),
                (recording.id, sales.id, 'play'))
            self.assertIsNone(Playback.open(request(), token))
            self.assertIsNone(Playback.open(request(cookie=cookie), token,
                    modes=['download']))

