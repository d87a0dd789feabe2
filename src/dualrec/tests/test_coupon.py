# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import base64
import datetime as dt
import hashlib
import hmac
import random
import unittest

from dualrec.coupon import (
    ALPHABET, CODE_LENGTH, CouponError, check_code, check_symbol,
    derive_token_key, format_code, generate_code, issue_token, mask_code,
    normalize_code, read_payload, returnable, sign_token, usable_on,
    validity)
from dualrec.errors import CodedError
from dualrec.pii import derive_keys

MASTER = bytes(range(32))
KEY = derive_token_key(MASTER)
NOW = 1718438400  # 2024-06-15T08:00:00Z
D = dt.date


def luhn_mod_n_check(body, alphabet=ALPHABET):
    """Return the check symbol of ``body`` from the textbook definition of
    Luhn mod N (double every second value starting from the rightmost,
    sum the base-N digits of the products), written independently of the
    module."""
    n = len(alphabet)
    total = 0
    for i, symbol in enumerate(reversed(body)):
        value = alphabet.index(symbol) * (2 if i % 2 == 0 else 1)
        total += sum(divmod(value, n))
    return alphabet[-total % n]


def code_of(body):
    return body + luhn_mod_n_check(body)


def sample_codes(count, seed):
    rng = random.Random(seed)
    return [generate_code(rng.randbytes) for _ in range(count)]


def to_full_width(text):
    return ''.join(
        chr(ord(c) + 0xFEE0) if '!' <= c <= '~'
        else '\u3000' if c == ' ' else c
        for c in text)


def error_code(function, *args, **kwargs):
    "Return the code of the CouponError raised by the call, or None."
    try:
        function(*args, **kwargs)
    except CouponError as exception:
        return exception.code
    return None


class CodeTestCase(unittest.TestCase):
    "Test the coupon codes"

    def test_generate(self):
        "A code is 17 symbols of the alphabet"
        for code in sample_codes(200, 1):
            self.assertEqual(len(code), CODE_LENGTH)
            self.assertEqual(CODE_LENGTH, 17)
            self.assertTrue(set(code) <= set(ALPHABET), code)
        self.assertEqual(len(ALPHABET), 32)
        self.assertEqual(len(set(ALPHABET)), 32)
        self.assertFalse(set('01IO') & set(ALPHABET))

    def test_default_random(self):
        "The default source of randomness gives valid, distinct codes"
        first, second = generate_code(), generate_code()
        self.assertEqual(check_code(first), first)
        self.assertNotEqual(first, second)

    def test_80_bits(self):
        "The 16 symbols are the 10 random bytes, 5 bits each"
        for data in [bytes(10), b'\xff' * 10, bytes(range(1, 11)),
                bytes.fromhex('0123456789abcdeffedc')]:
            with self.subTest(data=data.hex()):
                calls = []

                def randbytes(size):
                    calls.append(size)
                    return data
                code = generate_code(randbytes)
                self.assertEqual(calls, [10])
                number = 0
                for symbol in code[:16]:
                    number = number << 5 | ALPHABET.index(symbol)
                self.assertEqual(number.to_bytes(10, 'big'), data)
                self.assertEqual(code[16], luhn_mod_n_check(code[:16]))
        self.assertEqual(generate_code(lambda size: bytes(10)), '2' * 17)
        self.assertEqual(generate_code(lambda size: b'\xff' * 10)[:16],
            'Z' * 16)

    def test_randbytes_size(self):
        "A source giving other than 10 bytes is refused"
        for data in [bytes(9), bytes(11), 'x' * 10]:
            with self.subTest(data=data):
                with self.assertRaises(ValueError):
                    generate_code(lambda size: data)

    def test_unique_and_valid(self):
        "10,000 generated codes are distinct and valid"
        codes = sample_codes(10000, 2)
        self.assertEqual(len(set(codes)), 10000)
        for code in codes:
            self.assertEqual(check_code(code), code)

    def test_check_symbol(self):
        "The check symbol is Luhn mod 32"
        # by hand: all values 0 give 0; 'Z' (31) doubled is 62 = 1*32 + 30,
        # digit sum 31, check (32 - 31) % 32 = 1 = '3'
        self.assertEqual(check_symbol('2' * 16), '2')
        self.assertEqual(check_symbol('Z'), '3')
        self.assertEqual(check_symbol('23'), luhn_mod_n_check('23'))
        for code in sample_codes(500, 3):
            self.assertEqual(check_symbol(code[:16]),
                luhn_mod_n_check(code[:16]))

    def test_check_symbol_bad(self):
        for body in ['', 'ABC0', 'abcd', 'ABCD-EFGH', None]:
            with self.subTest(body=body):
                self.assertEqual(error_code(check_symbol, body), 'bad_code')

    def test_single_substitution(self):
        "Every single-symbol substitution is caught"
        missed = []
        for code in sample_codes(40, 4) + ['2' * 17, code_of('Z' * 16)]:
            for position in range(CODE_LENGTH):
                for symbol in ALPHABET:
                    if symbol == code[position]:
                        continue
                    wrong = code[:position] + symbol + code[position + 1:]
                    if error_code(check_code, wrong) != 'bad_check':
                        missed.append(wrong)
        self.assertEqual(missed, [])

    def test_adjacent_transposition_all_pairs(self):
        """Every adjacent transposition of different symbols is caught but
        '2' with 'Z' (values 0 and 31), which Luhn mod N cannot catch"""
        missed = set()
        filler = 'K' * 16
        for position in range(15):  # both symbols in the body
            for a in ALPHABET:
                for b in ALPHABET:
                    if a == b:
                        continue
                    body = filler[:position] + a + b + filler[position + 2:]
                    swapped = (
                        filler[:position] + b + a + filler[position + 2:])
                    if error_code(
                            check_code, swapped + check_symbol(body)) is None:
                        missed.add(frozenset((a, b)))
        self.assertEqual(missed, {frozenset('2Z')})

    def test_adjacent_transposition_sample(self):
        "The transpositions of sample codes, check symbol included"
        missed = []
        codes = sample_codes(1000, 5) + [
            code_of('Z' * 15 + '2'), code_of('2' * 15 + 'Z')]
        for code in codes:
            for position in range(CODE_LENGTH - 1):
                a, b = code[position:position + 2]
                if a == b:
                    continue
                swapped = code[:position] + b + a + code[position + 2:]
                if error_code(check_code, swapped) != 'bad_check':
                    missed.append((a, b))
        self.assertTrue(missed)  # the two codes above at least
        self.assertEqual({frozenset(pair) for pair in missed},
            {frozenset('2Z')})

    def test_normalize(self):
        cases = [
            ('abcd', 'ABCD'),
            (' AB CD ', 'ABCD'),
            ('AB-CD-', 'ABCD'),
            ('ab\tcd\n', 'ABCD'),
            ('ＡＢ－ｃｄ　ＥＦ', 'ABCDEF'),
            ('０Ｏｏ１Ｉｉ', '0OO1II'),  # look-alikes kept, for check_code
            ('ſ', 'ſ'),  # only ASCII letters are upper-cased
            ('', ''),
            (None, ''),
            ]
        for text, expected in cases:
            with self.subTest(text=text):
                self.assertEqual(normalize_code(text), expected)
        with self.assertRaises(TypeError):
            normalize_code(b'ABCD')

    def test_check_code_spellings(self):
        "check_code accepts the printed, lowercase and full-width forms"
        code = sample_codes(1, 6)[0]
        spellings = [
            code, code.lower(), format_code(code),
            format_code(code).lower(), ' '.join(code), f'  {code}\n',
            to_full_width(format_code(code)),
            to_full_width(' '.join(code.lower())),
            ]
        for text in spellings:
            with self.subTest(text=text):
                self.assertEqual(check_code(text), code)

    def test_check_code_bad(self):
        code = sample_codes(1, 7)[0]
        cases = [
            (code[:16], 'bad_code'),
            (code + '2', 'bad_code'),
            ('', 'bad_code'),
            (None, 'bad_code'),
            (code[:5] + '.' + code[6:], 'bad_code'),
            (code[:5] + 'Ä' + code[6:], 'bad_code'),
            (code[:16] + ALPHABET[(ALPHABET.index(code[16]) + 1) % 32],
                'bad_check'),
            ]
        for symbol in '0O1Ioi':
            cases.append((code[:3] + symbol + code[4:], 'bad_code'))
            cases.append((code[:16] + symbol, 'bad_code'))
        for text, expected in cases:
            with self.subTest(text=text):
                self.assertEqual(error_code(check_code, text), expected)

    def test_error_masks_code(self):
        "The error carries the masked code and never the code itself"
        code = sample_codes(1, 8)[0]
        wrong = code[:16] + ALPHABET[(ALPHABET.index(code[16]) + 1) % 32]
        for text in [wrong, code[:3] + 'O' + code[4:]]:
            with self.subTest(text=text):
                with self.assertRaises(CouponError) as cm:
                    check_code(text)
                error = cm.exception
                self.assertIsInstance(error, CodedError)
                self.assertEqual(error.status, 400)
                self.assertEqual(error.params, {'code': mask_code(text)})
                self.assertNotIn(text, error.message)
                self.assertNotIn(text, repr(error))
                self.assertNotIn(text, str(error.params))

    def test_format(self):
        code = sample_codes(1, 9)[0]
        printed = format_code(code)
        self.assertRegex(printed, r'\A(?:[2-9A-Z]{4}-){4}[2-9A-Z]\Z')
        self.assertEqual(printed.replace('-', ''), code)
        self.assertEqual(format_code(printed.lower()), printed)
        self.assertEqual(format_code('2' * 17), '2222-2222-2222-2222-2')
        self.assertEqual(error_code(format_code, code[:16]), 'bad_code')

    def test_mask(self):
        cases = [
            ('ABCDEFGHJKLMNPQRS', 'ABCD***********RS'),
            ('ABCDEFG', 'ABCD*FG'),
            ('ABCDEF', '******'),
            ('AB', '**'),
            ('', ''),
            (None, ''),
            ]
        for code, expected in cases:
            with self.subTest(code=code):
                self.assertEqual(mask_code(code), expected)


class TokenTestCase(unittest.TestCase):
    "Test the signed tokens of the QR codes"

    def setUp(self):
        self.code = sample_codes(1, 10)[0]
        self.token = sign_token(KEY, self.code, NOW)

    def test_format(self):
        "The token is DRC1.<code>.<expires_at>.<16 bytes of HMAC-SHA256>"
        self.assertRegex(self.token,
            r'\ADRC1\.[2-9A-Z]{17}\.[0-9]+\.[A-Za-z0-9_-]{22}\Z')
        message = f'DRC1.{self.code}.{NOW}'.encode('ascii')
        signature = base64.urlsafe_b64encode(
            hmac.new(KEY, message, hashlib.sha256).digest()[:16]
            ).rstrip(b'=').decode('ascii')
        self.assertEqual(self.token, f'DRC1.{self.code}.{NOW}.{signature}')

    def test_sign_normalizes(self):
        "The code is signed in its normalized form"
        self.assertEqual(sign_token(KEY, format_code(self.code).lower(), NOW),
            self.token)

    def test_round_trip(self):
        for now in [NOW - 300, NOW - 0.5, NOW]:
            with self.subTest(now=now):
                self.assertEqual(read_payload(KEY, self.token, now),
                    (self.code, NOW))
        self.assertEqual(read_payload(KEY, f' {self.token}\r\n', NOW),
            (self.code, NOW))
        token = sign_token(KEY, self.code, 0)
        self.assertEqual(read_payload(KEY, token, 0), (self.code, 0))

    def test_bare_code(self):
        "A typed code is read without expiry, in any accepted spelling"
        for text in [self.code, format_code(self.code).lower(),
                to_full_width(format_code(self.code))]:
            with self.subTest(text=text):
                self.assertEqual(read_payload(KEY, text, NOW),
                    (self.code, None))
        wrong = self.code[:16] + (
            '2' if self.code[16] != '2' else '3')
        self.assertEqual(error_code(read_payload, KEY, wrong, NOW),
            'bad_check')
        for text in ['hello', '', 'DRC1', self.code[:3] + '0' + self.code[4:]]:
            with self.subTest(text=text):
                self.assertEqual(error_code(read_payload, KEY, text, NOW),
                    'bad_code')

    def test_expiry(self):
        "Valid at now == expires_at, expired just after"
        self.assertEqual(read_payload(KEY, self.token, NOW)[1], NOW)
        for now in [NOW + 0.001, NOW + 1, NOW + 86400]:
            with self.subTest(now=now):
                with self.assertRaises(CouponError) as cm:
                    read_payload(KEY, self.token, now)
                self.assertEqual(cm.exception.code, 'token_expired')
                self.assertEqual(cm.exception.params,
                    {'expired_at': '2024-06-15T08:00:00Z'})

    def test_tampered(self):
        "Any change to the code, the expiry or the signature is refused"
        _, code, expires, signature = self.token.split('.')
        other = code[:3] + ALPHABET[(ALPHABET.index(code[3]) + 1) % 32]
        other_valid = code_of(other + code[4:16])  # passes check_code
        self.assertEqual(check_code(other_valid), other_valid)
        tampered = [
            f'DRC1.{other_valid}.{expires}.{signature}',
            f'DRC1.{other}{code[4:]}.{expires}.{signature}',
            f'DRC1.{code.lower()}.{expires}.{signature}',
            f'DRC1.{format_code(code)}.{expires}.{signature}',
            f'DRC1.{code}.{int(expires) + 1}.{signature}',
            f'DRC1.{code}.{int(expires) + 86400}.{signature}',
            f'DRC1.{code}.0{expires}.{signature}',
            f'DRC1.{code}.+{expires}.{signature}',
            f'drc1.{code}.{expires}.{signature}',
            f'DRC2.{code}.{expires}.{signature}',
            f'DRC1.{code}.{expires}.{signature[:-1]}',
            f'DRC1.{code}.{expires}.{signature}A',
            f'DRC1.{code}.{expires}.{signature}=',
            f'DRC1.{code}.{expires}.{signature}==',
            f'DRC1.{code}.{expires}.',
            ]
        # every other character at every position of the signature,
        # including the non-canonical spellings of its last character
        for position in range(len(signature)):
            for char in 'AB_-z9':
                if char != signature[position]:
                    tampered.append(f'DRC1.{code}.{expires}.'
                        f'{signature[:position]}{char}'
                        f'{signature[position + 1:]}')
        for text in tampered:
            with self.subTest(text=text):
                self.assertEqual(error_code(read_payload, KEY, text, NOW),
                    'bad_signature')

    def test_other_key(self):
        other = derive_token_key(bytes(range(1, 33)))
        self.assertEqual(error_code(read_payload, other, self.token, NOW),
            'bad_signature')
        # a signature is checked before the expiry: an expired token of
        # another key says bad_signature
        self.assertEqual(
            error_code(read_payload, other, self.token, NOW + 1000),
            'bad_signature')

    def test_garbage(self):
        for text in ['.', '...', 'a.b', 'DRC1.', 'DRC1...', 'DRC1.x.y.z',
                f'DRC1.{self.code}.-5.AAAAAAAAAAAAAAAAAAAAAA',
                f'DRC1.{self.code}.{NOW}',
                self.token + '.x', 'x.' + self.token,
                self.token.replace('1', '１', 1),
                f'DRC1.{self.code}.{"9" * 17}.AAAAAAAAAAAAAAAAAAAAAA',
                self.token[:-1] + 'é', self.token[:-1] + '\ud800',
                'https://example.com/c?' + self.token]:
            with self.subTest(text=text):
                self.assertEqual(error_code(read_payload, KEY, text, NOW),
                    'bad_signature')
        with self.assertRaises(TypeError):
            read_payload(KEY, None, NOW)
        with self.assertRaises(TypeError):
            read_payload(KEY, self.token.encode(), NOW)

    def test_signed_bad_code(self):
        "A signed code is still checked (sign_token refuses to sign one)"
        bad = self.code[:16] + ('2' if self.code[16] != '2' else '3')
        self.assertEqual(error_code(sign_token, KEY, bad, NOW), 'bad_check')
        message = f'DRC1.{bad}.{NOW}'.encode('ascii')
        signature = base64.urlsafe_b64encode(
            hmac.new(KEY, message, hashlib.sha256).digest()[:16]
            ).rstrip(b'=').decode('ascii')
        self.assertEqual(error_code(read_payload, KEY,
                f'DRC1.{bad}.{NOW}.{signature}', NOW), 'bad_check')

    def test_sign_bad_arguments(self):
        self.assertEqual(error_code(sign_token, KEY, 'ABC', NOW), 'bad_code')
        for key in [b'short', bytes(31)]:
            with self.subTest(key=key):
                self.assertEqual(error_code(sign_token, key, self.code, NOW),
                    'key_too_short')
                self.assertEqual(
                    error_code(read_payload, key, self.token, NOW),
                    'key_too_short')
        for key in ['k' * 32, None]:
            with self.subTest(key=key):
                with self.assertRaises(TypeError):
                    sign_token(key, self.code, NOW)
        for expires_at in [float(NOW), str(NOW), True, None]:
            with self.subTest(expires_at=expires_at):
                with self.assertRaises(TypeError):
                    sign_token(KEY, self.code, expires_at)
        for expires_at in [-1, 10 ** 16]:
            with self.subTest(expires_at=expires_at):
                with self.assertRaises(ValueError):
                    sign_token(KEY, self.code, expires_at)

    def test_issue(self):
        self.assertEqual(issue_token(KEY, self.code, NOW - 300 + 0.9),
            self.token)
        self.assertEqual(issue_token(KEY, self.code, NOW - 60, ttl=60),
            self.token)
        token = issue_token(KEY, self.code, NOW)
        self.assertEqual(read_payload(KEY, token, NOW + 300),
            (self.code, NOW + 300))
        self.assertEqual(error_code(read_payload, KEY, token, NOW + 301),
            'token_expired')
        for ttl in [0, -5, 1.5, True]:
            with self.subTest(ttl=ttl):
                with self.assertRaises(ValueError):
                    issue_token(KEY, self.code, NOW, ttl=ttl)

    def test_derive_token_key(self):
        self.assertEqual(len(KEY), 32)
        self.assertEqual(derive_token_key(MASTER), KEY)
        self.assertEqual(derive_token_key(bytearray(MASTER)), KEY)
        self.assertNotEqual(derive_token_key(bytes(range(1, 33))), KEY)
        self.assertNotEqual(derive_token_key(MASTER + b'\x00'), KEY)
        self.assertNotIn(KEY, derive_keys(MASTER))
        self.assertNotEqual(KEY, MASTER)
        # RFC 5869 with an empty salt (HashLen zero bytes) and one block
        prk = hmac.new(bytes(32), MASTER, hashlib.sha256).digest()
        okm = hmac.new(prk, b'dualrec coupon token v1\x01',
            hashlib.sha256).digest()
        self.assertEqual(KEY, okm)
        self.assertEqual(error_code(derive_token_key, bytes(31)),
            'key_too_short')
        with self.assertRaises(TypeError):
            derive_token_key('x' * 32)


class ValidityTestCase(unittest.TestCase):
    "Test the validity windows"

    def test_validity(self):
        issue = D(2024, 6, 15)
        # kwargs, (first_day, last_day)
        cases = [
            (dict(kind='fixed', start=D(2024, 7, 1), end=D(2024, 7, 31)),
                (D(2024, 7, 1), D(2024, 7, 31))),
            (dict(kind='fixed', start=D(2024, 6, 1), end=D(2024, 6, 1)),
                (D(2024, 6, 1), D(2024, 6, 1))),
            # fixed ignores the issue day, even after the end
            (dict(kind='fixed', start=D(2024, 1, 1), end=D(2024, 1, 31)),
                (D(2024, 1, 1), D(2024, 1, 31))),
            (dict(kind='fixed', start=D(2024, 1, 1), end=D(2024, 12, 31),
                    days=3),
                (D(2024, 1, 1), D(2024, 12, 31))),
            (dict(kind='days', days=1), (issue, issue)),
            (dict(kind='days', days=30), (issue, D(2024, 7, 14))),
            (dict(kind='days', days=366), (issue, D(2025, 6, 15))),
            # clipped by the batch's window
            (dict(kind='days', days=30, start=D(2024, 7, 1),
                    end=D(2024, 7, 10)),
                (D(2024, 7, 1), D(2024, 7, 10))),
            (dict(kind='days', days=30, start=D(2024, 6, 1),
                    end=D(2024, 12, 31)),
                (issue, D(2024, 7, 14))),
            (dict(kind='days', days=30, end=D(2024, 6, 20)),
                (issue, D(2024, 6, 20))),
            (dict(kind='days', days=30, start=D(2024, 7, 14)),
                (D(2024, 7, 14), D(2024, 7, 14))),
            (dict(kind='days', days=30, end=issue), (issue, issue)),
            ]
        for kwargs, expected in cases:
            with self.subTest(**kwargs):
                self.assertEqual(validity(issue, **kwargs), expected)

    def test_validity_errors(self):
        issue = D(2024, 6, 15)
        cases = [
            dict(kind='fixed'),
            dict(kind='fixed', start=D(2024, 7, 1)),
            dict(kind='fixed', end=D(2024, 7, 1)),
            dict(kind='fixed', start=D(2024, 7, 2), end=D(2024, 7, 1)),
            dict(kind='days'),
            dict(kind='days', days=0),
            dict(kind='days', days=-1),
            dict(kind='days', days=1.5),
            dict(kind='days', days='30'),
            dict(kind='days', days=True),
            # clipped to nothing
            dict(kind='days', days=30, start=D(2024, 7, 15)),
            dict(kind='days', days=30, end=D(2024, 6, 14)),
            dict(kind='days', days=30, start=D(2024, 7, 2),
                end=D(2024, 7, 1)),
            dict(kind='weeks', days=3),
            dict(kind=None),
            ]
        for kwargs in cases:
            with self.subTest(**kwargs):
                with self.assertRaises(CouponError) as cm:
                    validity(issue, **kwargs)
                self.assertEqual(cm.exception.code, 'bad_validity')
                self.assertEqual(cm.exception.params['kind'],
                    kwargs['kind'])

    def test_validity_datetime(self):
        "Days are dates, not datetimes"
        moment = dt.datetime(2024, 6, 15, 8)
        with self.assertRaises(TypeError):
            validity(moment, 'days', days=3)
        with self.assertRaises(TypeError):
            validity(D(2024, 6, 15), 'fixed', start=moment,
                end=D(2024, 7, 1))
        with self.assertRaises(TypeError):
            validity(D(2024, 6, 15), 'days', days=3, end='2024-07-01')

    def test_usable_on(self):
        first, last = D(2024, 7, 1), D(2024, 7, 31)
        cases = [
            (D(2024, 6, 30), 'not_started'),
            (D(2024, 7, 1), None),
            (D(2024, 7, 15), None),
            (D(2024, 7, 31), None),
            (D(2024, 8, 1), 'expired'),
            ]
        for day, expected in cases:
            with self.subTest(day=day):
                self.assertEqual(usable_on(day, first, last), expected)
        self.assertIsNone(usable_on(first, first, first))
        with self.assertRaises(TypeError):
            usable_on(dt.datetime(2024, 7, 1), first, last)

    def test_returnable(self):
        redeemed = D(2024, 6, 15)
        # today, window_days, returnable
        cases = [
            (redeemed, 0, True),
            (D(2024, 6, 16), 0, False),
            (D(2024, 6, 16), 1, True),
            (D(2024, 6, 17), 1, False),
            (D(2024, 6, 22), 7, True),
            (D(2024, 6, 23), 7, False),
            (D(2024, 7, 15), 30, True),
            (D(2024, 7, 16), 30, False),
            (redeemed, -1, False),
            (D(2024, 6, 14), 0, True),  # a day of clock skew
            (D(2024, 6, 14), -1, False),
            ]
        for today, window, expected in cases:
            with self.subTest(today=today, window=window):
                self.assertIs(returnable(redeemed, today, window), expected)
        with self.assertRaises(TypeError):
            returnable(dt.datetime(2024, 6, 15), redeemed, 1)


if __name__ == '__main__':
    unittest.main()
