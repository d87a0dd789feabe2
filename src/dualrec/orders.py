# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The content of an order, as one canonical form and its fingerprint.

An order coming back from its source (an import row, an API call, a coupon
redemption) is *unchanged* when its fingerprint is the stored one: the
comparison needs no read of its lines.  The content names its references
by id (type, counterparty, branch, currency, products) and its numbers as
normalised decimals, so that '6', '6.00' and 6 are the same quantity.
"""
import datetime as dt
import hashlib
import json
from decimal import Decimal

# The fields of an order that make its content (the lines apart).
ORDER_KEYS = ('type', 'direction', 'counterparty', 'branch', 'currency',
    'date', 'description', 'extension')
LINE_KEYS = ('product', 'description', 'quantity', 'unit_price', 'tax_rate')


def _plain(value):
    if isinstance(value, Decimal):
        value = value.normalize()
        # normalize() writes 100 as 1E+2
        return format(value, 'f')
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()
            if v not in (None, '')}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return _plain(Decimal(repr(value)))
    if isinstance(value, int) and not isinstance(value, bool):
        # a quantity of 3 is the stored Decimal('3')
        return _plain(Decimal(value))
    if value == '':
        return None
    return value


def canonical(order, lines):
    """Return the canonical JSON text of order (a mapping of ORDER_KEYS)
    with lines (mappings of LINE_KEYS), in their order."""
    data = {key: _plain(order.get(key)) for key in ORDER_KEYS}
    data['lines'] = [{key: _plain(line.get(key)) for key in LINE_KEYS}
        for line in lines]
    return json.dumps(data, sort_keys=True, ensure_ascii=False,
        separators=(',', ':'))


def fingerprint(order, lines):
    "Return the SHA-256 (hex) of the canonical content of order and lines."
    return hashlib.sha256(
        canonical(order, lines).encode('utf-8')).hexdigest()
