# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""What the command-line programs of the module share (worker, rotate,
audit_export): the backend of their configuration and an open pool."""
import os
import sys


def reexec_for_backend(configfile, module, args=None):
    """Start the program again with the database URI of configfile in the
    environment when trytond's backend was chosen before it was read.

    ``python -m trytond.modules.dualrec_core.<program>`` imports the
    module's package, hence trytond.backend, which picks its backend from
    the URI it finds at import time: the default one (SQLite), not the one
    of the configuration files.  module is the program's ``__spec__.name``,
    args its arguments (None: those of the command line)."""
    from urllib.parse import urlparse

    from trytond import backend, config
    config.update_etc(configfile)
    uri = config.get('database', 'uri', default='')
    if (backend.name != urlparse(uri).scheme
            and os.environ.get('TRYTOND_DATABASE_URI') != uri):
        os.environ['TRYTOND_DATABASE_URI'] = uri
        os.execv(sys.executable, [sys.executable, '-m', module,
                *(sys.argv[1:] if args is None else args)])


def open_pool(configfile, database):
    "Read configfile and return the initialised pool of database."
    from trytond import config
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    config.update_etc(configfile)
    Pool.start()
    pool = Pool(database)
    with Transaction().start(database, 0, readonly=True):
        pool.init()
    return pool
