# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.model.exceptions import (
    AccessError, SQLConstraintError)
from trytond.modules.company.tests import (
    CompanyTestMixin, create_company, set_company)
from trytond.modules.dualrec_core.exceptions import (
    AuditError, BranchDeleteError, BranchError, ProductError, ScriptFrozenError)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction

from .tools import SaoViewsMixin, as_user, create_branches, create_user

ROLES = ['admin', 'sales', 'reviewer', 'qc', 'manager', 'finance']
# What each role may do on each model: r(ead) w(rite) c(reate) d(elete).
PERMISSIONS = {
    'admin': {'branch': 'rwcd', 'user': 'rwc', 'product': 'rwcd',
        'script': 'rwcd'},
    'sales': {'branch': 'r', 'user': 'r', 'product': 'r', 'script': 'r'},
    'reviewer': {'branch': 'r', 'user': 'r', 'product': 'r', 'script': 'r'},
    'qc': {'branch': 'r', 'user': 'r', 'product': 'r', 'script': 'r'},
    'manager': {'branch': 'r', 'user': 'r', 'product': 'r', 'script': 'r'},
    'finance': {'branch': 'r', 'user': 'r', 'product': 'r', 'script': ''},
    }


class DualrecCoreTestCase(
        SaoViewsMixin, CompanyTestMixin, ModuleTestCase):
    "Test Dual Recording Core module"
    module = 'dualrec_core'

    def _product(self, company, code='P', type_='product_type_life',
            period_class='long', channel='bank', **values):
        pool = Pool()
        Product = pool.get('dualrec.product')
        ModelData = pool.get('ir.model.data')
        product, = Product.create([{
                    'code': code, 'name': f"Product {code}",
                    'company': company.id,
                    'type_': ModelData.get_id('dualrec_core', type_),
                    'period_class': period_class, 'channel': channel,
                    **values}])
        return product

    def _script(self, product, nodes=2):
        Script = Pool().get('dualrec.script')
        script, = Script.create([{
                    'product': product.id, 'name': "Script",
                    'nodes': [('create', [{
                                    'name': f"Node {i}", 'kind': 'other',
                                    'text': f"Text {i}", 'min_seconds': 5,
                                    } for i in range(nodes)])],
                    }])
        return script

    @with_transaction()
    def test_branch_level(self):
        "A branch sits strictly below its parent and only provinces are roots"
        Branch = Pool().get('dualrec.branch')
        company = create_company()
        with set_company(company):
            branches = create_branches(company)
            for code, level, parent in [
                    ('X1', 'city', None),
                    ('X2', 'province', 'P1'),
                    ('X3', 'city', 'P1-C1'),
                    ('X4', 'outlet', 'P1-C1-O1'),
                    ]:
                with self.subTest(code=code), self.assertRaises(BranchError):
                    Branch.create([{'name': code, 'code': code,
                                'level': level, 'company': company.id,
                                'parent': branches[parent].id
                                if parent else None}])
            outlet, = Branch.create([{'name': "Direct outlet", 'code': 'X5',
                        'level': 'outlet', 'company': company.id,
                        'parent': branches['P2'].id}])
            self.assertEqual(outlet.rec_name,
                "[X5] Branch P2 / Direct outlet")

    @with_transaction()
    def test_branch_code_unique(self):
        "The code of a branch is unique within its company"
        Branch = Pool().get('dualrec.branch')
        company = create_company()
        with set_company(company):
            create_branches(company)
            with self.assertRaises(SQLConstraintError):
                Branch.create([{'name': "Again", 'code': 'P1',
                            'level': 'province', 'company': company.id}])

    @with_transaction()
    def test_branch_delete_refused_with_users(self):
        "A branch that still has users cannot be deleted"
        Branch = Pool().get('dualrec.branch')
        User = Pool().get('res.user')
        company = create_company()
        with set_company(company):
            branches = create_branches(company)
            user = create_user('clerk', company, branch=branches['P2-O1'])
            User.write([user], {'active': False})
            with self.assertRaisesRegex(BranchDeleteError, 'Clerk'):
                Branch.delete([branches['P2-O1']])
            self.assertTrue(Branch.search([('code', '=', 'P2-O1')]))

    @with_transaction()
    def test_branch_delete_refused_with_children(self):
        "A branch that still has sub-branches cannot be deleted alone"
        Branch = Pool().get('dualrec.branch')
        company = create_company()
        with set_company(company):
            branches = create_branches(company)
            with self.assertRaises(BranchDeleteError):
                Branch.delete([branches['P2']])
            Branch.delete([branches['P2'], branches['P2-O1']])
            self.assertFalse(Branch.search([('code', 'in', ['P2', 'P2-O1'])]))

    @with_transaction()
    def test_employee_number_unique(self):
        "Two users cannot share an employee number"
        company = create_company()
        with set_company(company):
            create_user('one', company, number='E1')
            with self.assertRaises(SQLConstraintError):
                create_user('two', company, number='E1')

    @with_transaction()
    def test_product_mandatory_default(self):
        "New products get the No. 54 recording flag by default"
        company = create_company()
        with set_company(company):
            for code, type_, period, channel, expected in [
                    ('A', 'product_type_life', 'long', 'bank', True),
                    ('B', 'product_type_life', 'long', 'direct', False),
                    ('C', 'product_type_life', 'short', 'bank', False),
                    ('D', 'product_type_investment_linked', 'short',
                        'phone', True),
                    ('E', 'product_type_auto', 'long', 'bank', False),
                    ]:
                with self.subTest(code=code):
                    product = self._product(company, code, type_, period,
                        channel)
                    self.assertEqual(product.recording_mandatory, expected)

    @with_transaction()
    def test_product_mandatory_cannot_be_lifted(self):
        "A product No. 54 requires to record cannot be made optional"
        Product = Pool().get('dualrec.product')
        company = create_company()
        with set_company(company):
            product = self._product(company)
            with self.assertRaises(ProductError):
                Product.write([product], {'recording_mandatory': False})
            optional = self._product(company, 'O', channel='agency')
            Product.write([optional], {'recording_mandatory': True})
            self.assertTrue(optional.recording_mandatory)

    @with_transaction()
    def test_product_on_change_sets_mandatory(self):
        "Changing the channel in the form resets the recording flag"
        pool = Pool()
        Product = pool.get('dualrec.product')
        ModelData = pool.get('ir.model.data')
        product = Product(period_class='long', channel='agency',
            type_=ModelData.get_id('dualrec_core', 'product_type_life'))
        product.on_change_type_()
        self.assertFalse(product.recording_mandatory)
        product.channel = 'bank'
        product.on_change_channel()
        self.assertTrue(product.recording_mandatory)

    @with_transaction()
    def test_script_versions(self):
        "Scripts of a product are numbered and the latest is current"
        company = create_company()
        with set_company(company):
            product = self._product(company)
            first = self._script(product)
            second = self._script(product, nodes=3)
            self.assertEqual((first.version, second.version), (1, 2))
            self.assertEqual(product.current_script, second)
            self.assertEqual(second.minimum_duration, 15)

    @with_transaction()
    def test_script_frozen(self):
        "A frozen script and its nodes cannot change; a new version can"
        pool = Pool()
        Script = pool.get('dualrec.script')
        Node = pool.get('dualrec.script.node')
        company = create_company()
        with set_company(company):
            product = self._product(company)
            script = self._script(product)
            Script.freeze([script])
            node = script.nodes[0]
            for label, action in [
                    ('rename', lambda: Script.write(
                            [script], {'name': "Changed"})),
                    ('unfreeze', lambda: Script.write(
                            [script], {'frozen': False})),
                    ('delete', lambda: Script.delete([script])),
                    ('node text', lambda: Node.write(
                            [node], {'text': "Changed"})),
                    ('node delete', lambda: Node.delete([node])),
                    ('node add', lambda: Node.create([{
                                    'script': script.id, 'name': "New",
                                    'text': "New"}])),
                    ]:
                with self.subTest(action=label), \
                        self.assertRaises(ScriptFrozenError):
                    action()
            new, = Script.new_version([script])
            self.assertEqual(new.version, 2)
            self.assertFalse(new.frozen)
            self.assertEqual([n.text for n in new.nodes],
                [n.text for n in script.nodes])
            Node.write(list(new.nodes), {'text': "Reworded"})
            self.assertEqual(Script(script.id).nodes[0].text, "Text 0")

    def _role_users(self, company, branches):
        return {role: create_user(f'role_{role}', company,
                role=f'group_dualrec_{role}', branch=branches['P1-C1'],
                number=f'N-{role}')
            for role in ROLES}

    @with_transaction()
    def test_role_menus(self):
        "Tryton's party menu is hidden from the roles that sell and check"
        pool = Pool()
        Menu = pool.get('ir.ui.menu')
        ModelData = pool.get('ir.model.data')
        party = ModelData.get_id('party', 'menu_party')
        core = ModelData.get_id('dualrec_core', 'menu_dualrec')
        expected = {
            'admin': {party, core},
            'sales': {core},
            'reviewer': {core},
            'qc': {core},
            'manager': {party, core},
            'finance': {party, core},
            }
        company = create_company()
        with set_company(company):
            branches = create_branches(company)
            users = self._role_users(company, branches)
            for role, menus in expected.items():
                with self.subTest(role=role), as_user(users[role]):
                    visible = {m.id for m in Menu.search(
                            [('parent', '=', None)])}
                    self.assertEqual(
                        visible & {party, core}, menus)

    @with_transaction()
    def test_role_permissions(self):
        "Each role may do what it needs on the core models and nothing more"
        pool = Pool()
        Branch = pool.get('dualrec.branch')
        User = pool.get('res.user')
        Product = pool.get('dualrec.product')
        Script = pool.get('dualrec.script')
        company = create_company()
        with set_company(company):
            branches = create_branches(company)
            users = self._role_users(company, branches)
            product = self._product(company)
            script = self._script(product)

            def attempts(role):
                user = users[role]
                n = len(attempts.calls)
                attempts.calls.append(role)
                return {
                    'branch': {
                        'r': lambda: Branch.read(
                            [branches['P1-C1'].id], ['name']),
                        'w': lambda: Branch.write(
                            [Branch(branches['P1-C1'].id)],
                            {'name': 'Renamed'}),
                        'c': lambda: Branch.create([{'name': 'New',
                                    'code': f'NEW{n}', 'level': 'outlet',
                                    'parent': branches['P1-C1'].id,
                                    'company': company.id}]),
                        'd': lambda: Branch.delete(
                            [Branch(branches['P1-C1-O2'].id)]),
                        },
                    'user': {
                        'r': lambda: User.read([user.id], ['name']),
                        'w': lambda: User.write(
                            [User(users['finance'].id)], {'name': 'X'}),
                        'c': lambda: User.create([{
                                    'login': f'new{n}', 'name': 'New'}]),
                        # Tryton never deletes users: they are deactivated
                        },
                    'product': {
                        'r': lambda: Product.read([product.id], ['name']),
                        'w': lambda: Product.write(
                            [Product(product.id)], {'name': 'Renamed'}),
                        'c': lambda: Product.create([{
                                    'code': f'NEW{n}', 'name': 'New',
                                    'company': company.id,
                                    'type_': product.type_.id,
                                    'period_class': 'short',
                                    'channel': 'direct'}]),
                        'd': lambda: Product.delete([Product(product.id)]),
                        },
                    'script': {
                        'r': lambda: Script.read([script.id], ['name']),
                        'w': lambda: Script.write(
                            [Script(script.id)], {'name': 'Renamed'}),
                        'c': lambda: Script.create([{
                                    'product': product.id, 'name': 'New'}]),
                        'd': lambda: Script.delete([Script(script.id)]),
                        },
                    }
            attempts.calls = []

            for role in ROLES:
                for model, actions in attempts(role).items():
                    allowed = PERMISSIONS[role][model]
                    # delete last: it removes the record the others use
                    for perm in actions:
                        with self.subTest(role=role, model=model, perm=perm):
                            with as_user(users[role]):
                                if perm in allowed:
                                    if perm == 'd':
                                        # keep the fixture for later roles
                                        continue
                                    actions[perm]()
                                else:
                                    with self.assertRaises(AccessError):
                                        actions[perm]()
            # the allowed deletes, checked once the other checks are done
            with as_user(users['admin']):
                Branch.delete([Branch(branches['P1-C1-O2'].id)])
                Script.delete(Script.search([('product', '=', product.id)]))
                Product.delete([Product(product.id)])
            self.assertFalse(Branch.search([('code', '=', 'P1-C1-O2')]))
            self.assertFalse(Product.search([('id', '=', product.id)]))

    @with_transaction()
    def test_admin_manages_users(self):
        "The system administrator creates users, assigns roles, deactivates"
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        company = create_company()
        with set_company(company):
            branches = create_branches(company)
            admin = create_user('sysadmin', company,
                role='group_dualrec_admin')
            sales_group = ModelData.get_id(
                'dualrec_core', 'group_dualrec_sales')
            with as_user(admin):
                user, = User.create([{'login': 'newsales', 'name': "New",
                            'branch': branches['P2-O1'].id,
                            'employee_number': 'E9',
                            'companies': [('add', [company.id])],
                            'groups': [('add', [sales_group])]}])
                User.write([user], {'active': False})
            user = User(user.id)
            self.assertFalse(user.active)
            self.assertIn(sales_group, [g.id for g in user.groups])

    @with_transaction()
    def test_branch_rules(self):
        "Users see their branch, its sub-branches and its parents only"
        Branch = Pool().get('dualrec.branch')
        company = create_company()
        with set_company(company):
            branches = create_branches(company)
            city = create_user('city', company, role='group_dualrec_manager',
                branch=branches['P1-C1'])
            outlet = create_user('outlet', company,
                role='group_dualrec_sales', branch=branches['P1-C1-O1'])
            admin = create_user('sysadmin', company,
                role='group_dualrec_admin')
            for user, expected in [
                    (city, {'P1', 'P1-C1', 'P1-C1-O1', 'P1-C1-O2'}),
                    (outlet, {'P1', 'P1-C1', 'P1-C1-O1'}),
                    (admin, {code for code in branches}),
                    ]:
                with self.subTest(user=user.login), as_user(user):
                    self.assertEqual(
                        {b.code for b in Branch.search([])}, expected)
            with as_user(outlet), self.assertRaises(AccessError):
                Branch.read([branches['P1-C1-O2'].id], ['name'])

    @with_transaction()
    def test_user_rules(self):
        "Outlet users cannot read other outlets' users; a city reads its own"
        User = Pool().get('res.user')
        company = create_company()
        with set_company(company):
            branches = create_branches(company)
            sales_a = create_user('sales_a', company,
                role='group_dualrec_sales', branch=branches['P1-C1-O1'])
            sales_b = create_user('sales_b', company,
                role='group_dualrec_sales', branch=branches['P1-C1-O2'])
            reviewer_a = create_user('reviewer_a', company,
                role='group_dualrec_reviewer', branch=branches['P1-C1-O1'])
            other = create_user('other', company,
                role='group_dualrec_sales', branch=branches['P1-C2-O1'])
            city = create_user('city', company,
                role='group_dualrec_manager', branch=branches['P1-C1'])

            with as_user(sales_a):
                self.assertEqual(
                    [u.login for u in User.search([])], ['sales_a'])
                with self.assertRaises(AccessError):
                    User.read([sales_b.id], ['name'])
            with as_user(reviewer_a):
                self.assertEqual(
                    {u.login for u in User.search([])},
                    {'sales_a', 'reviewer_a'})
                with self.assertRaises(AccessError):
                    User.read([sales_b.id], ['name'])
            with as_user(city):
                self.assertEqual(
                    {u.login for u in User.search([])},
                    {'sales_a', 'sales_b', 'reviewer_a', 'city'})
                with self.assertRaises(AccessError):
                    User.read([other.id], ['name'])

    @with_transaction()
    def test_audit_logs_modifications(self):
        "Creating, changing and deleting audited records is logged"
        pool = Pool()
        Branch = pool.get('dualrec.branch')
        AuditLog = pool.get('dualrec.audit.log')
        company = create_company()
        with set_company(company):
            branches = create_branches(company)
            admin = create_user('sysadmin', company,
                role='group_dualrec_admin')
            with as_user(admin):
                branch, = Branch.create([{'name': "New", 'code': 'N1',
                            'level': 'outlet', 'company': company.id,
                            'parent': branches['P2'].id}])
                Branch.write([branch], {'name': "Renamed"})
                Branch.delete([branch])
            entries = AuditLog.search([
                    ('model', '=', 'dualrec.branch'),
                    ('record_id', '=', branch.id),
                    ], order=[('id', 'ASC')])
            self.assertEqual([e.action for e in entries],
                ['create', 'write', 'delete'])
            self.assertEqual({e.user for e in entries}, {admin})
            self.assertEqual(entries[1].field_names, 'name')
            self.assertEqual(entries[2].record_name,
                "[N1] Branch P2 / Renamed")

    @with_transaction()
    def test_audit_append_only(self):
        "Nobody can change or delete an audit entry, root included"
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        company = create_company()
        with set_company(company):
            admin = create_user('sysadmin', company,
                role='group_dualrec_admin')
            entry, = AuditLog.log('unmask', [admin])
            with self.assertRaises(AuditError):
                AuditLog.write([entry], {'record_name': "Forged"})
            with self.assertRaises(AuditError):
                AuditLog.delete([entry])
            with as_user(admin):
                with self.assertRaises(AccessError):
                    AuditLog.write([AuditLog(entry.id)], {'login': 'x'})
                with self.assertRaises(AccessError):
                    AuditLog.create([{'action': 'login'}])
                self.assertTrue(AuditLog.search([('id', '=', entry.id)]))

    @with_transaction()
    def test_audit_verify_detects_tampering(self):
        "Changing an entry in the database breaks the chain there"
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        company = create_company()
        with set_company(company):
            create_branches(company)
            count, broken = AuditLog.verify()
            self.assertGreater(count, 8)
            self.assertIsNone(broken)
            victim = AuditLog.search([('model', '=', 'dualrec.branch')],
                order=[('id', 'ASC')], limit=1)[0]
            table = AuditLog.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.update([table.record_name], ['Forged'],
                    where=table.id == victim.id))
            count, broken = AuditLog.verify()
            self.assertEqual(broken, victim)

    @with_transaction()
    def test_audit_login(self):
        "Successful and failed logins are logged with the login used"
        pool = Pool()
        User = pool.get('res.user')
        AuditLog = pool.get('dualrec.audit.log')
        company = create_company()
        with set_company(company):
            user = create_user('clerk', company)
            User.write([user], {'password': 'secret-pass-1'})
            self.assertEqual(
                User.get_login('clerk', {'password': 'secret-pass-1'}),
                user.id)
            self.assertIsNone(
                User.get_login('clerk', {'password': 'wrong-pass'}))
            entries = AuditLog.search([('login', '=', 'clerk')],
                order=[('id', 'ASC')])
            self.assertEqual([(e.action, e.user) for e in entries],
                [('login', user), ('login_failed', None)])


del ModuleTestCase
