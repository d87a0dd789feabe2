# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.pool import Pool, PoolMeta

# Tryton's accounting groups that the finance role works with
ACCOUNTING_GROUPS = [
    ('account', 'group_account'),
    ('account_statement', 'group_statement'),
    ('account_payment', 'group_payment'),
    ('account_payment', 'group_payment_approval'),
    ]


class User(metaclass=PoolMeta):
    __name__ = 'res.user'

    @classmethod
    def get_groups(cls):
        """A member of the finance role holds Tryton's accounting groups
        too: finance works in Tryton accounting (invoices, bank statements,
        payments), no other role of the suite does."""
        ModelData = Pool().get('ir.model.data')
        groups = super().get_groups()
        finance = ModelData.get_id('dualrec_core', 'group_dualrec_finance')
        if finance not in groups:
            return groups
        extra = {ModelData.get_id(m, x) for m, x in ACCOUNTING_GROUPS}
        return tuple(sorted(set(groups) | extra))
