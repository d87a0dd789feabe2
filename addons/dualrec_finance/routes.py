# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The fapiao provider's callback: it says that a request has a result.
The result itself is read back from the provider, so a forged callback can
at most make us ask."""
import json

from trytond.protocols.wrappers import (
    HTTPStatus, Response, set_max_request_size, with_pool, with_transaction)
from trytond.wsgi import app


def _json(data, status=HTTPStatus.OK):
    return Response(json.dumps(data), status=status,
        content_type='application/json')


@app.route('/<database_name>/dualrec/fapiao/callback', methods={'POST'})
@set_max_request_size(64 * 1024)
@with_pool
@with_transaction()
def fapiao_callback(request, pool):
    Fapiao = pool.get('dualrec.fapiao')
    try:
        payload = json.loads(request.get_data() or b'{}')
    except ValueError:
        payload = None
    request_no = payload.get('request_no') if isinstance(payload, dict) \
        else None
    if not isinstance(request_no, str) or not request_no:
        return _json({'error': 'fapiao_callback_request_no'},
            HTTPStatus.BAD_REQUEST)
    fapiao = Fapiao.callback(request_no)
    if fapiao is None:
        return _json({'error': 'fapiao_callback_unknown'},
            HTTPStatus.NOT_FOUND)
    return _json({'request_no': fapiao.request_no, 'state': fapiao.state})
