# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Fixtures shared by the tests of the dualrec modules (inside a
``with_transaction`` test)."""
import os
from contextlib import contextmanager

from trytond.pool import Pool
from trytond.transaction import Transaction

# A key for tests only: personal data needs one (see configuration.py).
TEST_PII_KEY = '5eed' * 16
os.environ.setdefault('DUALREC_PII_KEY', TEST_PII_KEY)

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
    from trytond.modules.dualrec_core.pii import check_char
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
