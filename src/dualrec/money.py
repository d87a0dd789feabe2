# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Money as Chinese contracts quote it: prices include VAT (含税).

Every amount is a ``Decimal`` in yuan rounded half-up (away from zero) to
the fen, line by line; a line's tax is its total less its untaxed amount, so
untaxed + tax == total holds on every line and therefore on every sum of
lines.  Half-up away from zero keeps a discount line (negative quantity or
price) the exact negation of the line it discounts.
"""
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .errors import CodedError

FEN = Decimal('0.01')
ZERO = Decimal('0.00')
# The VAT rates of the PRC (增值税): goods, transport and building, modern
# services, small-scale taxpayers' levy and its reduced rate, zero-rated.
VAT_RATES = (Decimal('0.13'), Decimal('0.09'), Decimal('0.06'),
    Decimal('0.05'), Decimal('0.03'), Decimal('0.01'), Decimal('0'))


class MoneyError(CodedError):
    "An amount, a quantity or a tax rate that cannot be used."


def to_decimal(value, what='amount'):
    """Return value (a Decimal, an int, a numeric string with optional
    thousands separators, or a float read from a spreadsheet) as a Decimal;
    raise MoneyError('bad_<what>') otherwise."""
    if isinstance(value, bool) or value is None:
        raise MoneyError(f'bad_{what}', f"Not a number: {value!r}",
            {'value': value})
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        # a spreadsheet cell: its shortest repr is what the user typed
        result = Decimal(repr(value))
    else:
        text = str(value).strip().replace(',', '').replace('，', '')
        text = text.lstrip('¥￥').strip()
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise MoneyError(f'bad_{what}', f"Not a number: {value!r}",
                {'value': value}) from None
    if not result.is_finite():
        raise MoneyError(f'bad_{what}', f"Not a number: {value!r}",
            {'value': value})
    return result


def round_fen(amount):
    "Return amount rounded half-up (away from zero) to the fen."
    return Decimal(amount).quantize(FEN, rounding=ROUND_HALF_UP)


def parse_rate(value):
    """Return a VAT rate as a fraction: '6%', '6', 6, '0.06' and 0.06 all
    give Decimal('0.06').  A number of 1 or more is a percentage (so '1' is
    the small-scale 1 %).  Only the rates of VAT_RATES are taken."""
    if isinstance(value, str) and value.strip().endswith(('%', '％')):
        rate = to_decimal(value.strip().rstrip('%％'), 'rate') / 100
    else:
        rate = to_decimal(value, 'rate')
        if rate >= 1:
            rate = rate / 100
    check_rate(rate)
    return rate.normalize() if rate else Decimal('0')


def check_rate(rate):
    "Raise MoneyError('bad_rate') unless rate (a fraction) is a VAT rate."
    if rate not in VAT_RATES:
        raise MoneyError('bad_rate', f"Not a VAT rate: {rate}",
            {'value': rate})


def split_inclusive(quantity, unit_price, rate):
    """Return (untaxed, tax, total) of a line of quantity at unit_price
    including VAT at rate (a fraction, e.g. Decimal('0.06')).

    total = round(quantity × unit_price); untaxed = round(total / (1 + rate));
    tax = total − untaxed.  All three in yuan, rounded to the fen.
    """
    quantity = to_decimal(quantity, 'quantity')
    unit_price = to_decimal(unit_price, 'amount')
    rate = to_decimal(rate, 'rate')
    check_rate(rate)
    total = round_fen(quantity * unit_price)
    untaxed = round_fen(total / (1 + rate))
    return untaxed, total - untaxed, total


def totals(lines):
    """Return (untaxed, tax, total) summed over lines of such triples; the
    sums add up exactly because every line does."""
    untaxed = tax = total = ZERO
    for line_untaxed, line_tax, line_total in lines:
        untaxed += line_untaxed
        tax += line_tax
        total += line_total
    return untaxed, tax, total
