# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Serve the recorder app (static/recorder) at /dualrec/recorder.

The app is plain ES modules on top of OWL 2; OWL itself comes from npm and
is served from the web root (/node_modules/@odoo/owl/…), like sao.  Files
are revalidated on each load (ETag): a new release is picked up at once and
an unchanged file costs a 304.
"""
import hashlib
import mimetypes
from http import HTTPStatus

from werkzeug.exceptions import abort

from trytond.protocols.wrappers import Response
from trytond.tools import file_open
from trytond.wsgi import app

TYPES = {
    '.js': 'text/javascript; charset=utf-8',
    '.css': 'text/css; charset=utf-8',
    '.html': 'text/html; charset=utf-8',
    '.svg': 'image/svg+xml',
    '.json': 'application/json; charset=utf-8',
    '.webmanifest': 'application/manifest+json',
    }


def content_type(filename):
    for suffix, value in TYPES.items():
        if filename.endswith(suffix):
            return value
    return mimetypes.guess_type(filename)[0] or 'application/octet-stream'


@app.route('/dualrec/recorder', methods={'GET', 'HEAD'})
@app.route('/dualrec/recorder/', methods={'GET', 'HEAD'})
@app.route('/dualrec/recorder/<path:filename>', methods={'GET', 'HEAD'})
def recorder(request, filename='index.html'):
    if filename.startswith('.') or '/.' in filename:
        abort(HTTPStatus.NOT_FOUND)
    try:
        # file_open refuses paths that leave the module's directory
        with file_open(f'dualrec_core/static/recorder/{filename}', 'rb') as fp:
            data = fp.read()
    except (IOError, OSError, ValueError):
        abort(HTTPStatus.NOT_FOUND)
    response = Response(data, content_type=content_type(filename))
    response.set_etag(hashlib.sha256(data).hexdigest()[:32])
    response.headers['Cache-Control'] = 'no-cache'
    response.headers['X-Content-Type-Options'] = 'nosniff'
    if filename.endswith('.html'):
        # the camera and the microphone for this origin only
        response.headers['Permissions-Policy'] = (
            'camera=(self), microphone=(self)')
    return response.make_conditional(request)
