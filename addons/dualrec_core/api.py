# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import hashlib
import secrets

from sql import Literal, Null

from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access


def _digest(token):
    return hashlib.sha256(token.encode('utf-8')).hexdigest()


class ApiToken(ModelSQL, ModelView):
    "A bearer token of the JSON API; only its digest is stored."
    __string__ = "API Token"
    __name__ = 'dualrec.api.token'

    user = fields.Many2One('res.user', "User", required=True, readonly=True,
        ondelete='CASCADE', help="The user the token acts as.")
    key_digest = fields.Char("Key Digest", required=True, readonly=True,
        help="The SHA-256 digest of the token.")
    expires_at = fields.Timestamp("Expires At", required=True,
        readonly=True, help="When the token stops working.")
    revoked_at = fields.Timestamp("Revoked At", readonly=True,
        help="When the token was revoked.")
    ip_address = fields.Char("IP Address", readonly=True,
        help="Where the login came from.")
    user_agent = fields.Char("User Agent", readonly=True,
        help="The client program that logged in.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('key_digest_unique', Unique(t, t.key_digest),
                'dualrec_core.msg_api_token_unique'),
            ]
        cls._order = [('id', 'DESC')]
        cls._buttons.update({
                'revoke': {
                    'invisible': Eval('revoked_at', None) != None,  # noqa
                    'depends': ['revoked_at'],
                    },
                })

    @classmethod
    @without_check_access
    def issue(cls, user_id, hours, ip_address=None, user_agent=None):
        "Create a token for user_id valid for hours; return its secret."
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        secret = secrets.token_urlsafe(32)
        token, = cls.create([{
                    'user': user_id,
                    'key_digest': _digest(secret),
                    'expires_at': dt.datetime.now() + dt.timedelta(
                        hours=hours),
                    'ip_address': ip_address,
                    'user_agent': (user_agent or '')[:512] or None,
                    }])
        AuditLog.log('token_issue', [token], user=user_id)
        return secret, token

    @classmethod
    @without_check_access
    def find(cls, secret):
        "Return the valid token of secret, or None."
        if not secret:
            return None
        # one query: every API call authenticates
        pool = Pool()
        User = pool.get('res.user')
        token, user = cls.__table__(), User.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*token.join(user, condition=user.id == token.user)
            .select(token.id, token.user,
                where=(token.key_digest == _digest(secret))
                & (token.revoked_at == Null)
                & (token.expires_at > dt.datetime.now())
                & (user.active == Literal(True)),
                limit=1))
        row = cursor.fetchone()
        return cls(row[0], user=row[1]) if row else None

    @classmethod
    @ModelView.button
    def revoke(cls, tokens):
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        tokens = [t for t in tokens if not t.revoked_at]
        if tokens:
            with without_check_access():
                cls.write(tokens, {'revoked_at': dt.datetime.now()})
            AuditLog.log('token_revoke', tokens)


class UserApplication(metaclass=PoolMeta):
    __name__ = 'res.user.application'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.application.selection.append(('dualrec', "Dual Recording API"))

    @classmethod
    @without_check_access
    def find_dualrec(cls, key):
        "Return the validated dualrec application of key, or None."
        if not key:
            return None
        applications = cls.search([
                ('key', '=', key),
                ('application', '=', 'dualrec'),
                ('state', '=', 'validated'),
                ('user.active', '=', True),
                ], limit=1)
        return applications[0] if applications else None
