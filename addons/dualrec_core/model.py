# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.model import fields


class BigInteger(fields.Integer):
    "An integer stored on 64 bits: file sizes pass 2 GiB."
    _sql_type = 'BIGINT'
