# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Personal data of policyholders: validation, masking and encryption.

This module needs no database and imports nothing from Tryton so it can be
tested alone and reused by scripts.  Every refusal raises PIIError whose
``code`` is a short stable string; the Tryton layer maps the code to a
translated message.  The English ``message`` is only a fallback for logs and
never contains the raw identity or phone number (``params`` carries the
masked form) because error messages end up in logs.

Identity numbers (section A) follow GB 11643-1999 for the 18-character
numbers.  Phone numbers (section B) are mainland China mobiles and
landlines.  Section C masks values for users without the unmask right and
section D keeps them encrypted at rest with an HMAC blind index for exact
look-ups.
"""
import base64
import binascii
import datetime as dt
import hashlib
import hmac
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import CodedError


class PIIError(CodedError):
    """A personal data value or key was refused.

    ``code`` is a short stable identifier (e.g. 'id_number_checksum') meant
    to select a translated message; ``params`` holds the values to format it
    with.  ``message`` is an untranslated English fallback.
    """


# ---------------------------------------------------------------------------
# A. Identity documents
# ---------------------------------------------------------------------------

ID_TYPES = [
    ('resident_id', "Resident Identity Card"),
    ('passport', "Passport"),
    ('hk_macau_permit',
        "Mainland Travel Permit for Hong Kong and Macao Residents"),
    ('taiwan_permit', "Mainland Travel Permit for Taiwan Residents"),
    ('hk_macau_residence',
        "Residence Permit for Hong Kong and Macao Residents"),
    ('taiwan_residence', "Residence Permit for Taiwan Residents"),
    ('foreigner_residence', "Foreign Permanent Resident ID Card"),
    ('military', "Military Officer Card"),
    ('other', "Other"),
    ]
ID_TYPE_CODES = frozenset(code for code, _ in ID_TYPES)

# GB 11643-1999: weight of each of the 17 body digits (2^(18-i) mod 11) and
# the check character for each remainder of the weighted sum modulo 11.
CHECK_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = '10X98765432'

# First two digits (province level, GB/T 2260) accepted on a resident ID.
PROVINCE_CODES = frozenset(
    [str(c) for c in range(11, 16)]
    + [str(c) for c in range(21, 24)]
    + [str(c) for c in range(31, 38)]
    + [str(c) for c in range(41, 47)]
    + [str(c) for c in range(50, 55)]
    + [str(c) for c in range(61, 66)]
    + ['71', '81', '82', '83', '91'])

# Residence permits reuse the resident ID layout with a fixed address code.
RESIDENCE_PREFIXES = {
    'hk_macau_residence': ('810000', '820000'),
    'taiwan_residence': ('830000',),
    }

MIN_BIRTH_DATE = dt.date(1900, 1, 1)

# Types whose number is 17 digits, an 8-digit birth date at offset 6 and the
# GB 11643 check character.
_BIRTH_DATE_TYPES = frozenset(
    ['resident_id', 'hk_macau_residence', 'taiwan_residence'])

_CJK = (
    '\u3400-\u4dbf'  # Extension A
    '\u4e00-\u9fff'  # Unified Ideographs
    '\uf900-\ufaff'  # Compatibility Ideographs
    '\U00020000-\U0003134f')  # Extensions B to G
_CJK_RE = re.compile(f'[{_CJK}]')

# re.ASCII everywhere: a bare \d would accept Arabic-Indic and other
# Unicode digits, which int() happily converts.
_ID18_RE = re.compile(r'\d{17}[\dX]', re.ASCII)
_FOREIGNER_OLD_RE = re.compile(r'[A-Z]{3}\d{12}', re.ASCII)
_HK_MACAU_PERMIT_RE = re.compile(r'[HM](?:\d{8}|\d{10})', re.ASCII)
_TAIWAN_PERMIT_RE = re.compile(r'\d{8}|[A-Z0-9]{10}', re.ASCII)
_PASSPORT_RE = re.compile(r'(?=.*\d)[A-Z0-9]{5,17}', re.ASCII)
_MILITARY_RE = re.compile(f'[{_CJK}A-Z0-9]{{6,20}}')

# Full-width ASCII variants (U+FF01..U+FF5E) sit at a fixed offset from
# their ASCII counterparts; U+3000 is the ideographic space.  A targeted
# table is used instead of NFKC, which would also fold circled digits,
# ligatures, etc. into something the user did not type.
_HALF_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_HALF_WIDTH[0x3000] = 0x20


def _to_half_width(value):
    return value.translate(_HALF_WIDTH)


def _check_type(id_type):
    if id_type not in ID_TYPE_CODES:
        raise PIIError('id_type_unknown',
            f"Unknown identity document type {id_type!r}.",
            {'id_type': id_type})


def normalize_id_number(id_type, value):
    """Return ``value`` in the canonical form used for storage and indexing.

    Full-width letters, digits and punctuation become ASCII, every
    whitespace character (including the ideographic space) is removed and
    letters are upper-cased, so '１１０１０５...ｘ' and '110105...X' are the
    same number.  None gives ''.  The result is not validated; an unknown
    ``id_type`` raises PIIError('id_type_unknown').
    """
    _check_type(id_type)
    if value is None:
        return ''
    if not isinstance(value, str):
        raise TypeError(
            f'id number must be a str, not {type(value).__name__}')
    return ''.join(_to_half_width(value).split()).upper()


def check_char(body):
    """Return the GB 11643-1999 check character of a 17-digit ``body``."""
    total = sum(int(d) * w for d, w in zip(body, CHECK_WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def _parse_birth_date(number):
    "Return the date in characters 7-14 (YYYYMMDD) or None if not a date."
    try:
        return dt.date(
            int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def _error(code, message, id_type, number):
    return PIIError(code, message, {
            'id_type': id_type,
            'number': mask_id_number(number),
            })


def _validate_id18(id_type, number, today):
    "Validate the 18-character layout shared by resident IDs and permits."
    if len(number) != 18:
        raise _error('id_number_length',
            "The identity number must have 18 characters.", id_type, number)
    if not _ID18_RE.fullmatch(number):
        raise _error('id_number_format',
            "The identity number must be 17 digits followed by a digit "
            "or X.", id_type, number)
    if id_type == 'resident_id':
        if number[:2] not in PROVINCE_CODES:
            raise _error('id_number_region',
                "The identity number starts with an unknown region code.",
                id_type, number)
    elif not number.startswith(RESIDENCE_PREFIXES[id_type]):
        raise _error('id_number_region',
            "The residence permit number must start with "
            f"{' or '.join(RESIDENCE_PREFIXES[id_type])}.", id_type, number)
    birth_date = _parse_birth_date(number)
    if (birth_date is None
            or not MIN_BIRTH_DATE <= birth_date <= today):
        raise _error('id_number_birth_date',
            "The identity number contains an invalid birth date.",
            id_type, number)
    if check_char(number[:17]) != number[17]:
        raise _error('id_number_checksum',
            "The check character of the identity number is wrong.",
            id_type, number)


def _validate_foreigner(number):
    id_type = 'foreigner_residence'
    if len(number) == 15:
        # Cards issued before 2023-12-01 (including the 2017 version): a
        # 3-letter nationality code and 12 digits.
        if not _FOREIGNER_OLD_RE.fullmatch(number):
            raise _error('id_number_format',
                "A 15-character permanent resident number must be 3 "
                "letters followed by 12 digits.", id_type, number)
        return
    if len(number) != 18:
        raise _error('id_number_length',
            "A permanent resident number must have 15 or 18 characters.",
            id_type, number)
    # Since 2023-12-01 the number follows the resident ID layout with '9'
    # as first digit to tell foreigners from citizens (whose first digit
    # is 1-8).  The inner fields are not checked: they are not published
    # as precisely as GB 11643.
    if not _ID18_RE.fullmatch(number) or number[0] != '9':
        raise _error('id_number_format',
            "An 18-character permanent resident number must be 17 digits "
            "starting with 9 followed by a digit or X.", id_type, number)
    if check_char(number[:17]) != number[17]:
        raise _error('id_number_checksum',
            "The check character of the identity number is wrong.",
            id_type, number)


_PATTERN_RULES = {
    'hk_macau_permit': (_HK_MACAU_PERMIT_RE,
        "The permit number must be H or M followed by 8 or 10 digits."),
    'taiwan_permit': (_TAIWAN_PERMIT_RE,
        "The permit number must be 8 digits or 10 letters and digits."),
    'passport': (_PASSPORT_RE,
        ("The passport number must be 5 to 17 letters and digits with "
            "at least one digit.")),
    'military': (_MILITARY_RE,
        ("The military card number must be 6 to 20 Chinese characters, "
            "letters or digits.")),
    }


def validate_id_number(id_type, value, today=None):
    """Return the normalized number or raise PIIError.

    ``today`` (a datetime.date, default the system date) bounds the birth
    date encoded in resident IDs and residence permits; the Tryton layer
    should pass the company's date.  Accepted birth dates range from
    1900-01-01 to ``today`` inclusive.  The checks run in the order
    length, format, region, birth date, checksum, so the first failing one
    gives the code:

    - 'id_type_unknown': ``id_type`` is not in ID_TYPES;
    - 'id_number_length': an 18-character type with another length (old
      15-digit resident IDs are refused: they were withdrawn in 2013);
    - 'id_number_format': wrong characters, or any failure of the types
      without a checksum;
    - 'id_number_region': unknown province code, or a residence permit not
      starting with its type's prefix;
    - 'id_number_birth_date': impossible, future or pre-1900 birth date;
    - 'id_number_checksum': wrong GB 11643 check character.
    """
    number = normalize_id_number(id_type, value)
    if today is None:
        today = dt.date.today()
    if id_type in _BIRTH_DATE_TYPES:
        _validate_id18(id_type, number, today)
    elif id_type == 'foreigner_residence':
        _validate_foreigner(number)
    elif id_type == 'other':
        if not 1 <= len(number) <= 40 or not number.isprintable():
            raise _error('id_number_format',
                "The document number must be 1 to 40 printable "
                "characters.", id_type, number)
    else:
        pattern, message = _PATTERN_RULES[id_type]
        if not pattern.fullmatch(number):
            raise _error('id_number_format', message, id_type, number)
    return number


def birth_date_from_id(id_type, number):
    """Return the birth date encoded in ``number`` or None.

    Only resident IDs and residence permits encode a full birth date that
    can be trusted; for every other type (including permanent resident
    cards, whose old format has a 2-digit year) the answer is None.  The
    number is normalized but not validated: call validate_id_number first.
    None is also returned when the date part is not a real date.
    """
    number = normalize_id_number(id_type, number)
    if id_type not in _BIRTH_DATE_TYPES or not _ID18_RE.fullmatch(number):
        return None
    return _parse_birth_date(number)


def age_on(birth_date, day):
    """Return the age in whole years on ``day``.

    The age increases on the birthday itself.  Someone born on 29 February
    turns one year older on 1 March in common years.  A ``day`` before
    ``birth_date`` raises PIIError('age_before_birth').
    """
    if day < birth_date:
        raise PIIError('age_before_birth',
            "The date is before the birth date.",
            {'birth_date': birth_date, 'day': day})
    # Comparing (month, day) tuples makes 02-29 fall after 02-28, hence the
    # 1 March rule without special-casing leap years.
    before_birthday = (day.month, day.day) < (birth_date.month,
        birth_date.day)
    return day.year - birth_date.year - before_birthday


# ---------------------------------------------------------------------------
# B. Phone numbers
# ---------------------------------------------------------------------------

_MOBILE_RE = re.compile(r'(?:\+86|0086|86)?(1[3-9]\d{9})', re.ASCII)
# Area code written apart from the number: the split is the user's.
_LANDLINE_SPLIT_RE = re.compile(
    r'(0[1-9]\d{1,2})[\s-]+(\d{7,8})(?:-(\d{1,6}))?', re.ASCII)
# Area code glued to the number: the split follows the numbering plan.
_LANDLINE_JOINED_RE = re.compile(
    r'(0[1-9]\d{8,10})(?:-(\d{1,6}))?', re.ASCII)


def _area_code_length(digits):
    # Only Beijing (010) and the 02X big cities have 3-digit area codes;
    # every other area code has 4 digits.
    return 3 if digits.startswith(('010', '02')) else 4


def validate_phone(value):
    """Return the canonical phone number or raise PIIError('phone_format').

    Mobiles: 11 digits starting with 13-19, optionally preceded by +86,
    0086 or 86, with any spaces or dashes; the result is the 11 digits
    ('+86 138-1234-5678' -> '13812345678').

    Landlines: an area code of 3 or 4 digits starting with 0, a local
    number of 7 or 8 digits and an optional extension of up to 6 digits
    after a dash.  The result is 'AREA-NUMBER' or 'AREA-NUMBER-EXT'.  When
    the area code is glued to the number it is split by the numbering
    plan (010 and 02X have 3 digits, the others 4).  International forms
    of landlines (+86 10 ...) are not accepted.
    """
    if not isinstance(value, str):
        raise PIIError('phone_format', "The phone number is missing.")
    text = _to_half_width(value).strip()
    compact = re.sub(r'[\s-]', '', text)
    match = _MOBILE_RE.fullmatch(compact)
    if match:
        return match.group(1)
    match = _LANDLINE_SPLIT_RE.fullmatch(text)
    if match:
        area, number, extension = match.groups()
    else:
        match = _LANDLINE_JOINED_RE.fullmatch(text)
        if not match:
            raise PIIError('phone_format',
                "The phone number must be a mainland mobile or landline "
                "number.", {'phone': mask_phone(text)})
        digits, extension = match.groups()
        length = _area_code_length(digits)
        area, number = digits[:length], digits[length:]
        if not 7 <= len(number) <= 8:
            raise PIIError('phone_format',
                "The landline number must have 7 or 8 digits after the "
                "area code.", {'phone': mask_phone(text)})
    result = f'{area}-{number}'
    if extension:
        result += '-' + extension
    return result


# ---------------------------------------------------------------------------
# C. Masking
# ---------------------------------------------------------------------------

def _mask_middle(value, keep_start, keep_end):
    hidden = len(value) - keep_start - keep_end
    return value[:keep_start] + '*' * hidden + value[len(value) - keep_end:]


def mask_id_number(number):
    """Return ``number`` with its middle replaced by '*', same length.

    Numbers longer than 8 characters keep the first 3 and last 4
    ('11010519491231002X' -> '110***********002X'); 4 to 8 characters keep
    the first 1 and last 2 ('H1234567' -> 'H*****67'); 3 characters or
    fewer are fully starred since keeping 1 + 2 would show everything.
    Empty or None gives ''.
    """
    if not number:
        return ''
    if len(number) > 8:
        return _mask_middle(number, 3, 4)
    if len(number) > 3:
        return _mask_middle(number, 1, 2)
    return '*' * len(number)


def mask_phone(phone):
    """Return ``phone`` (as given by validate_phone) partly starred.

    A mobile keeps its first 3 and last 4 digits ('13812345678' ->
    '138****5678'); a landline keeps its area code, the last 4 digits of
    the local number and any extension ('010-12345678' -> '010-****5678').
    Anything else is masked like an identity number.  The length is kept.
    Empty or None gives ''.
    """
    if not phone:
        return ''
    if re.fullmatch(r'\d{11}', phone, re.ASCII):
        return _mask_middle(phone, 3, 4)
    match = re.fullmatch(r'(0\d{2,3}-)(\d{5,})(-\d+)?', phone, re.ASCII)
    if match:
        area, number, extension = match.groups()
        return area + _mask_middle(number, 0, 4) + (extension or '')
    return mask_id_number(phone)


# Kept visible in names: they carry no identity and show the name's shape.
_NAME_SEPARATORS = frozenset(" -'.·•・")


def mask_name(name):
    """Return ``name`` with all but its first letters starred.

    A name containing Chinese characters keeps only its first character
    ('张三' -> '张*', '欧阳娜娜' -> '欧***'); a name of a single character
    is fully starred.  Other names keep the first letter of each word
    ('John Smith' -> 'J*** S****').  Spaces, hyphens, apostrophes, dots
    and middle dots are kept, so 'Mary-Jane' -> 'M***-J***'.  The length
    is kept (surrounding spaces stripped).  Empty or None gives ''.
    """
    if not name:
        return ''
    name = name.strip()
    if _CJK_RE.search(name):
        if len(name) == 1:
            return '*'
        return name[0] + ''.join(
            c if c in _NAME_SEPARATORS else '*' for c in name[1:])
    result = []
    word_start = True
    for char in name:
        if char in _NAME_SEPARATORS:
            result.append(char)
            word_start = True
        elif word_start:
            result.append(char)
            word_start = False
        else:
            result.append('*')
    return ''.join(result)


# ---------------------------------------------------------------------------
# D. Blind index and encryption at rest
# ---------------------------------------------------------------------------

KEY_SIZE = 32  # bytes, AES-256 and HMAC-SHA256
NONCE_SIZE = 12  # bytes, the GCM recommended size
TAG_SIZE = 16  # bytes
TOKEN_VERSION = 'v1'

ENCRYPTION_INFO = b'dualrec pii encryption'
BLIND_INDEX_INFO = b'dualrec pii blind index'


def _check_key(key, exact=False):
    if not isinstance(key, (bytes, bytearray)):
        raise TypeError(f'key must be bytes, not {type(key).__name__}')
    if exact and len(key) != KEY_SIZE:
        raise PIIError('key_length',
            f"The encryption key must be {KEY_SIZE} bytes.",
            {'size': KEY_SIZE})
    if len(key) < KEY_SIZE:
        raise PIIError('key_too_short',
            f"The key must be at least {KEY_SIZE} bytes.",
            {'size': KEY_SIZE})


def blind_index(key, kind, value):
    """Return the 64 hexadecimal characters HMAC-SHA256 index of ``value``.

    The index allows exact-match searches on encrypted values without
    decrypting them.  ``key`` is the index key from derive_keys (at least
    32 bytes).  ``kind`` (e.g. 'id_number', 'phone') is hashed first,
    separated by a NUL byte it may not contain, so that the same value of
    two kinds never gives the same index.  ``value`` must already be
    normalized (normalize_id_number, validate_phone): the index of two
    spellings of one number differs otherwise.
    """
    _check_key(key)
    if not kind or '\x00' in kind:
        raise ValueError('kind must be a non-empty str without NUL')
    if not isinstance(value, str):
        raise TypeError(
            f'value must be a str, not {type(value).__name__}')
    message = kind.encode('utf-8') + b'\x00' + value.encode('utf-8')
    return hmac.new(bytes(key), message, hashlib.sha256).hexdigest()


def derive_keys(master):
    """Return (encryption key, blind index key) derived from ``master``.

    Both keys are 32 bytes, derived with HKDF-SHA256 without salt and with
    distinct ``info`` labels, so one master key in the configuration
    yields independent keys and the same master always gives the same
    keys.  A master shorter than 32 bytes raises PIIError('key_too_short').
    """
    _check_key(master)

    def derive(info):
        # An HKDF instance may be used only once.
        return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None,
            info=info).derive(bytes(master))
    return derive(ENCRYPTION_INFO), derive(BLIND_INDEX_INFO)


def _b64encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode('ascii')


def _b64decode(text):
    "Decode unpadded urlsafe base64, refusing any non-canonical spelling."
    data = base64.b64decode(
        text + '=' * (-len(text) % 4), altchars=b'-_', validate=True)
    # Trailing bits of the last character are ignored by the decoder;
    # re-encoding closes that malleability so one plaintext-carrying
    # payload has exactly one token.
    if _b64encode(data) != text:
        raise ValueError('non canonical base64')
    return data


def encrypt_value(enc_key, plaintext, associated=b''):
    """Return ``plaintext`` encrypted as an ASCII token.

    AES-256-GCM with a fresh random 96-bit nonce, so two encryptions of
    the same value differ.  The token is 'v1.' followed by the unpadded
    urlsafe base64 of nonce + ciphertext + tag; its length is
    3 + ceil((28 + n) * 4 / 3) characters for n UTF-8 bytes.
    ``associated`` is authenticated but not stored: pass the same bytes
    (e.g. b'dualrec.ticket,id_number') to decrypt_value, which binds the
    token to its place.  ``enc_key`` must be exactly 32 bytes.
    """
    _check_key(enc_key, exact=True)
    if not isinstance(plaintext, str):
        raise TypeError(
            f'plaintext must be a str, not {type(plaintext).__name__}')
    nonce = os.urandom(NONCE_SIZE)
    ciphertext = AESGCM(bytes(enc_key)).encrypt(
        nonce, plaintext.encode('utf-8'), bytes(associated))
    return f'{TOKEN_VERSION}.{_b64encode(nonce + ciphertext)}'


def decrypt_value(enc_key, token, associated=b''):
    """Return the plaintext of a token made by encrypt_value.

    Any failure (wrong key, altered or truncated token, different
    ``associated`` data, unknown version, not a token at all) raises
    PIIError('decrypt_failed') without telling which: a garbage value is
    never returned.
    """
    _check_key(enc_key, exact=True)
    failed = PIIError('decrypt_failed', "The value could not be decrypted.")
    if not isinstance(token, str):
        raise failed
    version, sep, body = token.partition('.')
    if version != TOKEN_VERSION or not sep:
        raise failed
    try:
        data = _b64decode(body)
    except (ValueError, binascii.Error):
        raise failed from None
    if len(data) < NONCE_SIZE + TAG_SIZE:
        raise failed
    try:
        plaintext = AESGCM(bytes(enc_key)).decrypt(
            data[:NONCE_SIZE], data[NONCE_SIZE:], bytes(associated))
        return plaintext.decode('utf-8')
    except (InvalidTag, UnicodeDecodeError):
        raise failed from None


def load_master_key(value):
    """Return the master key bytes written in the configuration.

    Accepted spellings: exactly 64 hexadecimal characters (32 bytes), or
    standard or urlsafe base64, padded or not, of at least 32 bytes.
    Surrounding whitespace is ignored.  A value made only of hexadecimal
    digits is read as hexadecimal and must then have exactly 64 of them:
    a mistyped hexadecimal key is refused instead of being silently read
    as base64 (a random base64 key is all-hexadecimal with negligible
    probability).  Anything else raises PIIError('key_format'); the
    message never echoes the value.
    """
    error = PIIError('key_format',
        "The master key must be 64 hexadecimal characters or the base64 "
        f"of at least {KEY_SIZE} bytes.", {'size': KEY_SIZE})
    if not isinstance(value, str):
        raise error
    value = value.strip()
    if re.fullmatch(r'[0-9A-Fa-f]+', value):
        if len(value) != 2 * KEY_SIZE:
            raise error
        return bytes.fromhex(value)
    if not re.fullmatch(r'[A-Za-z0-9+/_-]+={0,2}', value):
        raise error
    text = value.rstrip('=').replace('-', '+').replace('_', '/')
    padding = -len(text) % 4
    # Padding is optional but, when written, must be the right amount:
    # anything else hints at a truncated or mangled key.
    if len(value) - len(text) not in (0, padding):
        raise error
    try:
        key = base64.b64decode(text + '=' * padding, validate=True)
    except (ValueError, binascii.Error):
        raise error from None
    if len(key) < KEY_SIZE:
        raise error
    return key
