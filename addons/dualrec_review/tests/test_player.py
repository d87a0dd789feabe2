# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import inspect
import unittest

from werkzeug.test import EnvironBuilder

from trytond.modules.company.tests import create_company, set_company
from trytond.modules.dualrec_core.tests.tools import (
    as_user, create_branches, create_product, create_user,
    valid_resident_id)
from trytond.modules.dualrec_review import player
from trytond.modules.dualrec_review.player import measure, node_offsets
from trytond.pool import Pool
from trytond.protocols.wrappers import Request
from trytond.tests.test_tryton import _DBTestCase, with_transaction
from trytond.transaction import Transaction


class PlayerTestCase(unittest.TestCase):
    "Test what the review player shows beside the recording"

    def test_node_offsets(self):
        "Nodes are placed from the first start; unstarted ones are left out"
        start = dt.datetime(2026, 12, 2, 9, 0, 0)
        timeline = [
            {'name': "Consent", 'started_at': start + dt.timedelta(
                    seconds=2.5),
                'confirmed_at': start + dt.timedelta(seconds=9)},
            {'name': "Opening", 'started_at': start, 'confirmed_at': None},
            {'name': "Never shown", 'started_at': None,
                'confirmed_at': None},
            ]
        self.assertEqual(node_offsets(timeline), [
                ("Consent", 2.5, 9.0), ("Opening", 0.0, None)])
        self.assertEqual(node_offsets([]), [])

    def test_measure(self):
        "Ratios read as percentages, counts bare, other units kept"
        self.assertEqual(measure(0.3, 'ratio'), '30 %')
        self.assertEqual(measure(0.0, 'ratio'), '0 %')
        self.assertEqual(measure(2.0, 'count'), '2')
        self.assertEqual(measure(14.0, 's'), '14 s')
        self.assertEqual(measure(-23.5, 'LUFS'), '-23.5 LUFS')
        self.assertEqual(measure(None, 's'), '')
        self.assertEqual(measure(3.0, None), '3')


class PlayerRouteTestCase(_DBTestCase):
    "Test the review player page and its signed link"
    module = 'dualrec_review'

    def test_no_core_import(self):
        "The player meets dualrec_core through the Pool, not by import"
        self.assertNotIn('modules.dualrec_core', inspect.getsource(player))

    def _page(self, token, cookie=None):
        environ = EnvironBuilder(path='/player',
            environ_base={'REMOTE_ADDR': '127.0.0.1'}).get_environ()
        if cookie:
            environ['HTTP_COOKIE'] = f'tryton_session={cookie}'
        route = player.player.__wrapped__.__wrapped__
        return route(Request(environ), Pool(), token)

    @with_transaction()
    def test_player_link_dies_with_session(self):
        "The player page opens with its user's session, not after logout"
        pool = Pool()
        Ticket = pool.get('dualrec.ticket')
        Recording = pool.get('dualrec.recording')
        Session = pool.get('ir.session')
        company = create_company()
        branches = create_branches(company)
        sales = create_user('plsales', company, 'group_dualrec_sales',
            branches['P1-C1-O1'], 'S1')
        product = create_product(company)
        with set_company(company):
            with as_user(sales):
                ticket, = Ticket.create([{
                            'task_number': 'T-1', 'product': product.id,
                            'policyholder_name': "张三",
                            'id_type': 'resident_id',
                            'id_number': valid_resident_id(),
                            'phone': '138 1234 5678'}])
            recording, = Recording.create([{
                        'ticket': ticket.id, 'status': 'ready'}])
            transaction = Transaction()
            with transaction.set_user(sales.id), transaction.set_context(
                    _request={'remote_addr': '127.0.0.1'}):
                key = Session.new()
            cookie = f'{sales.login}:{sales.id}:{key}'
            with as_user(sales):
                action = Recording.review_play([Recording(recording.id)])
            token = action['url'].rsplit('/', 1)[1]
            response = self._page(token, cookie)
            self.assertEqual(response.status_code, 200)
            self.assertIn(f'/dualrec/media/{token}',
                response.get_data(as_text=True))
            self.assertEqual(self._page(token).status_code, 401)
            Session.remove(key)
            response = self._page(token, cookie)
            self.assertEqual(response.status_code, 401)
            self.assertEqual(response.get_json()['code'], 'unauthorized')
