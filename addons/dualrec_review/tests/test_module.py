# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.

from trytond.modules.dualrec_core.tests.tools import SaoViewsMixin
from trytond.tests.test_tryton import ModuleTestCase


class DualrecReviewTestCase(SaoViewsMixin, ModuleTestCase):
    "Test Review module"
    module = 'dualrec_review'


del ModuleTestCase
