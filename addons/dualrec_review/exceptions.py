# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError


class ReviewError(UserError):
    pass


class QCError(UserError):
    pass


class QCRuleError(ValidationError):
    pass
