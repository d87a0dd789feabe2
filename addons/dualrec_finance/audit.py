# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.pool import PoolMeta


class AuditLog(metaclass=PoolMeta):
    __name__ = 'dualrec.audit.log'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.action.selection += [
            ('statement_build', "Statement Built"),
            ('statement_send', "Statement Sent"),
            ('statement_draft', "Statement Reset to Draft"),
            ('statement_confirm', "Statement Confirmed"),
            ('statement_adjust', "Statement Adjusted"),
            ('statement_cancel', "Statement Cancelled"),
            ('statement_invoice', "Statement Invoiced"),
            ('statement_settle', "Statement Settled"),
            ('statement_reopen', "Statement Reopened"),
            ('statement_unsettle', "Statement Unsettled"),
            ('fapiao_request', "Fapiao Requested"),
            ('fapiao_issue', "Fapiao Issued"),
            ('fapiao_fail', "Fapiao Failed"),
            ('fapiao_void', "Fapiao Voided"),
            ('fapiao_red_letter', "Red-Letter Fapiao Requested"),
            ('fapiao_register', "Supplier Fapiao Registered"),
            ('payment_succeed', "Payment Succeeded"),
            ('payment_fail', "Payment Failed"),
            ]
