# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError


class OrderError(UserError):
    "An order cannot be created or moved on as asked."


class OrderFrozenError(OrderError):
    "A confirmed order is changed only by cancelling or crediting it."


class OrderEventError(UserError):
    "The trace of an order cannot be changed."


class OrderExtensionError(ValidationError):
    "Extension data of the wrong key or kind."


class OrderImportError(UserError):
    "A file that cannot be imported."
