# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from . import playback, recorder, routes  # noqa: F401  (register the HTTP routes)
