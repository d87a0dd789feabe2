# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Fapiao (发票) kinds and the checks a request must pass before it reaches
a provider.

* 数电票 (fully digitised e-fapiao) have no code and a 20-digit number:
  digits 1–2 are the last two digits of the year, 3–4 the province-level
  region code (GB/T 2260 first two digits: 11…65, 71 Taiwan, 81 Hong Kong,
  82 Macao), 5 the issuing channel and 6–20 a sequence.
* Legacy VAT fapiao (paper 专票/普票) keep a 10 or 12 digit code (代码) and
  an 8-digit number (号码).
* Buyer tax ids are 统一社会信用代码 (USCC), checked with python-stdnum.
* Providers count names and notes in GBK bytes: buyer name ≤ 100 bytes and
  remark ≤ 230 bytes (Piaozone single-invoice API); the item name limit of
  90 bytes is Nuonuo's ``goodsName`` length and is not in our reference —
  treat it as the conservative common limit.
"""
from stdnum.cn import uscc
from stdnum.exceptions import ValidationError as StdnumError

from dualrec.errors import CodedError

__all__ = [
    'KINDS', 'DIGITAL_KINDS', 'PROVINCE_CODES', 'FapiaoError',
    'check_number', 'check_tax_id', 'check_gbk', 'gbk_length',
    'BUYER_NAME_LIMIT', 'REMARK_LIMIT', 'ITEM_NAME_LIMIT', 'TAX_CODE_LENGTH',
    'check_tax_code']

# kind → (English label, provider type code of the tax bureau)
KINDS = {
    'digital_special': ('Digital special VAT fapiao', '81'),
    'digital_normal': ('Digital normal VAT fapiao', '82'),
    'paper_special': ('Paper special VAT fapiao', '01'),
    'paper_normal': ('Paper normal VAT fapiao', '04'),
    }
DIGITAL_KINDS = frozenset({'digital_special', 'digital_normal'})

# GB/T 2260 province-level codes
PROVINCE_CODES = frozenset({
        '11', '12', '13', '14', '15',
        '21', '22', '23',
        '31', '32', '33', '34', '35', '36', '37',
        '41', '42', '43', '44', '45', '46',
        '50', '51', '52', '53', '54',
        '61', '62', '63', '64', '65',
        '71', '81', '82'})

BUYER_NAME_LIMIT = 100
REMARK_LIMIT = 230
ITEM_NAME_LIMIT = 90
TAX_CODE_LENGTH = 19


class FapiaoError(CodedError):
    "A fapiao field refused before it is sent."


def _digits(value, what):
    value = (value or '').strip()
    if not value.isdigit() or not value.isascii():
        raise FapiaoError(
            'fapiao_not_digits',
            f'The {what} "{value}" must contain only digits.',
            {'what': what, 'value': value})
    return value


def check_number(kind, number, code=None):
    """Return the normalised ``(number, code)`` of a fapiao of ``kind``.

    Raise FapiaoError when the number or the code does not fit the kind:
    a 数电票 has a 20-digit number with a valid province code and no code;
    a legacy fapiao has an 8-digit number and a 10 or 12 digit code."""
    if kind not in KINDS:
        raise FapiaoError(
            'fapiao_kind', f'Unknown fapiao kind "{kind}".', {'kind': kind})
    number = _digits(number, 'fapiao number')
    if kind in DIGITAL_KINDS:
        if code:
            raise FapiaoError(
                'fapiao_code_unexpected',
                'A digital fapiao (数电票) has no fapiao code.',
                {'code': code})
        if len(number) != 20:
            raise FapiaoError(
                'fapiao_number_length',
                f'A digital fapiao number has 20 digits, '
                f'"{number}" has {len(number)}.',
                {'number': number, 'length': 20})
        if number[2:4] not in PROVINCE_CODES:
            raise FapiaoError(
                'fapiao_number_region',
                f'Digits 3-4 of the fapiao number "{number}" are not a '
                f'province code.', {'number': number})
        return number, None
    if len(number) != 8:
        raise FapiaoError(
            'fapiao_number_length',
            f'A legacy fapiao number has 8 digits, '
            f'"{number}" has {len(number)}.',
            {'number': number, 'length': 8})
    code = _digits(code, 'fapiao code')
    if len(code) not in {10, 12}:
        raise FapiaoError(
            'fapiao_code_length',
            f'A legacy fapiao code has 10 or 12 digits, '
            f'"{code}" has {len(code)}.', {'code': code})
    return number, code


def check_tax_id(value):
    "Return the compact USCC ``value`` or raise FapiaoError."
    try:
        return uscc.validate(value or '')
    except StdnumError:
        raise FapiaoError(
            'fapiao_tax_id',
            f'"{value}" is not a valid unified social credit code.',
            {'tax_id': value})


def check_tax_code(value):
    "Return the 19-digit tax classification code (税收分类编码) ``value``."
    value = _digits(value, 'tax classification code')
    if len(value) != TAX_CODE_LENGTH:
        raise FapiaoError(
            'fapiao_tax_code',
            f'A tax classification code has 19 digits, '
            f'"{value}" has {len(value)}.', {'code': value})
    return value


def gbk_length(text):
    "Return the GBK byte length of ``text`` (None counts 0)."
    return len((text or '').encode('gbk'))


def check_gbk(text, limit, what):
    """Return ``text`` if it encodes in GBK within ``limit`` bytes.

    A character outside GBK (e.g. an emoji) is refused: the provider
    could not print it."""
    text = text or ''
    try:
        length = gbk_length(text)
    except UnicodeEncodeError as exception:
        char = text[exception.start:exception.end]
        raise FapiaoError(
            'fapiao_gbk_char',
            f'The {what} contains "{char}", which a fapiao cannot print.',
            {'what': what, 'char': char})
    if length > limit:
        raise FapiaoError(
            'fapiao_gbk_length',
            f'The {what} is {length} bytes long in GBK, '
            f'at most {limit} are allowed.',
            {'what': what, 'length': length, 'limit': limit})
    return text
