# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.exceptions import UserError


class StatementError(UserError):
    "A statement cannot be built or moved on as asked."


class PaymentFileError(UserError):
    "A payment group whose bank payment file cannot be produced."
