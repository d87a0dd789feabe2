# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The framework-free package stays free of the framework."""
import importlib
import pkgutil
import re
import subprocess
import sys
import unittest
from pathlib import Path

import dualrec
from dualrec.errors import CodedError

PACKAGE = Path(dualrec.__file__).parent


def modules():
    for info in pkgutil.walk_packages([str(PACKAGE)], 'dualrec.'):
        if '.tests' not in info.name:
            yield info.name


class PackageTestCase(unittest.TestCase):
    "Test the package imports nothing from trytond"

    def test_no_trytond_import(self):
        "no module of the package names trytond in an import"
        for path in PACKAGE.rglob('*.py'):
            text = path.read_text(encoding='utf-8')
            self.assertIsNone(
                re.search(r'^\s*(from|import)\s+trytond', text, re.M),
                msg=str(path))

    def test_import_without_trytond(self):
        "every module imports in a process where trytond cannot be found"
        names = sorted(set(modules()) - {'dualrec.testing'})
        code = (
            'import sys\n'
            'class Block:\n'
            '    def find_spec(self, name, path=None, target=None):\n'
            '        if name == "trytond" or name.startswith("trytond."):\n'
            '            raise ImportError(name)\n'
            'sys.meta_path.insert(0, Block())\n'
            f'for name in {names!r}:\n'
            '    __import__(name)\n'
            'print("ok")\n')
        result = subprocess.run([sys.executable, '-c', code],
            capture_output=True, text=True)
        self.assertEqual(result.stdout.strip(), 'ok', result.stderr)

    def test_one_error_class(self):
        "every coded error of the package is a CodedError"
        from dualrec import media, pii, upload
        from dualrec.crypto import envelope
        for error in [media.MediaError, pii.PIIError, upload.UploadError,
                envelope.EnvelopeError]:
            self.assertTrue(issubclass(error, CodedError), error)
        failure = upload.UploadError('too_large', 413, {'limit': 1})
        self.assertEqual((failure.code, failure.status, failure.params),
            ('too_large', 413, {'limit': 1}))

    def test_modules_import(self):
        "every module of the package imports"
        for name in modules():
            importlib.import_module(name)
