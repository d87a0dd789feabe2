# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Fixtures shared by the tests of the dualrec modules (inside a
``with_transaction`` test)."""
import os
import re
from contextlib import contextmanager
from pathlib import Path

from lxml import etree

from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

# A key for tests only: personal data needs one (see configuration.py).
TEST_PII_KEY = '5eed' * 16
os.environ.setdefault('DUALREC_PII_KEY', TEST_PII_KEY)
TEST_MEDIA_KEYS = 'ktest:' + 'a11e' * 16
os.environ.setdefault('DUALREC_MEDIA_KEYS', TEST_MEDIA_KEYS)
if not os.environ.get('DUALREC_EVIDENCE_KEY_FILE'):
    os.environ.setdefault('DUALREC_EVIDENCE_KEY', 'dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=')

# code, level, parent code: one province, two cities, an outlet in each city
# and a second province with one outlet.
TREE = [
    ('P1', 'province', None),
    ('P1-C1', 'city', 'P1'),
    ('P1-C2', 'city', 'P1'),
    ('P1-C1-O1', 'outlet', 'P1-C1'),
    ('P1-C1-O2', 'outlet', 'P1-C1'),
    ('P1-C2-O1', 'outlet', 'P1-C2'),
    ('P2', 'province', None),
    ('P2-O1', 'outlet', 'P2'),
    ]


def create_branches(company, tree=TREE):
    "Create the branches of tree and return them by code."
    Branch = Pool().get('dualrec.branch')
    branches = {}
    for code, level, parent in tree:
        branch = Branch(
            name=f"Branch {code}", code=code, level=level, company=company,
            parent=branches[parent] if parent else None)
        branch.save()
        branches[code] = branch
    return branches


def create_user(login, company, role=None, branch=None, number=None):
    "Create a user of company holding the role (an xml id of dualrec_core)."
    pool = Pool()
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    user = User(login=login, name=login.title(), branch=branch,
        employee_number=number, companies=[company], company=company)
    if role:
        user.groups = [ModelData.get_id('dualrec_core', role)]
    user.save()
    return user


@contextmanager
def as_user(user):
    "Run as user with access rights and record rules checked, as over RPC."
    User = Pool().get('res.user')
    transaction = Transaction()
    with transaction.set_user(user.id), transaction.set_context(
            _check_access=True):
        with transaction.set_context(User.get_preferences(context_only=True)):
            yield


def valid_resident_id(region='110105', birth='19491231', sequence='002'):
    "Return a resident ID number with its GB 11643 check character."
    from dualrec.pii import check_char
    body = region + birth + sequence
    return body + check_char(body)


def create_product(company, code='P', type_='product_type_life',
        period_class='long', channel='bank', script_nodes=2):
    "Create a product with a script of script_nodes nodes of 5 s."
    pool = Pool()
    Product = pool.get('dualrec.product')
    Script = pool.get('dualrec.script')
    ModelData = pool.get('ir.model.data')
    product, = Product.create([{
                'code': code, 'name': f"Product {code}",
                'company': company.id,
                'type_': ModelData.get_id('dualrec_core', type_),
                'period_class': period_class, 'channel': channel}])
    if script_nodes:
        Script.create([{
                    'product': product.id, 'name': "Script",
                    'nodes': [('create', [{
                                    'name': f"Node {i}", 'kind': 'other',
                                    'text': f"Text {i}", 'min_seconds': 5,
                                    } for i in range(script_nodes)])],
                    }])
    return product


def _sao_widgets():
    """The widget names sao draws, per view type, read from the sao the
    project installs (package.json): a view using anything else leaves the
    web client stuck on "processing"."""
    for parent in Path(__file__).resolve().parents:
        dist = parent / 'node_modules' / 'tryton-sao' / 'dist' / 'tryton-sao.js'
        if dist.exists():
            break
    else:
        return None
    source = dist.read_text()
    widgets = {}
    for view_type, parser in [('tree', 'Tree'), ('form', 'Form')]:
        block = re.search(r'Sao\.View\.%sXMLViewParser\.WIDGETS = \{(.*?)\};'
            % parser, source, re.S).group(1)
        widgets[view_type] = set(re.findall(r"'(\w+)':", block))
    return widgets


class SaoViewsMixin:
    "Check that every view of the module can be drawn by sao"

    @with_transaction()
    def test_views_drawable_by_sao(self):
        "Every field of the module's views has a widget sao draws"
        widgets = _sao_widgets()
        if widgets is None:
            self.skipTest("sao is not installed (npm ci)")
        pool = Pool()
        View = pool.get('ir.ui.view')
        for view in View.search([
                    ('module', '=', self.module),
                    ('type', 'in', list(widgets)),
                    ]):
            Model = pool.get(view.model)
            result = Model.fields_view_get(view_id=view.id)
            for node in etree.fromstring(result['arch']).iter('field'):
                name = node.get('name')
                widget = node.get('widget') or result['fields'][name]['type']
                with self.subTest(view=view.name, field=name):
                    self.assertIn(widget, widgets[view.type])
