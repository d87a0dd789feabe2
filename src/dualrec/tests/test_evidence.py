# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import base64
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import unittest
import zipfile

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey)
from cryptography.hazmat.primitives.asymmetric.rsa import (
    generate_private_key)

from dualrec.crypto import evidence
from dualrec.crypto.evidence import (
    FORMAT, EvidenceError, build_manifest, canonical_json, check_manifest,
    generate_signing_key, load_signing_key, public_key_fingerprint,
    public_key_pem, sign_manifest, signing_key_from_environ, verify_package,
    write_package)

SEED = bytes(range(32))
SEED_B64 = base64.b64encode(SEED).decode()
# A few KB that are not all alike, so that flipped bytes are not repeats.
MP4 = b'\x00\x00\x00\x18ftypmp42' + hashlib.sha256(b'x').digest() * 150
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def manifest_for(content=MP4, **fields):
    values = dict(
        ticket_number='DR2024061500001',
        product='安心人寿两全保险',
        branch='北京分公司',
        salesperson='王小明 (E1024)',
        recorded_at=dt.datetime(2024, 6, 15, 2, 0, 0),
        uploaded_at=dt.datetime(2024, 6, 15, 2, 31, 5, 250000),
        mp4_sha256=hashlib.sha256(content).hexdigest(),
        mp4_size=len(content),
        original_sha256='AB' * 32,
        original_size=52428800,
        timeline=[
            {'sequence': 1, 'node': '身份确认',
                'started_at': dt.datetime(2024, 6, 15, 2, 0, 3),
                'confirmed_at': dt.datetime(2024, 6, 15, 2, 1, 0)},
            {'sequence': 2, 'node': '犹豫期告知',
                'started_at': '2024-06-15T02:01:02Z'},
            ],
        duration=1800.5,
        video_codec='h264',
        audio_codec='aac',
        width=1280,
        height=720,
        key_id='master-2024',
        pipeline={'ffmpeg': '6.1', 'crf': 28, 'preset': 'medium'},
        details={'policyholder': '张*', 'id_number': '110***********123X'},
        issuer='中国某某人寿保险股份有限公司',
        created_at=dt.datetime(2024, 6, 16, 9, 0, tzinfo=dt.timezone.utc))
    values.update(fields)
    return build_manifest(**values)


def package_bytes(manifest=None, key=None, content=MP4):
    buffer = io.BytesIO()
    write_package(buffer, [content[:1000], content[1000:]],
        manifest or manifest_for(content), key or load_signing_key(SEED_B64))
    return buffer.getvalue()


def rebuild(data, replace=None, remove=(), add=()):
    """Return the package ``data`` rewritten with valid ZIP structures.

    ``replace`` maps a name to a function of the old content; ``add`` is
    a list of (name, content) appended.
    """
    replace = replace or {}
    output = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(output, 'w') as target:
        for info in source.infolist():
            if info.filename in remove:
                continue
            content = source.read(info)
            if info.filename in replace:
                content = replace[info.filename](content)
            target.writestr(info, content)
        for name, content in add:
            target.writestr(name, content)
    return output.getvalue()


def flip(content, index):
    "Return ``content`` with the lowest bit of byte ``index`` flipped."
    data = bytearray(content)
    data[index] ^= 0x01
    return bytes(data)


def set_declared_size(data, name, size):
    "Return ``data`` with the central directory size of ``name`` changed."
    data = bytearray(data)
    offset = 0
    while True:
        offset = data.index(b'PK\x01\x02', offset)
        name_length, = struct.unpack_from('<H', data, offset + 28)
        if data[offset + 46:offset + 46 + name_length] == name.encode():
            struct.pack_into('<I', data, offset + 24, size)
            return bytes(data)
        offset += 4


class EvidenceTestCase(unittest.TestCase):
    "Test the evidence packages"

    @classmethod
    def setUpClass(cls):
        cls.key = load_signing_key(SEED_B64)
        cls.fingerprint = public_key_fingerprint(cls.key)
        cls.manifest = manifest_for()
        cls.package = package_bytes(cls.manifest, cls.key)

    def assertRefused(self, code, data, **kwargs):
        with self.assertRaises(EvidenceError) as context:
            verify_package(io.BytesIO(data), **kwargs)
        self.assertEqual(context.exception.code, code,
            context.exception.message)
        return context.exception

    # Canonical JSON

    def test_canonical_json_key_order(self):
        "The canonical bytes do not depend on the order of the keys"
        self.assertEqual(
            canonical_json({'b': 1, 'a': {'y': [1, 2], 'x': None}}),
            canonical_json({'a': {'x': None, 'y': (1, 2)}, 'b': 1}))
        self.assertEqual(canonical_json({'b': 1, 'a': True, 'B': 0.5}),
            b'{"B":0.5,"a":true,"b":1}')

    def test_canonical_json_unicode(self):
        "Non-ASCII text is written as UTF-8, never normalized"
        self.assertEqual(canonical_json({'名': '张三', 'é': '\u2028'}),
            '{"é":"\u2028","名":"张三"}'.encode('utf-8'))
        self.assertNotEqual(canonical_json('\u00e9'),
            canonical_json('e\u0301'))
        self.assertEqual(canonical_json('a"\\\n'), b'"a\\"\\\\\\n"')

    def test_canonical_json_refusals(self):
        "NaN, infinities, non-string keys and non-JSON types are refused"
        for value, field in [
                ({'a': float('nan')}, 'a'),
                ({'a': [1, float('inf')]}, 'a[1]'),
                ({1: 'a'}, ''),
                ({'a': {1, 2}}, 'a'),
                ({'a': b'bytes'}, 'a'),
                ({'a': dt.date(2024, 1, 1)}, 'a'),
                ({'a': '\ud800'}, 'a'),
                ]:
            with self.subTest(value=value):
                with self.assertRaises(EvidenceError) as context:
                    canonical_json(value)
                self.assertEqual(context.exception.code, 'bad_format')
                self.assertEqual(context.exception.params['field'], field)

    # Keys

    def test_load_signing_key_spellings(self):
        "A key is read from PEM or from the base64 of its seed"
        raw = self.key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        pem = self.key.private_bytes(serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        urlsafe = base64.urlsafe_b64encode(SEED).decode().rstrip('=')
        for value in [SEED_B64, f'  {SEED_B64}\n', urlsafe, pem,
                pem.decode()]:
            with self.subTest(value=value):
                key = load_signing_key(value)
                self.assertEqual(key.public_key().public_bytes(
                        serialization.Encoding.Raw,
                        serialization.PublicFormat.Raw), raw)
        encrypted = self.key.private_bytes(serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b'secret'))
        self.assertEqual(public_key_fingerprint(
                load_signing_key(encrypted, password=b'secret')),
            self.fingerprint)

    def test_load_signing_key_refusals(self):
        "Anything but an Ed25519 private key is refused without echo"
        rsa = generate_private_key(65537, 1024).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        encrypted = self.key.private_bytes(serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b'secret'))
        for value in [None, '', 'not a key!', base64.b64encode(SEED[:31]),
                base64.b64encode(SEED + b'x').decode(), rsa, encrypted,
                public_key_pem(self.key), '密钥']:
            with self.subTest(value=value):
                with self.assertRaises(EvidenceError) as context:
                    load_signing_key(value)
                self.assertEqual(context.exception.code, 'key_format')
                self.assertNotIn(SEED_B64, str(context.exception))

    def test_signing_key_from_environ(self):
        "The key comes from the environment text or file, not both"
        key = signing_key_from_environ({evidence.ENV_KEY: SEED_B64})
        self.assertEqual(public_key_fingerprint(key), self.fingerprint)
        with tempfile.NamedTemporaryFile('w', suffix='.pem') as file:
            file.write(generate_signing_key())
            file.flush()
            signing_key_from_environ({evidence.ENV_KEY_FILE: file.name})
            with self.assertRaises(EvidenceError) as context:
                signing_key_from_environ({evidence.ENV_KEY: SEED_B64,
                        evidence.ENV_KEY_FILE: file.name})
            self.assertEqual(context.exception.code, 'key_format')
        for environ in [{}, {evidence.ENV_KEY_FILE: '/nonexistent/key'}]:
            with self.assertRaises(EvidenceError) as context:
                signing_key_from_environ(environ)
            self.assertEqual(context.exception.code, 'key_missing')

    def test_public_key_pem_and_fingerprint(self):
        "The PEM is the standard one and the fingerprint hashes the raw key"
        public = self.key.public_key()
        self.assertEqual(public_key_pem(self.key), public.public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo))
        digest = hashlib.sha256(public.public_bytes(
                serialization.Encoding.Raw,
                serialization.PublicFormat.Raw)).hexdigest().upper()
        self.assertEqual(self.fingerprint.replace(' ', ''), digest)
        self.assertEqual(len(self.fingerprint.split(' ')), 16)
        self.assertEqual(public_key_fingerprint(public), self.fingerprint)
        self.assertIn('BEGIN PRIVATE KEY', generate_signing_key())

    # Manifest

    def test_build_manifest(self):
        "Times are written in UTC, digests in lower case, README listed"
        manifest = manifest_for(
            recorded_at=dt.datetime(2024, 6, 15, 10, 0,
                tzinfo=dt.timezone(dt.timedelta(hours=8))))
        self.assertEqual(manifest['format'], FORMAT)
        self.assertEqual(manifest['created_at'], '2024-06-16T09:00:00Z')
        self.assertEqual(manifest['recording']['recorded_at'],
            '2024-06-15T02:00:00Z')
        self.assertEqual(manifest['recording']['uploaded_at'],
            '2024-06-15T02:31:05.250000Z')
        self.assertEqual(manifest['recording']['original']['sha256'],
            'ab' * 32)
        self.assertEqual(manifest['timeline'][1]['confirmed_at'], None)
        self.assertEqual(manifest['files']['README.txt']['sha256'],
            hashlib.sha256(evidence.README_BYTES).hexdigest())
        self.assertEqual(set(manifest['files']),
            {'recording.mp4', 'README.txt'})
        self.assertEqual(json.loads(canonical_json(manifest)), manifest)

    def test_build_manifest_refusals(self):
        "A missing or invalid field is refused and named"
        for fields, field in [
                ({'ticket_number': ''}, 'ticket.number'),
                ({'product': None}, 'ticket.product'),
                ({'mp4_sha256': 'abc'}, 'files.recording.mp4.sha256'),
                ({'mp4_size': -1}, 'files.recording.mp4.size'),
                ({'original_size': True}, 'recording.original.size'),
                ({'recorded_at': '2024-06-15 02:00:00'},
                    'recording.recorded_at'),
                ({'uploaded_at': '2024-02-30T00:00:00Z'},
                    'recording.uploaded_at'),
                ({'duration': float('nan')}, 'recording.duration'),
                ({'duration': -1.0}, 'recording.duration'),
                ({'timeline': [{'sequence': 1}]}, 'timeline[0].node'),
                ({'timeline': [{'sequence': 1, 'node': 'a', 'x': 1}]},
                    'timeline[0].x'),
                ({'details': {'a': ['list']}}, 'ticket.details'),
                ({'pipeline': {'crf': float('inf')}}, 'pipeline.crf'),
                ]:
            with self.subTest(fields=fields):
                with self.assertRaises(EvidenceError) as context:
                    manifest_for(**fields)
                self.assertEqual(context.exception.code, 'bad_format')
                self.assertEqual(context.exception.params['field'], field)

    def test_build_manifest_unmasked_pii(self):
        "Plaintext resident IDs and mobile numbers are refused"
        for fields, field in [
                ({'details': {'id_number': '11010519491231002X'}},
                    'ticket.details.id_number'),
                ({'details': {'note': '身份证110105198001010016 已核'}},
                    'ticket.details.note'),
                ({'details': {'phone': '+86 13812345678'}},
                    'ticket.details.phone'),
                ({'timeline': [{'sequence': 1, 'node': '致电13812345678'}]},
                    'timeline[0].node'),
                ({'salesperson': '王五 13912345678'}, 'ticket.salesperson'),
                ]:
            with self.subTest(fields=fields):
                with self.assertRaises(EvidenceError) as context:
                    manifest_for(**fields)
                self.assertEqual(context.exception.code, 'unmasked_pii')
                self.assertEqual(context.exception.params['field'], field)
                self.assertNotIn('138', str(context.exception))
        # Masked values, a wrong check digit and longer digit runs pass.
        manifest_for(details={'id_number': '110105********002X',
                'phone': '138****5678', 'policy': '110105194912310022',
                'account': '6222021234567890123'})

    def test_check_manifest_strict(self):
        "Unknown fields and other formats are refused"
        manifest = json.loads(canonical_json(self.manifest))
        manifest['extra'] = 1
        with self.assertRaises(EvidenceError) as context:
            check_manifest(manifest)
        self.assertEqual(context.exception.params['field'], 'extra')
        manifest = json.loads(canonical_json(self.manifest))
        manifest['format'] = 'dualrec-evidence/2'
        self.assertRaises(EvidenceError, check_manifest, manifest)

    # Writing

    def test_write_sources(self):
        "The MP4 is read from chunks, a file or a path; output is stable"
        with tempfile.TemporaryDirectory() as directory:
            mp4_path = os.path.join(directory, 'in.mp4')
            with open(mp4_path, 'wb') as file:
                file.write(MP4)
            target = os.path.join(directory, 'package.zip')
            signature = write_package(
                target, mp4_path, self.manifest, self.key)
            with open(target, 'rb') as file:
                self.assertEqual(file.read(), self.package)
            self.assertEqual(stat.S_IMODE(os.stat(target).st_mode), 0o600)
            self.assertEqual(sorted(os.listdir(directory)),
                ['in.mp4', 'package.zip'])
            self.assertEqual(verify_package(target).fingerprint,
                self.fingerprint)
        buffer = io.BytesIO()
        self.assertEqual(write_package(
                buffer, io.BytesIO(MP4), self.manifest, self.key), signature)
        self.assertEqual(buffer.getvalue(), self.package)
        self.assertEqual(len(signature), 64)
        self.assertEqual(sign_manifest(self.manifest, self.key), signature)
        self.assertRaises(TypeError, write_package,
            io.BytesIO(), MP4, self.manifest, self.key)

    def test_write_layout(self):
        "The package holds the five files, the MP4 stored uncompressed"
        with zipfile.ZipFile(io.BytesIO(self.package)) as package:
            infos = {i.filename: i for i in package.infolist()}
            self.assertEqual(list(infos), ['README.txt', 'manifest.json',
                    'manifest.sig', 'public_key.pem', 'recording.mp4'])
            self.assertEqual(infos['recording.mp4'].compress_type,
                zipfile.ZIP_STORED)
            self.assertEqual(package.read('recording.mp4'), MP4)
            self.assertEqual(package.read('manifest.json'),
                canonical_json(self.manifest))
            self.assertEqual(base64.b64decode(package.read('manifest.sig')),
                sign_manifest(self.manifest, self.key))
            self.assertEqual(package.read('public_key.pem'),
                public_key_pem(self.key))
            readme = package.read('README.txt').decode('utf-8-sig')
            self.assertIn('How to verify', readme)
            self.assertIn('如何验证', readme)

    def test_write_hash_mismatch(self):
        "Files other than the manifest's are refused and nothing is left"
        for content in [flip(MP4, 100), MP4 + b'x', MP4[:-1], b'']:
            with self.subTest(size=len(content)):
                with tempfile.TemporaryDirectory() as directory:
                    target = os.path.join(directory, 'package.zip')
                    with self.assertRaises(EvidenceError) as context:
                        write_package(
                            target, [content], self.manifest, self.key)
                    self.assertEqual(context.exception.code, 'hash_mismatch')
                    self.assertEqual(
                        context.exception.params['file'], 'recording.mp4')
                    self.assertEqual(os.listdir(directory), [])
        stale = json.loads(canonical_json(self.manifest))
        stale['files']['README.txt']['sha256'] = '0' * 64
        with self.assertRaises(EvidenceError) as context:
            write_package(io.BytesIO(), [MP4], stale, self.key)
        self.assertEqual(context.exception.params['file'], 'README.txt')

    # Verification

    def test_good_package(self):
        "An untouched package verifies, with or without the trusted key"
        result = verify_package(io.BytesIO(self.package))
        self.assertIsNone(result.trusted)
        self.assertEqual(result.fingerprint, self.fingerprint)
        self.assertEqual(result.manifest, self.manifest)
        self.assertEqual({(f.name, f.size) for f in result.files},
            {('recording.mp4', len(MP4)),
                ('README.txt', len(evidence.README_BYTES))})
        json.dumps(result.as_dict())
        for trusted in [self.key.public_key(), public_key_pem(self.key),
                public_key_pem(self.key).decode(), self.fingerprint,
                self.fingerprint.replace(' ', '').lower(),
                'SHA256:' + self.fingerprint.replace(' ', ':')]:
            with self.subTest(trusted=trusted):
                result = verify_package(
                    io.BytesIO(self.package), trusted_public_key=trusted)
                self.assertIs(result.trusted, True)
        with self.assertRaises(EvidenceError) as context:
            verify_package(io.BytesIO(self.package), trusted_public_key='ab')
        self.assertEqual(context.exception.code, 'key_format')

    def test_tampered_mp4(self):
        "Any changed byte of the MP4 fails with hash_mismatch"
        for index in [0, 1, len(MP4) // 2, len(MP4) - 1]:
            with self.subTest(index=index):
                self.assertRefused('hash_mismatch', rebuild(self.package,
                        {'recording.mp4': lambda c: flip(c, index)}))
        # Raw bytes changed inside the ZIP: the CRC check sees it first.
        offset = self.package.index(MP4[:64])
        self.assertRefused('hash_mismatch', flip(self.package, offset + 500))
        error = self.assertRefused('hash_mismatch', rebuild(self.package,
                {'recording.mp4': lambda c: c + b'\x00'}))
        self.assertEqual(error.params['size'], len(MP4) + 1)
        error = self.assertRefused('hash_mismatch', rebuild(self.package,
                {'recording.mp4': lambda c: flip(c, 7)}))
        self.assertEqual(error.params['expected_sha256'],
            hashlib.sha256(MP4).hexdigest())

    def test_tampered_metadata(self):
        "Any changed byte of any metadata file fails"
        cases = [
            ('manifest.json', range(0, 900, 7), {'bad_signature'}),
            ('manifest.sig', range(89), {'bad_signature'}),
            ('public_key.pem', range(113), {'bad_format', 'bad_signature'}),
            ('README.txt', range(0, 2000, 97), {'hash_mismatch'}),
            ]
        for name, indexes, codes in cases:
            for index in indexes:
                with self.subTest(name=name, index=index):
                    tampered = rebuild(self.package,
                        {name: lambda c: flip(c, index)})
                    with self.assertRaises(EvidenceError) as context:
                        verify_package(io.BytesIO(tampered))
                    self.assertIn(context.exception.code, codes)
        # Raw bytes inside the deflated manifest.
        with zipfile.ZipFile(io.BytesIO(self.package)) as package:
            info = package.getinfo('manifest.json')
        self.assertRefused('bad_signature',
            flip(self.package, info.header_offset + 30 + 13 + 100))

    def test_manifest_signed_but_not_canonical(self):
        "A manifest signed by the key but not canonical is refused"
        pretty = json.dumps(self.manifest, indent=1).encode()

        def resign(content):
            return base64.b64encode(self.key.sign(pretty)) + b'\n'
        self.assertRefused('bad_format', rebuild(self.package, {
                    'manifest.json': lambda c: pretty,
                    'manifest.sig': resign}))

    def test_replaced_public_key(self):
        "Another public key fails; with a trusted key it is untrusted"
        other = rebuild(self.package,
            {'public_key.pem': lambda c: public_key_pem(OTHER_KEY)})
        self.assertRefused('bad_signature', other)
        error = self.assertRefused('untrusted_key', other,
            trusted_public_key=public_key_pem(self.key))
        self.assertEqual(error.params['fingerprint'],
            public_key_fingerprint(OTHER_KEY))

    def test_package_signed_by_another_key(self):
        "A package re-signed by another key only fails against the trusted key"
        forged = package_bytes(manifest_for(ticket_number='DR-FORGED'),
            OTHER_KEY)
        result = verify_package(io.BytesIO(forged))
        self.assertIsNone(result.trusted)
        self.assertEqual(result.fingerprint, public_key_fingerprint(OTHER_KEY))
        self.assertRefused('untrusted_key', forged,
            trusted_public_key=self.fingerprint)

    def test_missing_file(self):
        "Removing any file fails with missing_file"
        for name in ['manifest.json', 'manifest.sig', 'public_key.pem',
                'recording.mp4', 'README.txt']:
            with self.subTest(name=name):
                error = self.assertRefused('missing_file',
                    rebuild(self.package, remove=[name]))
                self.assertEqual(error.params['file'], name)

    def test_extra_file(self):
        "Adding any file fails with extra_file"
        for name in ['notes.txt', 'recording.MP4', 'folder/', 'a/b.mp4']:
            with self.subTest(name=name):
                error = self.assertRefused('extra_file',
                    rebuild(self.package, add=[(name, b'x')]))
                self.assertEqual(error.params['files'], [name])

    def test_unsafe_paths(self):
        "Entries escaping the folder or duplicated are refused"
        for name in ['../recording.mp4', 'a/../../x', '/etc/passwd',
                'C:/x', 'a\\..\\x', './x', 'a//b', 'x\x01']:
            with self.subTest(name=name):
                self.assertRefused('bad_format',
                    rebuild(self.package, add=[(name, b'x')]))
        with self.assertWarns(UserWarning):  # zipfile warns of duplicates
            duplicated = rebuild(self.package, add=[('recording.mp4', MP4)])
        self.assertRefused('bad_format', duplicated)

    def test_zip_bombs(self):
        "Declared sizes are checked before anything is inflated"
        self.assertRefused('hash_mismatch', set_declared_size(
                self.package, 'recording.mp4', 0xFFFFFFF0))
        self.assertRefused('bad_format', set_declared_size(
                self.package, 'manifest.json', 0x7FFFFFFF))
        self.assertRefused('bad_format', set_declared_size(
                self.package, 'public_key.pem', 1 << 20))
        self.assertRefused('extra_file', set_declared_size(rebuild(
                    self.package, add=[('bomb.bin', b'\x00' * 1000)]),
                'bomb.bin', 0xFFFFFFF0))
        many = rebuild(self.package,
            add=[(f'f{i}', b'') for i in range(evidence.MAX_ENTRIES)])
        self.assertRefused('bad_format', many)

    def test_not_a_package(self):
        "Something other than a ZIP fails with bad_format"
        for data in [b'', b'not a zip', self.package[:len(self.package) // 2],
                MP4]:
            with self.subTest(size=len(data)):
                self.assertRefused('bad_format', data)

    @unittest.skipUnless(shutil.which('openssl'), "openssl is missing")
    def test_openssl_verifies(self):
        "The README's OpenSSL steps verify a package without our code"
        with tempfile.TemporaryDirectory() as directory:
            with zipfile.ZipFile(io.BytesIO(self.package)) as package:
                package.extractall(directory)

            def run(*args, **kwargs):
                return subprocess.run(args, cwd=directory, check=True,
                    capture_output=True, **kwargs).stdout
            run('openssl', 'base64', '-d', '-A', '-in', 'manifest.sig',
                '-out', 'manifest.sig.bin')
            output = run('openssl', 'pkeyutl', '-verify', '-pubin',
                '-inkey', 'public_key.pem', '-rawin', '-in', 'manifest.json',
                '-sigfile', 'manifest.sig.bin')
            self.assertIn(b'Signature Verified Successfully', output)
            der = run('openssl', 'pkey', '-pubin', '-in', 'public_key.pem',
                '-outform', 'DER')
            self.assertEqual(hashlib.sha256(der[-32:]).hexdigest().upper(),
                self.fingerprint.replace(' ', ''))

    # Command line

    def run_cli(self, *args, module=False):
        # No Tryton configuration nor database: the verifier needs neither.
        env = {k: v for k, v in os.environ.items()
            if not k.startswith(('TRYTOND', 'DB_'))}
        command = (['-m', 'dualrec.crypto.evidence'] if module
            else [evidence.__file__])
        return subprocess.run([sys.executable, *command, *args], env=env,
            cwd=tempfile.gettempdir(), capture_output=True, text=True,
            encoding='utf-8', timeout=60)

    def test_cli(self):
        "The command line verifies, reports, and fails with exit status 1"
        with tempfile.TemporaryDirectory() as directory:
            good = os.path.join(directory, 'good.zip')
            bad = os.path.join(directory, 'bad.zip')
            trusted = os.path.join(directory, 'trusted.pem')
            with open(good, 'wb') as file:
                file.write(self.package)
            with open(bad, 'wb') as file:
                file.write(rebuild(self.package,
                        {'recording.mp4': lambda c: flip(c, 10)}))
            with open(trusted, 'wb') as file:
                file.write(public_key_pem(self.key))

            result = self.run_cli('verify', good, '--public-key', trusted)
            self.assertEqual(result.returncode, 0, result.stderr)
            for text in ['VERIFIED', 'DR2024061500001', '安心人寿两全保险',
                    '北京分公司', '王小明', '2024-06-15 02:00:00 UTC',
                    hashlib.sha256(MP4).hexdigest(), self.fingerprint,
                    'MATCHES']:
                self.assertIn(text, result.stdout)

            result = self.run_cli('verify', good, '--json', '--any-key')
            self.assertEqual(result.returncode, 0, result.stderr)
            report = json.loads(result.stdout)
            self.assertEqual(report['trusted_key'], 'not_given')
            self.assertIn('integrity only', report['integrity_only'])
            self.assertEqual(report['manifest']['ticket']['number'],
                'DR2024061500001')

            result = self.run_cli('verify', bad, '--any-key')
            self.assertEqual(result.returncode, 1)
            self.assertIn('NOT VERIFIED', result.stdout)
            self.assertIn('hash_mismatch', result.stdout)
            result = self.run_cli('verify', bad, '--json')
            self.assertEqual(result.returncode, 1)
            self.assertEqual(json.loads(result.stdout)['code'],
                'hash_mismatch')
            result = self.run_cli('verify', good, '--fingerprint',
                public_key_fingerprint(OTHER_KEY))
            self.assertEqual(result.returncode, 1)
            self.assertIn('untrusted_key', result.stdout)
            result = self.run_cli(
                'verify', os.path.join(directory, 'missing.zip'))
            self.assertEqual(result.returncode, 2)

            key_path = os.path.join(directory, 'key.pem')
            result = self.run_cli('keygen', key_path)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(stat.S_IMODE(os.stat(key_path).st_mode), 0o600)
            with open(key_path) as file:
                key = load_signing_key(file.read())
            self.assertIn(public_key_fingerprint(key), result.stdout)
            self.assertEqual(self.run_cli('keygen', key_path).returncode, 2)

    def test_cli_as_module(self):
        "python -m dualrec.crypto.evidence works without config"
        with tempfile.TemporaryDirectory() as directory:
            good = os.path.join(directory, 'good.zip')
            with open(good, 'wb') as file:
                file.write(self.package)
            result = self.run_cli('verify', good, '--any-key', module=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn('INTEGRITY ONLY', result.stdout)

    def test_cli_exit_codes_without_key(self):
        "Without the institution's key the verifier says integrity only"
        with tempfile.TemporaryDirectory() as directory:
            good = os.path.join(directory, 'good.zip')
            bad = os.path.join(directory, 'bad.zip')
            trusted = os.path.join(directory, 'trusted.pem')
            with open(good, 'wb') as file:
                file.write(self.package)
            with open(bad, 'wb') as file:
                file.write(rebuild(self.package,
                        {'recording.mp4': lambda c: flip(c, 10)}))
            with open(trusted, 'wb') as file:
                file.write(public_key_pem(self.key))
            # a package signed by another key is intact too: only the
            # institution's key tells them apart
            other = os.path.join(directory, 'other.zip')
            with open(other, 'wb') as file:
                file.write(package_bytes(key=OTHER_KEY))
            message = ("integrity only: the signer was not checked against "
                "the institution's key")
            for package in [good, other]:
                result = self.run_cli('verify', package)
                self.assertEqual(result.returncode, 3, result.stderr)
                self.assertIn(message, result.stdout)
                self.assertNotIn('VERIFIED', result.stdout)
                result = self.run_cli('verify', package, '--json')
                self.assertEqual(result.returncode, 3, result.stderr)
                self.assertEqual(json.loads(result.stdout)['integrity_only'],
                    message)
                result = self.run_cli('verify', package, '--any-key')
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertIn(message, result.stdout)
            result = self.run_cli('verify', good, '--public-key', trusted)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertNotIn(message, result.stdout)
            self.assertIn('VERIFIED', result.stdout)
            result = self.run_cli('verify', other, '--public-key', trusted)
            self.assertEqual(result.returncode, 1)
            self.assertIn('untrusted_key', result.stdout)
            # a damaged package fails whatever the key options
            self.assertEqual(self.run_cli('verify', bad).returncode, 1)
            # --any-key and --public-key exclude each other
            self.assertEqual(self.run_cli('verify', good, '--any-key',
                    '--public-key', trusted).returncode, 2)


if __name__ == '__main__':
    unittest.main()
