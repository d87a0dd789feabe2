# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The one error class of the framework-free package."""


class CodedError(ValueError):
    """A refusal with a short stable ``code`` (to select a translated
    message), the ``params`` to format it with and an untranslated English
    ``message`` as fallback.  ``status`` is the HTTP status a web layer
    answers with (400 unless the subclass or the raiser says otherwise)."""

    status = 400

    def __init__(self, code, message=None, params=None, status=None):
        message = message if message is not None else code
        super().__init__(message)
        self.code = code
        self.message = message
        self.params = dict(params or {})
        if status is not None:
            self.status = status

    def __str__(self):
        return self.message

    def __repr__(self):
        return f'{type(self).__name__}({self.code!r}, {self.message!r})'
