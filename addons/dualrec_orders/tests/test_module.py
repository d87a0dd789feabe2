# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.

from trytond.modules.dualrec_core.tests.tools import SaoViewsMixin
from trytond.tests.test_tryton import ModuleTestCase


class DualrecOrdersTestCase(SaoViewsMixin, ModuleTestCase):
    "Test Orders module"
    module = 'dualrec_orders'


del ModuleTestCase
