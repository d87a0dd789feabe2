# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.exceptions import UserError


class ChartLookupError(UserError):
    "An account or a tax missing from a company's chart of accounts."


class StatementError(UserError):
    "A statement cannot be built or moved on as asked."


class FapiaoError(UserError):
    "A fapiao cannot be requested, entered or reversed as asked."


class BankImportError(UserError):
    "A bank export that cannot be imported."


class PaymentFileError(UserError):
    "A payment group whose bank payment file cannot be produced."
