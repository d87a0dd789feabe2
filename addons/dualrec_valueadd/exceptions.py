# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.exceptions import UserError
from trytond.i18n import gettext

from dualrec.errors import CodedError


class MerchantError(UserError):
    "A store, a partner user or an agreement that cannot be saved."


class BatchError(UserError):
    "A coupon batch that cannot be changed or issued from as asked."


class CouponError(UserError):
    "A coupon that cannot be changed as asked in the back office."


class PlateError(UserError):
    "A plate batch or plate that cannot be changed or printed as asked."


class CouponRefusal(CodedError):
    """A refused issue, redemption, return or rating, answered by the API
    as {code, message} with its status; the message is translated."""

    def __init__(self, code, /, status=400, **params):
        # code is positional only: the params often hold a coupon's code
        message = gettext(f'dualrec_valueadd.msg_coupon_{code}', **params)
        super().__init__(code, message, params, status=status)


class PlateRefusal(CodedError):
    """A refused plate operation (binding, scan, call, call record),
    answered by the API as {code, message} with its status; the message is
    translated."""

    def __init__(self, code, /, status=400, **params):
        message = gettext(f'dualrec_valueadd.msg_plate_{code}', **params)
        super().__init__(code, message, params, status=status)
