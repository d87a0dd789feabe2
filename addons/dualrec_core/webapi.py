# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The JSON API under /<database>/dualrec/api/v1/.

Every call but login runs as the authenticated user with access rights and
record rules checked, as the web client does.  Every answer is JSON; an
error is {"code": …, "message": …} with its HTTP status, in the user's
language, and changes nothing (its transaction is rolled back).
"""
import datetime as dt
import functools
import json
from decimal import Decimal
import logging

from werkzeug.exceptions import ClientDisconnected

from trytond.exceptions import UserError, UserWarning
from trytond.i18n import gettext
from trytond.model import Model
from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.protocols.wrappers import (
    Response, set_max_request_size, with_pool, with_transaction)
from trytond.backend import DatabaseOperationalError
from trytond.transaction import Transaction, TransactionError
from trytond.wsgi import app

from dualrec.errors import CodedError

from .exceptions import UploadSessionError

logger = logging.getLogger(__name__)
PREFIX = '/<database_name>/dualrec/api/v1'
MAX_CHUNK_REQUEST = 64 * 1024 * 1024


class ApiError(Exception):
    "An error answered as JSON; commit keeps what the call wrote."

    def __init__(self, status, code, message, params=None, commit=False):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.params = params or {}
        self.commit = commit


class ApiJSONEncoder(json.JSONEncoder):
    "Dates as ISO 8601 strings and decimals as strings, for any client."

    def default(self, obj):
        if isinstance(obj, (dt.date, dt.datetime, dt.time)):
            return obj.isoformat()
        if isinstance(obj, Decimal):
            return str(obj)
        return super().default(obj)


def json_response(data, status=200):
    return Response(json.dumps(data, cls=ApiJSONEncoder, ensure_ascii=False),
        status=status, content_type='application/json; charset=utf-8')


def request_language(request):
    "Return the Tryton language code asked by Accept-Language."
    for value, _ in request.accept_languages:
        value = value.replace('-', '_').lower()
        if value.startswith('zh'):
            return 'zh_CN'
        if value.startswith('en'):
            return 'en'
    return None


def bearer(request):
    header = request.headers.get('Authorization', '')
    scheme, _, value = header.partition(' ')
    return value.strip() if scheme.lower() == 'bearer' else None


def authenticate(request, pool):
    """Return (user id, token) of the bearer: a login token or the key of a
    validated 'dualrec' user application."""
    Token = pool.get('dualrec.api.token')
    Application = pool.get('res.user.application')
    secret = bearer(request)
    token = Token.find(secret)
    if token:
        return token.user.id, token
    application = Application.find_dualrec(secret)
    if application:
        return application.user.id, None
    raise ApiError(401, 'unauthorized',
        gettext('dualrec_core.msg_api_unauthorized'))


def serve(request, pool, func, kwargs=None, authenticated=True):
    """Answer request with func(request, pool, **kwargs) as every API call
    is answered: as the bearer (unless not authenticated) with its
    preferences, the access rights and record rules checked, in the
    language of Accept-Language; a JSON-able result or (result, status) is
    sent as JSON and an error as {code, message} with its status, its
    transaction rolled back."""
    kwargs = kwargs or {}
    transaction = Transaction()
    language = request_language(request)
    try:
        with transaction.set_context(
                language=language or transaction.language,
                _user_agent=request.headers.get('User-Agent')):
            if not authenticated:
                result = func(request, pool, **kwargs)
            else:
                user_id, token = authenticate(request, pool)
                User = pool.get('res.user')
                with transaction.set_user(user_id), \
                        transaction.set_context(
                            _dualrec_token=token.id if token else None):
                    context = User.get_api_context()
                    with transaction.set_context(
                            context, _check_access=True):
                        result = func(request, pool, **kwargs)
        if isinstance(result, Response):
            return result
        status = 200
        if isinstance(result, tuple):
            result, status = result
        return json_response(result, status)
    except ApiError as error:
        if not error.commit:
            transaction.rollback()
        return json_response({'code': error.code,
                'message': error.message, **error.params},
            error.status)
    except UploadSessionError as error:
        if error.code not in {'checksum_mismatch', 'not_video'}:
            transaction.rollback()
        params = {k: v for k, v in error.params.items()
            if k not in {'code', 'message'}}
        return json_response({'code': error.code,
                'message': error.message, **params}, error.status)
    except CodedError as error:
        # the refusals of the framework-free code and of the addons' routes
        transaction.rollback()
        params = {k: v for k, v in error.params.items()
            if k not in {'code', 'message'}}
        return json_response({'code': error.code,
                'message': error.message, **params}, error.status)
    except AccessError as error:
        transaction.rollback()
        return json_response({'code': 'forbidden',
                'message': error.message}, 403)
    except (UserError, UserWarning) as error:
        transaction.rollback()
        return json_response({'code': 'invalid',
                'message': error.message}, 400)
    except (TransactionError, DatabaseOperationalError):
        # with_transaction retries the call (e.g. to lock a table)
        raise
    except ClientDisconnected:
        transaction.rollback()
        return json_response({'code': 'chunk_truncated',
                'message': gettext(
                    'dualrec_core.msg_upload_chunk_truncated')},
            400)
    except Exception:
        transaction.rollback()
        logger.exception("API error on %s", request.path)
        return json_response({'code': 'internal_error',
                'message': gettext(
                    'dualrec_core.msg_api_internal_error')}, 500)


def endpoint(rule, methods, authenticated=True, readonly=None,
        max_size=None):
    """Register an API function(request, pool, **arguments).

    It gets the user in Transaction().user, its token in
    Transaction().context['_dualrec_token'], and returns a JSON-able value
    or (value, status).
    """
    def decorator(func):
        @functools.wraps(func)
        def wrapper(request, pool, **kwargs):
            return serve(request, pool, func, kwargs,
                authenticated=authenticated)

        view = with_transaction(readonly=readonly)(wrapper)
        view = with_pool(view)
        if max_size:
            view = set_max_request_size(max_size)(view)
        app.route(PREFIX + rule, methods=methods)(view)
        return func
    return decorator


class Api(Model):
    """The JSON API machinery, for the routes of the other addons: they
    reach it through the Pool (``Pool().get('dualrec.api')``) and answer
    with ``serve`` exactly as the suite's own endpoints do."""
    __string__ = "JSON API"
    __name__ = 'dualrec.api'

    @classmethod
    def serve(cls, request, func, authenticated=True, **kwargs):
        """Answer request with func(request, pool, **kwargs) as the bearer,
        errors (ApiError, dualrec.errors.CodedError with its status, access
        and user errors) as JSON {code, message}; see ``serve``."""
        return serve(request, Pool(), func, kwargs,
            authenticated=authenticated)

    @classmethod
    def body(cls, request):
        "Return the JSON object of the request body (400 bad_json if not)."
        return body(request)

    @classmethod
    def not_found(cls):
        "Return the 404 not_found error to raise."
        return not_found()


def body(request):
    "Return the JSON object of the request body."
    try:
        data = json.loads(request.get_data(as_text=True) or '{}')
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ApiError(400, 'bad_json',
            gettext('dualrec_core.msg_api_bad_json'))
    return data


def not_found():
    return ApiError(404, 'not_found',
        gettext('dualrec_core.msg_api_not_found'))


def visible(pool, model, id_):
    "Return the record of model id_ if the user may read it, else 404."
    Model = pool.get(model)
    try:
        id_ = int(id_)
    except (TypeError, ValueError):
        raise not_found()
    records = Model.search([('id', '=', id_)], limit=1)
    if not records:
        raise not_found()
    return records[0]

