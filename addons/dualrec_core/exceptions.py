# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError, ValidationError


class BranchError(ValidationError):
    pass


class BranchDeleteError(UserError):
    pass


class ProductError(ValidationError):
    pass


class ScriptFrozenError(UserError):
    pass


class AuditError(UserError):
    pass


class PIIKeyError(UserError):
    pass


class TicketError(UserError):
    pass


class SystemFieldError(AccessError):
    "A write or create of a field only the system sets."
    pass


class RecordingError(UserError):
    pass


class UploadSessionError(UserError):
    "A refused upload, with the API code and HTTP status to answer with."

    def __init__(self, message, code, status=400, params=None):
        super().__init__(message)
        self.code = code
        self.status = status
        self.params = dict(params or {})


class RetentionError(UserError):
    pass
