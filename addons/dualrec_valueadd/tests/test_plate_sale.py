# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Plates assigned to agents and returned, bought by insurers, bound."""
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import set_company
from trytond.modules.dualrec_core.tests.tools import as_user, create_user
from trytond.modules.dualrec_orders.tests.tools import add_group, create_party
from trytond.modules.dualrec_valueadd.exceptions import PlateRefusal
from trytond.pool import Pool
from trytond.tests.test_tryton import _DBTestCase, with_transaction
from trytond.transaction import Transaction

from .test_plate import set_up_plates


def partner_user(login, company, party, group):
    "Create a user of the API acting for party, holding group."
    PartnerUser = Pool().get('dualrec.valueadd.user')
    user = create_user(login, company)
    add_group(user, group, module='dualrec_valueadd')
    PartnerUser.create([{'user': user.id, 'party': party.id}])
    return user


def set_up_sales():
    "Return the plate tests' set-up with a produced batch of 20 plates."
    Batch = Pool().get('dualrec.plate.batch')
    company, other, users, product = set_up_plates()
    parties = {
        'wang': create_party("王业务员"),
        'li': create_party("李业务员"),
        'pingan': create_party("示范财险"),
        'taiping': create_party("另一财险"),
        }
    users['wang'] = partner_user('wang', company, parties['wang'],
        'group_plate_agent')
    users['li'] = partner_user('li', company, parties['li'],
        'group_plate_agent')
    users['pingan'] = partner_user('pingan', company, parties['pingan'],
        'group_valueadd_issuer')
    with set_company(company), as_user(users['plate']):
        batch = Batch(product=product, prefix='NC', year=2026, first=1,
            last=20)
        batch.save()
        Batch.produce([batch])
    return company, users, parties, product


def assign(agent, kind='assign', first=None, last=None, quantity=None):
    Assignment = Pool().get('dualrec.plate.assignment')
    assignment = Assignment(kind=kind, agent=agent, first_serial=first,
        last_serial=last, quantity=quantity)
    assignment.save()
    Assignment.do([assignment])
    return assignment


def states(serials=None):
    Plate = Pool().get('dualrec.plate')
    domain = [('serial', 'in', serials)] if serials else []
    return {p.serial: (p.state, p.agent and p.agent.name,
            p.insurer and p.insurer.name) for p in Plate.search(domain)}


class PlateSaleTestCase(_DBTestCase):
    "Test the assignments and purchases of plates"
    module = 'dualrec_valueadd'

    @with_transaction()
    def test_assign_and_return(self):
        "Plates go to agents by range or count and come back"
        company, users, parties, _ = set_up_sales()
        wang, li = parties['wang'], parties['li']
        with set_company(company), as_user(users['plate']):
            first = assign(wang, first='nc2026000001', last='NC2026000005')
            self.assertEqual((first.state, first.plate_count,
                    first.quantity), ('done', 5, 5))
            # by count: the lowest serials in stock
            second = assign(li, quantity=3)
            self.assertEqual([p.serial for p in second.plates],
                ['NC2026000006', 'NC2026000007', 'NC2026000008'])
            now = states()
            self.assertEqual(now['NC2026000005'], ('assigned', "王业务员", None))
            self.assertEqual(now['NC2026000008'], ('assigned', "李业务员", None))
            self.assertEqual(now['NC2026000009'], ('in_stock', None, None))

            # a plate assigned already cannot be assigned again
            with self.assertRaises(UserError) as cm:
                assign(li, first='NC2026000004', last='NC2026000010')
            self.assertIn('NC2026000004', cm.exception.message)
            # nor can more plates than are left in stock
            with self.assertRaises(UserError):
                assign(li, quantity=50)
            # an agent returns only their own plates
            with self.assertRaises(UserError):
                assign(li, kind='return', first='NC2026000001')
            back = assign(wang, kind='return', quantity=2)
            self.assertEqual([p.serial for p in back.plates],
                ['NC2026000001', 'NC2026000002'])
            self.assertEqual(states(['NC2026000001'])['NC2026000001'],
                ('in_stock', None, None))
            # done moves are kept
            Assignment = Pool().get('dualrec.plate.assignment')
            with self.assertRaises(AccessError):
                Assignment.delete([first])

    @with_transaction()
    def test_purchases(self):
        "A purchase sells plates; in separate mode it makes its order"
        pool = Pool()
        Purchase = pool.get('dualrec.plate.purchase')
        company, users, parties, product = set_up_sales()
        wang = parties['wang']
        with set_company(company), as_user(users['plate']):
            assign(wang, first='NC2026000001', last='NC2026000010')
            separate = Purchase(insurer=parties['pingan'], agent=wang,
                quantity=4, unit_price=Decimal('9.90'),
                tax_rate=Decimal('0.13'), mode='separate')
            separate.save()
            self.assertTrue(separate.number.startswith('NCP'))
            self.assertEqual(separate.amount, Decimal('39.60'))
            Purchase.confirm([separate])
            self.assertEqual(len(separate.plates), 4)
            order = separate.order
            self.assertEqual((order.type_.code, order.direction,
                    order.counterparty, order.state),
                ('plate', 'receivable', parties['pingan'], 'confirmed'))
            self.assertEqual(order.total_amount, Decimal('39.60'))
            line, = order.lines
            self.assertEqual((line.product, line.quantity),
                (product, Decimal(4)))
            self.assertEqual(states(['NC2026000004'])['NC2026000004'],
                ('sold', "王业务员", "示范财险"))

            # merged: sold now, settled with the calls of its period
            merged = Purchase(insurer=parties['taiping'],
                first_serial='NC2026000011', last_serial='NC2026000015',
                unit_price=Decimal('8.00'), tax_rate=Decimal('0.13'),
                mode='merged')
            merged.save()
            Purchase.confirm([merged])
            self.assertEqual((merged.quantity, merged.order),
                (5, None))
            self.assertEqual(states(['NC2026000011'])['NC2026000011'],
                ('sold', None, "另一财险"))

            # sold plates cannot be sold again, nor returned
            again = Purchase(insurer=parties['taiping'],
                first_serial='NC2026000001', unit_price=Decimal('8.00'),
                tax_rate=Decimal('0.13'))
            again.save()
            with self.assertRaises(UserError):
                Purchase.confirm([again])
            with self.assertRaises(UserError):
                assign(wang, kind='return', first='NC2026000001')
            with self.assertRaises(UserError):
                Purchase(insurer=parties['taiping'], quantity=1,
                    unit_price=Decimal('8.00'),
                    tax_rate=Decimal('0.07')).save()

    @with_transaction()
    def test_bind_and_access(self):
        """Sold plates are bound and rebound, each time logged; agents and
        insurers see their plates only"""
        pool = Pool()
        Plate = pool.get('dualrec.plate')
        Binding = pool.get('dualrec.plate.binding')
        Purchase = pool.get('dualrec.plate.purchase')
        Assignment = pool.get('dualrec.plate.assignment')
        company, users, parties, _ = set_up_sales()
        with set_company(company), as_user(users['plate']):
            assign(parties['wang'], first='NC2026000001', last='NC2026000004')
            assign(parties['li'], first='NC2026000005', last='NC2026000006')
            purchase = Purchase(insurer=parties['pingan'], agent=parties['wang'],
                quantity=2, unit_price=Decimal('9.90'),
                tax_rate=Decimal('0.13'))
            purchase.save()
            Purchase.confirm([purchase])
        with set_company(company):
            plate = Plate.find_serial('NC2026000001')
            unsold = Plate.find_serial('NC2026000003')
            for args, code in [
                    ((unsold, '粤B12345', '13800138000'), 'state_assigned'),
                    ((plate, 'not a plate', '13800138000'),
                        'bad_vehicle_plate'),
                    ((plate, '粤B12345', '12345'), 'bad_phone'),
                    ]:
                with self.subTest(code=code), \
                        self.assertRaises(PlateRefusal) as cm:
                    args[0].bind(*args[1:], 'agent')
                self.assertEqual(cm.exception.code, code)
            self.assertTrue(plate.bind('粤b12345', '13800138000', 'agent'))
            self.assertFalse(plate.bind('粤B12345', '13800138000', 'agent'))
            plate = Plate(plate.id)
            self.assertEqual((plate.state, plate.vehicle_plate, plate.phone),
                ('bound', '粤B12345', '138****8000'))
            self.assertNotIn('13800138000', plate.phone_encrypted)
            self.assertTrue(plate.matches_phone('13800138000'))
            self.assertEqual(plate.owner_phone(), '13800138000')
            plate.bind('粤B54321', '13900139000', 'owner')
            plate.unbind('staff')
            self.assertEqual([(b.action, b.channel, b.phone)
                    for b in Binding.search([('plate', '=', plate.id)],
                        order=[('id', 'ASC')])],
                [('bind', 'agent', '138****8000'),
                    ('rebind', 'owner', '139****9000'),
                    ('unbind', 'staff', '139****9000')])
            self.assertEqual(Plate(plate.id).state, 'sold')
            plate.bind('粤B12345', '13800138000', 'agent')

        with set_company(company), as_user(users['wang']):
            mine = Plate.search([])
            self.assertEqual(len(mine), 4)
            self.assertEqual({p.agent for p in mine}, {parties['wang']})
            self.assertEqual(len(Binding.search([])), 4)
            self.assertEqual(len(Assignment.search([])), 1)
            with self.assertRaises(AccessError):
                Purchase.search([])
            with self.assertRaises(AccessError):
                Assignment.create([{'agent': parties['wang'].id,
                            'quantity': 1}])
        with set_company(company), as_user(users['li']):
            self.assertEqual(
                [p.serial for p in Plate.search([])],
                ['NC2026000005', 'NC2026000006'])
            self.assertEqual(Binding.search([]), [])
            # a plate of another agent is out of reach
            with self.assertRaises(AccessError):
                Plate.read([plate.id], ['serial'])
        with set_company(company), as_user(users['pingan']):
            self.assertEqual(
                [p.serial for p in Plate.search([])],
                ['NC2026000001', 'NC2026000002'])
            self.assertEqual(Purchase.search([]), [purchase])
            with self.assertRaises(UserError):
                Purchase.confirm([purchase])
        with set_company(company), as_user(users['sales']):
            with self.assertRaises(AccessError):
                Purchase.search([])
            with self.assertRaises(AccessError):
                Binding.search([])

        # the figures: plates per agent and insurer, the binding rate
        Figure = pool.get('dualrec.plate.figure')
        with set_company(company), as_user(users['finance']):
            rows = {(f.agent and f.agent.name, f.insurer and f.insurer.name):
                (f.plates, f.in_stock, f.assigned, f.sold, f.bound,
                    f.binding_rate) for f in Figure.search([])}
        self.assertEqual(rows, {
                (None, None): (14, 14, 0, 0, 0, None),
                ("王业务员", None): (2, 0, 2, 0, 0, None),
                ("王业务员", "示范财险"): (2, 0, 0, 1, 1, 50.0),
                ("李业务员", None): (2, 0, 2, 0, 0, None),
                })
        with set_company(company), \
                Transaction().set_context(agent=parties['li'].id), \
                as_user(users['finance']):
            self.assertEqual(len(Figure.search([])), 1)
        with set_company(company), as_user(users['sales']):
            with self.assertRaises(AccessError):
                Figure.search([])
