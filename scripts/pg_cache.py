#!/usr/bin/env python3
# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Keep trytond's PostgreSQL test templates in step with the addons.

    pg_cache.py URI --clean HASH   drop the test-* templates not marked HASH
    pg_cache.py URI --mark HASH    mark the unmarked test-* templates HASH
    pg_cache.py URI --drop NAME    drop database NAME if it exists

trytond names its templates after the module list only, so a template made
before a schema change would otherwise be restored as if it were current.
The mark is the comment of the template database.
"""
import sys

import psycopg
from psycopg import sql

QUERY = """SELECT d.datname, shobj_description(d.oid, 'pg_database')
    FROM pg_database d WHERE d.datname LIKE 'test-%%'"""


def main(uri, action, value):
    with psycopg.connect(uri.rstrip('/') + '/postgres', autocommit=True) as conn:
        mark = f'dualrec:{value}'
        if action == '--drop':
            conn.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)')
                .format(sql.Identifier(value)))
            return
        for name, comment in conn.execute(QUERY).fetchall():
            if action == '--clean' and comment != mark:
                conn.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)')
                    .format(sql.Identifier(name)))
            elif action == '--mark' and not comment:
                conn.execute(sql.SQL('COMMENT ON DATABASE {} IS {}').format(
                        sql.Identifier(name), sql.Literal(mark)))


if __name__ == '__main__':
    main(*sys.argv[1:])
