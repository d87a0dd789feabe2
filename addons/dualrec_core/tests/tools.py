# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Fixtures shared by the tests of the dualrec modules (inside a
``with_transaction`` test)."""
import datetime as dt
import hashlib
import io
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

from lxml import etree

from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

# A key for tests only: personal data needs one (see configuration.py).
TEST_PII_KEY = '5eed' * 16
os.environ.setdefault('DUALREC_PII_KEY', TEST_PII_KEY)
TEST_MEDIA_KEYS = 'ktest:' + 'a11e' * 16
os.environ.setdefault('DUALREC_MEDIA_KEYS', TEST_MEDIA_KEYS)
if not os.environ.get('DUALREC_EVIDENCE_KEY_FILE'):
    os.environ.setdefault('DUALREC_EVIDENCE_KEY', 'dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=')

# code, level, parent code: one province, two cities, an outlet in each city
# and a second province with one outlet.
TREE = [
    ('P1', 'province', None),
    ('P1-C1', 'city', 'P1'),
    ('P1-C2', 'city', 'P1'),
    ('P1-C1-O1', 'outlet', 'P1-C1'),
    ('P1-C1-O2', 'outlet', 'P1-C1'),
    ('P1-C2-O1', 'outlet', 'P1-C2'),
    ('P2', 'province', None),
    ('P2-O1', 'outlet', 'P2'),
    ]


def create_branches(company, tree=TREE):
    "Create the branches of tree and return them by code."
    Branch = Pool().get('dualrec.branch')
    branches = {}
    for code, level, parent in tree:
        branch = Branch(
            name=f"Branch {code}", code=code, level=level, company=company,
            parent=branches[parent] if parent else None)
        branch.save()
        branches[code] = branch
    return branches


def create_user(login, company, role=None, branch=None, number=None):
    "Create a user of company holding the role (an xml id of dualrec_core)."
    pool = Pool()
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    user = User(login=login, name=login.title(), branch=branch,
        employee_number=number, companies=[company], company=company)
    if role:
        user.groups = [ModelData.get_id('dualrec_core', role)]
    user.save()
    return user


@contextmanager
def as_user(user):
    "Run as user with access rights and record rules checked, as over RPC."
    User = Pool().get('res.user')
    transaction = Transaction()
    with transaction.set_user(user.id), transaction.set_context(
            _check_access=True):
        with transaction.set_context(User.get_preferences(context_only=True)):
            yield


def valid_resident_id(region='110105', birth='19491231', sequence='002'):
    "Return a resident ID number with its GB 11643 check character."
    from dualrec.pii import check_char
    body = region + birth + sequence
    return body + check_char(body)


def create_product(company, code='P', type_='product_type_life',
        period_class='long', channel='bank', script_nodes=2, min_seconds=5):
    "Create a product with a script of script_nodes nodes of min_seconds."
    pool = Pool()
    Product = pool.get('dualrec.product')
    Script = pool.get('dualrec.script')
    ModelData = pool.get('ir.model.data')
    product, = Product.create([{
                'code': code, 'name': f"Product {code}",
                'company': company.id,
                'type_': ModelData.get_id('dualrec_core', type_),
                'period_class': period_class, 'channel': channel}])
    if script_nodes:
        Script.create([{
                    'product': product.id, 'name': "Script",
                    'nodes': [('create', [{
                                    'name': f"Node {i}", 'kind': 'other',
                                    'text': f"Text {i}",
                                    'min_seconds': min_seconds,
                                    } for i in range(script_nodes)])],
                    }])
    return product


def run_queued_tasks():
    """Run the queued tasks that are due in the current transaction, as the
    worker would, until none is left (a task may queue the next step);
    return how many ran."""
    Queue = Pool().get('ir.queue')
    done, seen = 0, set()
    while True:
        now = dt.datetime.now()
        tasks = [t for t in Queue.search([
                    ('finished_at', '=', None),
                    ['OR',
                        ('scheduled_at', '=', None),
                        ('scheduled_at', '<=', now)],
                    ]) if t.id not in seen]
        if not tasks:
            return done
        for task in tasks:
            seen.add(task.id)
            task.run()
            done += 1


def script_timeline(script, start=None, seconds=1):
    """Return the node timeline a recorder captures while script is read:
    one node every seconds from start, as the JSON API receives it."""
    start = start or dt.datetime(2026, 12, 1, 1, 0, 0,
        tzinfo=dt.timezone.utc)
    timeline = []
    for index, node in enumerate(script.nodes if script else []):
        started = start + dt.timedelta(seconds=index * seconds)
        timeline.append({'node': node.id, 'started_at': started.isoformat(),
                'confirmed_at': (started + dt.timedelta(
                        seconds=seconds)).isoformat()})
    return timeline


def upload_recording(ticket, user, path, timeline=None):
    """Upload the file at path for ticket as user through the calls the
    JSON API makes (start, chunks, complete), then run the processing the
    upload queued, as the worker does; return the recording."""
    pool = Pool()
    Upload = pool.get('dualrec.upload')
    Ticket = pool.get('dualrec.ticket')
    Recording = pool.get('dualrec.recording')
    data = Path(path).read_bytes()
    with as_user(user):
        # as the API: the salesperson must see his ticket
        ticket, = Ticket.search([('id', '=', ticket.id)])
        if timeline is None:
            timeline = script_timeline(ticket.product.current_script)
        upload = Upload.start(ticket, len(data),
            hashlib.sha256(data).hexdigest(), 'video/mp4',
            timeline=timeline, device='test', browser='test')
        store = Upload.store()
        for offset in range(0, len(data), store.chunk_size):
            chunk = data[offset:offset + store.chunk_size]
            store.write_chunk(upload.uuid, offset, io.BytesIO(chunk),
                len(chunk))
        recording = Upload.complete(Upload(upload.id))
    run_queued_tasks()
    return Recording(recording.id)


def submit_ticket(ticket, user):
    "Submit ticket for review as user (its salesperson), by the button."
    Ticket = Pool().get('dualrec.ticket')
    with as_user(user):
        Ticket.submit([Ticket(ticket.id)])
    return Ticket(ticket.id)


def _sao_widgets():
    """The widget names sao draws, per view type, read from the sao the
    project installs (package.json): a view using anything else leaves the
    web client stuck on "processing"."""
    for parent in Path(__file__).resolve().parents:
        dist = parent / 'node_modules' / 'tryton-sao' / 'dist' / 'tryton-sao.js'
        if dist.exists():
            break
    else:
        return None
    source = dist.read_text()
    widgets = {}
    for view_type, parser in [('tree', 'Tree'), ('form', 'Form')]:
        block = re.search(r'Sao\.View\.%sXMLViewParser\.WIDGETS = \{(.*?)\};'
            % parser, source, re.S).group(1)
        widgets[view_type] = set(re.findall(r"'(\w+)':", block))
    return widgets


class SaoViewsMixin:
    "Check that every view of the module can be drawn by sao"

    @with_transaction()
    def test_views_drawable_by_sao(self):
        "Every field of the module's views has a widget sao draws"
        widgets = _sao_widgets()
        if widgets is None:
            self.skipTest("sao is not installed (npm ci)")
        pool = Pool()
        View = pool.get('ir.ui.view')
        for view in View.search([
                    ('module', '=', self.module),
                    ('type', 'in', list(widgets)),
                    ]):
            Model = pool.get(view.model)
            result = Model.fields_view_get(view_id=view.id)
            for node in etree.fromstring(result['arch']).iter('field'):
                name = node.get('name')
                widget = node.get('widget') or result['fields'][name]['type']
                with self.subTest(view=view.name, field=name):
                    self.assertIn(widget, widgets[view.type])


# Fixtures of the proteus scenarios (scenario_*.rst): they act through the
# same doors as the users, the JSON API of the recorder app and the worker.

def api_client():
    "Return a client of the WSGI application, as the recorder app talks to."
    from werkzeug.test import Client

    from trytond.wsgi import app
    return Client(app)


class Recorder:
    """The recorder app of a salesperson: logs in to the JSON API with his
    password and uploads recordings as the app does (start, chunks,
    complete)."""

    def __init__(self, login, password, config=None):
        from proteus import config as pconfig
        config = config or pconfig.get_config()
        self.client = api_client()
        self.base = f'/{config.database_name}/dualrec/api/v1'
        status, data = self.call('POST', '/login',
            json={'login': login, 'password': password})
        if status != 200:
            raise AssertionError(f"login {login}: {status} {data}")
        self.token = data['token']

    def open(self, method, path, json=None, data=None, query=None,
            headers=None):
        "Return the response to an API call."
        headers = {'Accept-Language': 'en', **(headers or {})}
        if getattr(self, 'token', None):
            headers['Authorization'] = f'Bearer {self.token}'
        return self.client.open(self.base + path, method=method,
            json=json, data=data, query_string=query, headers=headers)

    def call(self, method, path, json=None, data=None, query=None):
        "Return (HTTP status, decoded JSON answer) of an API call."
        response = self.open(method, path, json=json, data=data, query=query)
        return response.status_code, response.get_json()

    def timeline(self, ticket_id, start=None, seconds=1):
        """Return the node timeline the recorder captures while the
        salesperson reads the script of the ticket's product: one node
        every seconds from start."""
        _, ticket = self.call('GET', f'/tickets/{ticket_id}')
        _, products = self.call('GET', '/products')
        product, = [p for p in products
            if p['id'] == ticket['product']['id']]
        start = start or dt.datetime.now(dt.timezone.utc).replace(
            microsecond=0)
        timeline = []
        for index, node in enumerate(product['script']['nodes']):
            started = start + dt.timedelta(seconds=index * seconds)
            timeline.append({'node': node['id'],
                    'started_at': started.isoformat(),
                    'confirmed_at': (started + dt.timedelta(
                            seconds=seconds)).isoformat()})
        return timeline

    def upload(self, ticket_id, path, timeline=None,
            content_type='video/mp4'):
        """Upload the file at path for the ticket in chunks and complete
        it; return the answer of the completion."""
        with open(path, 'rb') as file:
            content = file.read()
        if timeline is None:
            timeline = self.timeline(ticket_id)
        status, upload = self.call('POST', '/uploads', json={
                'ticket': ticket_id, 'size': len(content),
                'sha256': hashlib.sha256(content).hexdigest(),
                'content_type': content_type, 'timeline': timeline,
                'device': 'scenario', 'browser': 'scenario'})
        if status != 201:
            raise AssertionError(f"start upload: {status} {upload}")
        chunk = upload['chunk_size']
        for offset in range(0, len(content), chunk):
            status, state = self.call('PUT', f'/uploads/{upload["id"]}',
                data=content[offset:offset + chunk],
                query={'offset': offset})
            if status != 200:
                raise AssertionError(f"chunk {offset}: {status} {state}")
        status, result = self.call(
            'POST', f'/uploads/{upload["id"]}/complete')
        if status not in {200, 202}:
            raise AssertionError(f"complete upload: {status} {result}")
        return result


def run_queue(config=None):
    """Run the queued tasks that are due, as the worker does, until none is
    left (a task may queue the next step); return how many ran."""
    from proteus import config as pconfig
    from trytond.worker import run_task
    config = config or pconfig.get_config()
    done, seen = 0, set()
    while True:
        with Transaction().start(config.database_name, 0, readonly=True):
            Queue = Pool(config.database_name).get('ir.queue')
            now = dt.datetime.now()
            ids = [t.id for t in Queue.search([
                        ('finished_at', '=', None),
                        ['OR',
                            ('scheduled_at', '=', None),
                            ('scheduled_at', '<=', now)],
                        ]) if t.id not in seen]
        if not ids:
            return done
        for task_id in ids:
            seen.add(task_id)
            run_task(config.database_name, task_id)
            done += 1


def sample_clip(directory, name='clip.mp4', seconds=3, faces=2):
    """Write a short test recording (H.264 + AAC, 320×240) with faces
    cartoon faces into directory and return its path."""
    from dualrec import testing
    path = os.path.join(directory, name)
    return testing.generate_recording(path, seconds, 320, 240, fps=10,
        faces=faces)


SCENARIO_PASSWORD = 'Scenario-Pass-2026'


def set_up_sales(config=None):
    """Set up, as the system administrator does through the client, an
    outlet under a province, a long-term bank life product with a script of
    two one-second nodes, a storage directory of its own, and users: the
    system administrator, a salesperson of the outlet (who logs in to the
    recorder app with SCENARIO_PASSWORD), a reviewer, a QC inspector and a
    manager of the province.

    Return a SimpleNamespace of them; the proteus user is left the Tryton
    administrator."""
    from types import SimpleNamespace

    from proteus import Model
    from trytond.tests.tools import set_user
    Company = Model.get('company.company', config=config)
    User = Model.get('res.user', config=config)
    Group = Model.get('res.group', config=config)
    company, = Company.find()

    def new_user(login, name, groups, branch=None, number=None,
            password=None):
        user = User(login=login, name=name, employee_number=number,
            password=password)
        user.branch = branch
        user.companies.append(Company(company.id))
        user.company = company
        for group in groups:
            group, = Group.find([('name', '=', group)])
            user.groups.append(Group(group.id))
        user.save()
        return user

    set_user(1, config)
    sysadmin = new_user('sysadmin', "System Administrator",
        ["Dual Recording System Administrator"])
    set_user(sysadmin, config)
    Configuration = Model.get('dualrec.configuration', config=config)
    configuration = Configuration(1)
    # removed with the namespace, at the end of the scenario
    storage = tempfile.TemporaryDirectory(prefix='dualrec-scenario-')
    configuration.storage_path = storage.name
    configuration.save()
    Branch = Model.get('dualrec.branch', config=config)
    province = Branch(name="Guangdong", code='GD', level='province')
    province.save()
    outlet = Branch(name="Tianhe", code='GD-01', parent=province)
    outlet.save()
    ProductType = Model.get('dualrec.product.type', config=config)
    life, = ProductType.find([('code', '=', 'LIFE')])
    Product = Model.get('dualrec.product', config=config)
    product = Product(code='L1', name="Whole Life", type_=life,
        period_class='long', channel='bank')
    product.save()
    Script = Model.get('dualrec.script', config=config)
    script = Script(product=product, name="Whole Life script")
    script.nodes.new(name="Opening", kind='opening',
        text="This recording protects your rights.", min_seconds=1)
    script.nodes.new(name="Confirmation", kind='confirmation',
        speaker='customer', text="I agree.", min_seconds=1)
    script.save()
    users = dict(
        sales=new_user('sales', "Salesperson", ["Salesperson"], outlet,
            'E1', SCENARIO_PASSWORD),
        reviewer=new_user('reviewer', "Reviewer", ["Reviewer"], province,
            'R1'),
        qc=new_user('qc', "QC Inspector", ["QC Inspector"], province, 'Q1'),
        manager=new_user('manager', "Manager", ["Dual Recording Manager"],
            province, 'M1'),
        )
    set_user(1, config)
    return SimpleNamespace(storage=storage, company=company,
        sysadmin=sysadmin,
        province=province, outlet=outlet, product=product, script=script,
        **users)


def server_today(config=None):
    """Return the business date of today as the server computes it for the
    company of the proteus user (ir.date in the company's timezone)."""
    from proteus import config as pconfig
    config = config or pconfig.get_config()
    with Transaction().start(config.database_name, config.user,
            readonly=True, context=config.context):
        return Pool(config.database_name).get('ir.date').today()
