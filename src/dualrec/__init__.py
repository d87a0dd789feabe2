# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The framework-free code of the dualrec suite.

Nothing here imports trytond: personal data (``pii``), the chunk store of
resumable uploads (``upload``), encryption at rest and the evidence package
(``crypto``), the media pipeline (``media``), the audit hash chain
(``audit``), retention and the recording obligation (``retention``,
``rules``) and quality inspection (``qc``).  The addons import this package;
every refusal is a ``dualrec.errors.CodedError``.
"""
