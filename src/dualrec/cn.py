# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Amounts in Chinese capital numerals (人民币大写), as cheques, statements
and payment notices write them.

The rules are those of the People's Bank of China's 支付结算办法 (附一
正确填写票据和结算凭证的基本规定):

* the digits 零壹贰叁肆伍陆柒捌玖 with the units 拾佰仟, the sections 万 and
  亿, then 元, 角 and 分; a leading ten is written 壹拾 (¥10 → 壹拾元整);
* a run of zeros inside the amount is written as one 零 (¥1,001 →
  壹仟零壹元整, ¥100,010,000 → 壹亿零壹万元整); zeros at the end of a
  section (the 万位 or the 元位) are not written, as the rules' own example
  ¥107,000.53 → 壹拾万柒仟元伍角叁分 does;
* an amount that ends at the yuan is followed by 整; an amount with fen has
  no 整; after 角 this module writes no 整 (the rules allow both);
* when the jiao is zero and the fen is not, 零 follows the yuan (¥16,409.02
  → 壹万陆仟肆佰零玖元零贰分); an amount under one yuan starts at the jiao
  or the fen (¥0.05 → 伍分).

Amounts are rounded half-up to the fen first; a negative amount is prefixed
with 负.
"""
import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal

__all__ = ['amount_in_words']

DIGITS = '零壹贰叁肆伍陆柒捌玖'
UNITS = ['', '拾', '佰', '仟']
SECTIONS = ['', '万', '亿', '万亿']
LIMIT = 10 ** (4 * len(SECTIONS))


def _section(value):
    "Return the words of 0 < value < 10000 without leading zeros."
    words, zero = [], False
    for position in range(3, -1, -1):
        digit = value // 10 ** position % 10
        if digit:
            if zero and words:
                words.append(DIGITS[0])
            words.append(DIGITS[digit] + UNITS[position])
            zero = False
        else:
            zero = True
    return ''.join(words)


def _integer(value):
    "Return the words of the yuan of value > 0."
    sections = []
    while value:
        sections.append(value % 10000)
        value //= 10000
    words, zero = [], False
    for index in range(len(sections) - 1, -1, -1):
        section = sections[index]
        if not section:
            zero = True
            continue
        if words and (zero or section < 1000):
            words.append(DIGITS[0])
        words.append(_section(section) + SECTIONS[index])
        zero = False
    return ''.join(words)


def amount_in_words(amount):
    """Return amount (a Decimal, an int or a numeric string) in capital
    numerals, e.g. Decimal('12345.67') → '壹万贰仟叁佰肆拾伍元陆角柒分'."""
    amount = Decimal(amount).quantize(Decimal('0.01'), ROUND_HALF_UP)
    if amount < 0:
        return '负' + amount_in_words(-amount)
    fen = int(amount * 100)
    if fen >= LIMIT * 100:
        raise ValueError(f"amount too large for capital numerals: {amount}")
    yuan, jiao, fen = fen // 100, fen // 10 % 10, fen % 10
    if not (yuan or jiao or fen):
        return '零元整'
    words = []
    if yuan:
        words.append(_integer(yuan) + '元')
    if jiao:
        words.append(DIGITS[jiao] + '角')
    elif yuan and fen:
        words.append(DIGITS[0])
    if fen:
        words.append(DIGITS[fen] + '分')
    elif not jiao:
        words.append('整')
    return ''.join(words)


# -- vehicle plates (GA 36) ------------------------------------------------------

PROVINCES = '京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼'
_PLATE = re.compile(
    '^[' + PROVINCES + '][A-Z][A-HJ-NP-Z0-9]{4,5}[A-HJ-NP-Z0-9挂学警港澳]$')


def normalize_plate(value):
    """Return the plate number value in its canonical form (upper case, no
    spaces, dots or hyphens, half-width), or None if it is not a mainland
    plate: a province, a letter and 5 symbols (6 for new energy)."""
    if not value:
        return None
    text = unicodedata.normalize('NFKC', str(value)).upper()
    text = re.sub(r'[\s·.\-]', '', text)
    return text if _PLATE.match(text) else None
