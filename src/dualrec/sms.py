# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The interface to an SMS gateway, its HTTP client and a local simulator.

``send(phone, template, params)`` sends one message built by the gateway
from one of its registered templates (TEMPLATES: our keys; the gateway maps
them to the template ids its carrier approved) and returns the gateway's
message id.  Every refusal raises SmsError with a code of CODES.

HttpSmsProvider: POST /messages {phone, template, params}, signed as the
privacy-number requests are (dualrec.privacy.sign_request).  SmsSimulator
implements the same in process and over HTTP (``start``) and keeps every
message sent in ``messages`` so that a test can read the code an owner
received.
"""
import json
import secrets
import threading
import time
from dataclasses import dataclass, field

from .errors import CodedError
from .privacy import check_number, PrivacyError, sign_request, verify_request
from .simserver import JsonHandler, SimulatorServer

__all__ = ['CODES', 'TEMPLATES', 'SmsError', 'SmsProvider',
    'HttpSmsProvider', 'SmsSimulator', 'SentMessage']

# our template key → its parameters and the text the carrier approved
TEMPLATES = {
    'plate_bind_code': (('code', 'minutes'),
        '您正在绑定智能挪车牌，验证码{code}，{minutes}分钟内有效。'
        '如非本人操作请忽略。'),
    'plate_move_car': (('vehicle', 'reason'),
        '【挪车提醒】您的车辆{vehicle}：{reason}。'
        '请尽快处理，谢谢。'),
    }
CODES = {
    'bad_number': 400,
    'bad_template': 400,
    'sms_refused': 502,
    'sms_unreachable': 502,
    'bad_signature': 401,
    }


class SmsError(CodedError):
    "The gateway refused the message or could not be reached."
    status = 502

    def __init__(self, code, message=None, params=None, status=None):
        super().__init__(code, message, params,
            status=status if status is not None else CODES.get(code, 502))


def check_message(phone, template, params):
    "Return (phone, params) checked, or raise SmsError."
    try:
        phone = check_number(phone, 'phone')
    except PrivacyError:
        raise SmsError('bad_number', "Not a mainland mobile number.") \
            from None
    if template not in TEMPLATES or not isinstance(params, dict) \
            or set(params) != set(TEMPLATES[template][0]):
        raise SmsError('bad_template', "Unknown template or parameters.",
            {'template': str(template)[:40]})
    return phone, {k: str(v) for k, v in params.items()}


class SmsProvider:
    "The call every SMS gateway implements."

    def send(self, phone, template, params):
        "Send the template with params to phone; return the message id."
        raise NotImplementedError


class HttpSmsProvider(SmsProvider):

    def __init__(self, base_url, app_key, secret, timeout=5, session=None,
            clock=time.time):
        import requests
        if not base_url or not secret:
            raise SmsError('sms_unreachable',
                "The SMS gateway is not configured.")
        self.base_url = base_url.rstrip('/')
        self.app_key = app_key or ''
        self.secret = secret
        self.timeout = timeout
        self.session = session or requests.Session()
        self.clock = clock

    def send(self, phone, template, params):
        import requests
        from urllib.parse import urlsplit
        phone, params = check_message(phone, template, params)
        body = json.dumps({'phone': phone, 'template': template,
                'params': params}).encode('utf-8')
        timestamp, nonce = int(self.clock()), secrets.token_hex(8)
        path = urlsplit(self.base_url).path + '/messages'
        headers = {
            'Content-Type': 'application/json',
            'X-App-Key': self.app_key,
            'X-Timestamp': str(timestamp),
            'X-Nonce': nonce,
            'X-Signature': sign_request(self.secret, 'POST', path,
                timestamp, nonce, body),
            }
        try:
            response = self.session.post(self.base_url + '/messages',
                data=body, headers=headers, timeout=self.timeout)
        except requests.RequestException as exception:
            raise SmsError('sms_unreachable',
                "The SMS gateway is unreachable.",
                {'error': type(exception).__name__}) from None
        try:
            data = response.json()
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if response.status_code >= 400 or not data.get('message_id'):
            code = data.get('code')
            raise SmsError(code if code in CODES else 'sms_refused',
                str(data.get('message') or
                    f'The gateway answered {response.status_code}.'),
                {'status': response.status_code})
        return str(data['message_id'])


@dataclass
class SentMessage:
    message_id: str
    phone: str
    template: str
    params: dict = field(default_factory=dict)

    @property
    def text(self):
        return TEMPLATES[self.template][1].format(**self.params)


class SmsSimulator(SimulatorServer, SmsProvider):

    def __init__(self, secret='simulator-secret', fail_phones=()):
        self.secret = secret
        self.fail_phones = set(fail_phones)
        self.messages = []
        self.lock = threading.Lock()
        self.server = None

    def send(self, phone, template, params):
        phone, params = check_message(phone, template, params)
        if phone in self.fail_phones:
            raise SmsError('sms_refused', "The carrier refused the number.")
        with self.lock:
            message = SentMessage(f'SMS{len(self.messages) + 1:08d}', phone,
                template, params)
            self.messages.append(message)
        return message.message_id

    def last(self, phone=None, template=None):
        "Return the last message sent (to phone, of template) or None."
        with self.lock:
            for message in reversed(self.messages):
                if phone and message.phone != phone:
                    continue
                if template and message.template != template:
                    continue
                return message
        return None

    def start(self, port=0):
        simulator = self

        class Handler(JsonHandler):
            def do_POST(self):
                body = self._body()
                if not verify_request(simulator.secret, 'POST', self.path,
                        self.headers, body):
                    return self._answer(401, {'code': 'bad_signature',
                            'message': 'bad signature'})
                if self.path.rstrip('/') != '/messages':
                    return self._answer(404, {'code': 'sms_refused',
                            'message': 'no such path'})
                try:
                    data = json.loads(body or b'{}')
                    message_id = simulator.send(data.get('phone'),
                        data.get('template'), data.get('params'))
                except SmsError as error:
                    return self._answer(error.status,
                        {'code': error.code, 'message': error.message})
                except ValueError:
                    return self._answer(400, {'code': 'bad_template',
                            'message': 'bad request'})
                self._answer(201, {'message_id': message_id})

        return self.serve(Handler, port)
