# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.modules.company.tests import create_company, set_company
from trytond.modules.dualrec_core.tests.tools import (
    SaoViewsMixin, as_user, create_branches, create_user)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction


class DualrecFinanceTestCase(SaoViewsMixin, ModuleTestCase):
    "Test Finance module"
    module = 'dualrec_finance'

    @with_transaction()
    def test_product_menu_roles(self):
        "Tryton's product menu is kept for administrators and finance"
        pool = Pool()
        Menu = pool.get('ir.ui.menu')
        ModelData = pool.get('ir.model.data')
        product = ModelData.get_id('product', 'menu_main_product')
        company = create_company()
        with set_company(company):
            branches = create_branches(company)
            for role, visible in [('admin', True), ('finance', True),
                    ('sales', False), ('reviewer', False), ('qc', False),
                    ('manager', False)]:
                user = create_user(f'role_{role}', company,
                    role=f'group_dualrec_{role}', branch=branches['P1'],
                    number=f'N-{role}')
                with self.subTest(role=role), as_user(user):
                    menus = Menu.search([('parent', '=', None)])
                    self.assertEqual(
                        product in {m.id for m in menus}, visible)


del ModuleTestCase
