#!/usr/bin/env python3
# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Refresh a module's locale/zh_CN.po from the database and report gaps.

    .venv/bin/python scripts/translations.py dualrec_core

exports the module's messages with trytond-admin (keeping the translations
already there), clears the fuzzy guesses trytond borrows from other modules,
and lists every message still untranslated; it exits non-zero when one is.
"""
import subprocess
import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent


def main(modules):
    missing = 0
    for module in modules:
        path = ROOT / 'addons' / module / 'locale' / 'zh_CN.po'
        # trytond's export drops some existing translations (records of
        # noupdate data): keep every msgstr the file had.
        known = {(e.msgctxt, e.msgid): e.msgstr
            for e in polib.pofile(str(path)) if e.msgstr
            and 'fuzzy' not in e.flags} if path.exists() else {}
        subprocess.run([str(ROOT / '.venv/bin/trytond-admin'),
                '-c', 'trytond.conf', 'var/paths.conf', '-d', 'dualrec',
                '-u', module, '-l', 'zh_CN', '--export-translations'],
            check=True, cwd=ROOT)
        po = polib.pofile(str(path))
        for entry in po:
            if 'fuzzy' in entry.flags:
                entry.flags.remove('fuzzy')
                entry.msgstr = ''
            if not entry.msgstr:
                entry.msgstr = known.get((entry.msgctxt, entry.msgid), '')
            if entry.msgid.strip() and not entry.msgstr:
                missing += 1
                print(f'{module}: {entry.msgctxt} | {entry.msgid}')
        po.save(str(path))
    return 1 if missing else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
