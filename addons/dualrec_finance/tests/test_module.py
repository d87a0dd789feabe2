# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.

from trytond.modules.dualrec_core.tests.tools import SaoViewsMixin
from trytond.tests.test_tryton import ModuleTestCase


class DualrecFinanceTestCase(SaoViewsMixin, ModuleTestCase):
    "Test Finance module"
    module = 'dualrec_finance'


del ModuleTestCase
