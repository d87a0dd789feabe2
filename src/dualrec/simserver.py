# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The HTTP side of the local simulators of external providers (fapiao,
privacy numbers, SMS): a JSON request handler and a server in a thread."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JsonHandler(BaseHTTPRequestHandler):
    "A quiet handler that reads raw bodies and answers JSON."

    def log_message(self, *args):
        pass

    def _answer(self, code, data):
        body = json.dumps(data).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        length = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(length) if length else b''


class SimulatorServer:
    "Serve a simulator's handler on 127.0.0.1 in a daemon thread."
    server = None

    def serve(self, handler, port=0, poll_interval=0.5):
        "Start serving handler (a JsonHandler class); return self."
        self.server = ThreadingHTTPServer(('127.0.0.1', port), handler)
        self._stopped = False
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever,
            args=(poll_interval,), daemon=True).start()
        return self

    def stop(self):
        "Stop serving; the url stays known (a simulator may come back)."
        if self.server and not getattr(self, '_stopped', False):
            self.server.shutdown()
            self.server.server_close()
            self._stopped = True

    @property
    def url(self):
        host, port = self.server.server_address[:2]
        return f'http://{host}:{port}'
