# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.pool import PoolMeta


class AuditLog(metaclass=PoolMeta):
    __name__ = 'dualrec.audit.log'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.action.selection += [
            ('order_confirm', "Order Confirmed"),
            ('order_cancel', "Order Cancelled"),
            ('order_invoice', "Order Invoiced"),
            ('order_settle', "Order Settled"),
            ('order_reopen', "Order Reopened"),
            ('order_unsettle', "Order Unsettled"),
            ('order_import', "Orders Imported"),
            ]
