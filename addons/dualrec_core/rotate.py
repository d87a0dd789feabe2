# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Move the stored recordings to the active media master key.

    python -m trytond.modules.dualrec_core.rotate -c trytond.conf -d dualrec

After a new master key is added in front of DUALREC_MEDIA_KEYS (the old one
kept behind it, to decrypt), this re-wraps the data key of every stored
file still under another key: only the headers are rewritten, not the
media.  Each recording is committed on its own, so a stopped run goes on
where it stopped; the old key can be dropped once it reports nothing left.
"""
import argparse
import json
import sys

from .cli import open_pool, reexec_for_backend


def main(args=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-c', '--config', nargs='+', default=[])
    parser.add_argument('-d', '--database', required=True)
    options = parser.parse_args(args)

    reexec_for_backend(options.config, __spec__.name, args)
    from trytond.transaction import Transaction

    pool = open_pool(options.config, options.database)
    with Transaction().start(options.database, 0, readonly=True):
        Recording = pool.get('dualrec.recording')
        ids = [r.id for r in Recording.to_rotate()]
    done = 0
    for id_ in ids:
        with Transaction().start(options.database, 0) as transaction:
            Recording = pool.get('dualrec.recording')
            Recording.rotate([Recording(id_)])
            transaction.commit()
            done += 1
    json.dump({'rotated': done}, sys.stdout)
    print()


if __name__ == '__main__':
    main()
