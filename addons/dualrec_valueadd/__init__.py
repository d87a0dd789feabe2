# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
# The HTTP routes register themselves when imported.
from . import call_push, routes, scan_routes  # noqa: F401
