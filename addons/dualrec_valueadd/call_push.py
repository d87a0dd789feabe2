# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The privacy-number provider's push of call records:

    POST /<database>/dualrec/plates/calls

No user logs in: the body is signed with the shared secret of the
value-added services' configuration (see doc/index.rst).  The answer is
JSON {received, created, duplicates, rejected}, or {code, message} with
401 (signature) or 400 (body); a refused push changes nothing.
"""
import json
import time

from werkzeug.exceptions import NotFound

from trytond.protocols.wrappers import (
    set_max_request_size, with_pool, with_transaction)
from trytond.transaction import without_check_access
from trytond.wsgi import app

from dualrec.callrecord import CallRecordError, verify_push

from .exceptions import PlateRefusal

MAX_BODY = 4 * 1024 * 1024
MAX_RECORDS = 5000
TIMESTAMP_HEADER = 'X-Dualrec-Timestamp'
SIGNATURE_HEADER = 'X-Dualrec-Signature'


@app.route('/<database_name>/dualrec/plates/calls', methods={'POST'})
@set_max_request_size(MAX_BODY)
@with_pool
@with_transaction()
def push_calls(request, pool):
    try:
        Api = pool.get('dualrec.api')
        pool.get('dualrec.plate.call')
    except KeyError:
        raise NotFound()
    return Api.serve(request, receive_push, authenticated=False)


def receive_push(request, pool):
    "Check the signature of the push and store its records."
    Configuration = pool.get('dualrec.valueadd.configuration')
    Call = pool.get('dualrec.plate.call')
    with without_check_access():
        secret = Configuration(1).call_push_secret
    body = request.get_data()
    try:
        verify_push(secret, request.headers.get(TIMESTAMP_HEADER),
            request.headers.get(SIGNATURE_HEADER), body, int(time.time()))
    except CallRecordError as error:
        raise PlateRefusal(error.code, status=401) from error
    try:
        data = json.loads(body.decode('utf-8'))
    except ValueError:
        raise PlateRefusal('push_bad_json') from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        raise PlateRefusal('push_bad_json')
    if len(data) > MAX_RECORDS:
        raise PlateRefusal('push_too_many', count=len(data),
            limit=MAX_RECORDS)
    return Call.receive(enumerate(data, 1), 'push')
