# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.pool import PoolMeta


class AuditLog(metaclass=PoolMeta):
    __name__ = 'dualrec.audit.log'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.action.selection += [
            ('approve', "Review Approved"),
            ('reject', "Review Rejected"),
            ('qc_sample', "QC Sample Drawn"),
            ('qc_pass', "QC Passed"),
            ('qc_fail', "QC Failed"),
            ]
