// This file is part of the dualrec suite.  The COPYRIGHT file at the top level
// of this repository contains the full copyright notices and license terms.
// The recorder app: log in, create or pick a ticket, check the camera and
// the microphone, record with the script shown node by node, upload.
import {
    Component, mount, onMounted, onWillUnmount, reactive, toRaw, useRef, useState, xml,
} from '/node_modules/@odoo/owl/dist/owl.es.js';
import { Api, listDatabases } from './api.js';
import { formatClock, formatDuration, formatSize, setLanguage, t } from './i18n.js';
import {
    Compositor, LevelMeter, brightness, closeStream, openCamera, pickMimeType, recorderSupported,
} from './media.js';
import * as store from './store.js';
import { Uploader } from './uploader.js';

const DARK = 40; // mean luma under which the picture is too dark
const SILENT = 0.02; // level under which the microphone is taken as silent
const POLL_MS = 3000;
// A session fits the 5 MB recording up to LIMIT_MINUTES (the server's
// media.MAX_SESSION_SECONDS); from WARN_MINUTES the salesperson is told so.
const WARN_MINUTES = 60;
const LIMIT_MINUTES = 120;
// What is not state: the camera's stream, shared by the preflight check and
// the recorder.
const devices = { camera: null };

// Components see the app through this.app, whose state is subscribed
// (useState): a change of what a component reads renders it again.
class Base extends Component {
    setup() {
        this.app = Object.create(this.props.app);
        this.app.state = useState(this.props.app.state);
    }

    tr(text, params) {
        return t(text, params);
    }
}

// ---------------------------------------------------------------- login --

class Login extends Base {
    static template = xml`
<main class="card narrow">
    <h1 t-esc="tr('Sales recording')"/>
    <form t-on-submit.prevent="submit">
        <label t-if="state.databases.length > 1">
            <span t-esc="tr('Database')"/>
            <select t-model="state.db" name="db">
                <t t-foreach="state.databases" t-as="db" t-key="db">
                    <option t-att-value="db" t-esc="db"/>
                </t>
            </select>
        </label>
        <label>
            <span t-esc="tr('User name')"/>
            <input name="login" t-model="state.login" autocomplete="username" autocapitalize="off" required="1"/>
        </label>
        <label>
            <span t-esc="tr('Password')"/>
            <input name="password" type="password" t-model="state.password" autocomplete="current-password" required="1"/>
        </label>
        <p class="error" t-if="state.error" t-esc="state.error"/>
        <button class="primary" type="submit" t-att-disabled="state.busy"
            t-esc="state.busy ? tr('Logging in…') : tr('Log in')"/>
    </form>
</main>`;

    setup() {
        super.setup();
        const app = this.app;
        this.state = useState({
            databases: [], db: app.api.db, login: '', password: '', error: '', busy: false,
        });
        onMounted(async () => {
            const asked = new URLSearchParams(window.location.search).get('db');
            const databases = asked ? [asked] : await listDatabases();
            this.state.databases = databases;
            if (!databases.includes(this.state.db)) this.state.db = databases[0] || '';
        });
    }

    async submit() {
        this.state.busy = true;
        this.state.error = '';
        try {
            await this.app.login(this.state.db, this.state.login, this.state.password);
        } catch (error) {
            this.state.error = error.message;
        } finally {
            this.state.busy = false;
        }
    }
}

// ----------------------------------------------------------------- home --

class Home extends Base {
    static template = xml`
<main class="home">
    <section class="card" t-if="interrupted.length">
        <h2 t-esc="tr('Interrupted recording')"/>
        <t t-foreach="interrupted" t-as="item" t-key="item.key">
            <p><t t-esc="tr('A recording was interrupted before it ended. Upload what was recorded?')"/>
               <strong> <t t-esc="item.ticket.number"/></strong></p>
            <div class="actions">
                <button class="primary" t-on-click="() => this.app.finishInterrupted(item)" t-esc="tr('Upload it')"/>
                <button t-on-click="() => this.app.discard(item)" t-esc="tr('Discard it')"/>
            </div>
        </t>
    </section>
    <section class="card">
        <div class="section-head">
            <h2 t-esc="tr('Tickets to record')"/>
            <button class="primary" name="new-ticket" t-on-click="() => this.app.go('ticket')" t-esc="tr('New ticket')"/>
        </div>
        <p class="muted" t-if="!toRecord.length" t-esc="tr('No ticket waits for a recording.')"/>
        <ul class="list">
            <li t-foreach="toRecord" t-as="ticket" t-key="ticket.id">
                <div>
                    <strong t-esc="ticket.number"/>
                    <span class="muted"> <t t-esc="ticket.product.name"/> · <t t-esc="ticket.policyholder_name"/></span>
                    <p class="error" t-if="ticket.review_comment" t-esc="ticket.review_comment"/>
                </div>
                <button t-on-click="() => this.app.prepare(ticket)"
                    t-esc="ticket.state === 'rejected' ? tr('Record again') : tr('Record')"/>
            </li>
        </ul>
    </section>
    <section class="card">
        <h2 t-esc="tr('Uploads')"/>
        <p class="muted" t-if="!uploads.length" t-esc="tr('Nothing recorded yet.')"/>
        <ul class="list uploads">
            <li t-foreach="uploads" t-as="item" t-key="item.id" t-att-data-status="item.status">
                <div>
                    <strong t-esc="item.number"/>
                    <span class="muted"> <t t-esc="item.when"/></span>
                    <div class="status" t-esc="item.label"/>
                    <progress t-if="item.percent !== undefined" max="100" t-att-value="item.percent"/>
                    <p class="error" t-if="item.error" t-esc="item.error"/>
                </div>
                <div class="actions">
                    <button t-if="item.retry" t-on-click="item.retry" t-esc="item.retryLabel"/>
                </div>
            </li>
        </ul>
    </section>
</main>`;

    setup() {
        super.setup();
        const app = this.app;
        onMounted(() => {
            app.refresh();
            this.timer = setInterval(() => app.refresh(true), POLL_MS);
        });
        onWillUnmount(() => clearInterval(this.timer));
    }

    get interrupted() {
        const app = this.app;
        return app.state.local.filter((item) => item.status === 'recording' && item.key !== app.state.activeKey);
    }

    get toRecord() {
        return this.app.state.tickets.filter((ticket) => ['draft', 'rejected'].includes(ticket.state));
    }

    get uploads() {
        const app = this.app;
        const items = [];
        const seen = new Set();
        for (const local of app.state.local) {
            if (local.status === 'recording') continue;
            const server = local.recordingId && app.state.recordings[local.recordingId];
            if (local.recordingId) seen.add(local.recordingId);
            items.push(server ? this.serverItem(server, local.ticket.number)
                : this.localItem(local));
        }
        for (const ticket of app.state.tickets) {
            for (const ref of ticket.recordings || []) {
                if (seen.has(ref.id)) continue;
                const server = app.state.recordings[ref.id] || { ...ref, id: ref.id };
                items.push(this.serverItem(server, ticket.number));
            }
        }
        return items;
    }

    localItem(local) {
        const app = this.app;
        const item = {
            id: `local-${local.key}`, number: local.ticket.number, status: local.status,
            when: formatClock(new Date(local.startedAt)), error: local.error,
        };
        if (local.status === 'uploading') {
            const percent = app.state.progress[local.key] || 0;
            item.label = this.tr('Uploading {percent}%', { percent });
            item.percent = percent;
        } else if (local.status === 'error') {
            item.label = this.tr('Failed');
            item.retry = () => app.retryUpload(local);
            item.retryLabel = this.tr('Retry');
        } else {
            item.label = this.tr('Waiting');
            item.retry = () => app.uploader.start(local.key);
            item.retryLabel = this.tr('Upload now');
        }
        return item;
    }

    serverItem(recording, number) {
        const app = this.app;
        const item = {
            id: `server-${recording.id}`, number, status: recording.status,
            when: recording.uploaded_at ? formatClock(new Date(recording.uploaded_at)) : '',
        };
        if (recording.status === 'ready') {
            item.label = this.tr('Ready, {size}', { size: formatSize(recording.compressed_size || 0) });
        } else if (recording.status === 'failed') {
            item.label = this.tr('Failed');
            item.error = recording.error;
            item.retry = () => app.retryProcessing(recording);
            item.retryLabel = this.tr('Retry');
        } else if (recording.status === 'verifying') {
            item.label = this.tr('Verifying');
        } else if (recording.status === 'uploaded') {
            item.label = this.tr('Held back');
            item.retry = () => app.retryProcessing(recording);
            item.retryLabel = this.tr('Compress now');
        } else {
            item.label = this.tr('Processing');
        }
        return item;
    }
}

// --------------------------------------------------------------- ticket --

const REQUIRED = ['task_number', 'product', 'policyholder_name', 'id_type', 'id_number'];

class TicketForm extends Base {
    static template = xml`
<main class="card">
    <form t-on-submit.prevent="submit" class="ticket-form">
        <fieldset>
            <legend t-esc="tr('Product information')"/>
            <label><span t-esc="tr('Task number')"/>
                <input name="task_number" t-model="state.values.task_number" required="1"/></label>
            <label><span t-esc="tr('Branch')"/>
                <input name="branch" t-att-value="app.state.user.branch ? app.state.user.branch.name : ''" readonly="1"/></label>
            <label><span t-esc="tr('Product')"/>
                <select name="product" t-model="state.values.product" required="1">
                    <option value="" t-esc="tr('Choose…')"/>
                    <t t-foreach="app.state.products" t-as="product" t-key="product.id">
                        <option t-att-value="product.id" t-esc="product.name"/>
                    </t>
                </select></label>
            <label><span t-esc="tr('Product type')"/>
                <input name="product_type" t-att-value="productType" readonly="1"/></label>
            <label><span t-esc="tr('Insurance period')"/>
                <input name="insurance_period" t-model="state.values.insurance_period"/></label>
            <label><span t-esc="tr('Payment method')"/>
                <select name="payment_method" t-model="state.values.payment_method">
                    <option value="" t-esc="tr('Choose…')"/>
                    <t t-foreach="app.state.options.payment_methods" t-as="choice" t-key="choice[0]">
                        <option t-att-value="choice[0]" t-esc="choice[1]"/>
                    </t>
                </select></label>
            <label><span t-esc="tr('Employee number')"/>
                <input name="employee_number" t-model="state.values.employee_number"/></label>
        </fieldset>
        <fieldset>
            <legend t-esc="tr('Policyholder information')"/>
            <label><span t-esc="tr('Policyholder')"/>
                <input name="policyholder_name" t-model="state.values.policyholder_name" required="1"/></label>
            <label><span t-esc="tr('ID type')"/>
                <select name="id_type" t-model="state.values.id_type" t-on-change="checkId">
                    <t t-foreach="app.state.options.id_types" t-as="choice" t-key="choice[0]">
                        <option t-att-value="choice[0]" t-esc="choice[1]"/>
                    </t>
                </select></label>
            <label><span t-esc="tr('ID number')"/>
                <input name="id_number" t-model="state.values.id_number" t-on-blur="checkId" required="1"
                    autocapitalize="characters" t-att-class="state.idError ? 'invalid' : ''"/>
                <small class="error" t-if="state.idError" t-esc="state.idError"/></label>
            <label><span t-esc="tr('Phone')"/>
                <input name="phone" type="tel" t-model="state.values.phone"/></label>
        </fieldset>
        <p class="error" t-if="state.error" t-esc="state.error"/>
        <div class="actions">
            <button type="button" t-on-click="() => app.go('home')" t-esc="tr('Cancel')"/>
            <button class="primary" type="submit" name="save" t-att-disabled="state.busy" t-esc="tr('Save and continue')"/>
        </div>
    </form>
</main>`;

    setup() {
        super.setup();
        const user = this.app.state.user;
        this.state = useState({
            values: {
                task_number: '', product: '', insurance_period: '', payment_method: '',
                employee_number: user.employee_number || '', policyholder_name: '',
                id_type: 'resident_id', id_number: '', phone: '',
            },
            error: '', idError: '', busy: false,
        });
    }

    get productType() {
        const product = this.app.state.products.find((p) => String(p.id) === String(this.state.values.product));
        return product && product.type ? product.type.name : '';
    }

    async checkId() {
        const { id_type: idType, id_number: idNumber } = this.state.values;
        this.state.idError = '';
        if (!idNumber) return true;
        try {
            await this.app.api.call('POST', '/id_numbers/check', { id_type: idType, id_number: idNumber });
            return true;
        } catch (error) {
            this.state.idError = error.message;
            return false;
        }
    }

    async submit() {
        const values = this.state.values;
        const labels = {
            task_number: 'Task number', product: 'Product', policyholder_name: 'Policyholder',
            id_type: 'ID type', id_number: 'ID number',
        };
        const missing = REQUIRED.filter((name) => !String(values[name] || '').trim());
        if (missing.length) {
            this.state.error = this.tr('Fill in: {fields}.', { fields: missing.map((n) => this.tr(labels[n])).join(', ') });
            return;
        }
        this.state.busy = true;
        this.state.error = '';
        try {
            if (!(await this.checkId())) return;
            const data = {};
            for (const [name, value] of Object.entries(values)) {
                if (value !== '') data[name] = name === 'product' ? Number(value) : value;
            }
            if (this.app.state.user.branch) data.branch = this.app.state.user.branch.id;
            const ticket = await this.app.api.call('POST', '/tickets', data);
            this.app.prepare(ticket);
        } catch (error) {
            this.state.error = error.message;
        } finally {
            this.state.busy = false;
        }
    }
}

// ------------------------------------------------------------ preflight --

class Preflight extends Base {
    static template = xml`
<main class="card preflight">
    <h2><t t-esc="tr('Check before recording')"/> · <t t-esc="tr('Ticket {number}', {number: app.state.ticket.number})"/></h2>
    <p class="error" t-if="state.error" t-esc="state.error"/>
    <div class="preview"><video t-ref="video" autoplay="1" muted="1" playsinline="1"/></div>
    <div class="checks">
        <div t-att-class="state.dark ? 'check bad' : 'check good'" name="picture">
            <span t-esc="tr('Picture')"/>:
            <t t-esc="state.dark ? tr('Too dark: add light or face a window.') : tr('Good')"/>
        </div>
        <div t-att-class="state.silent ? 'check bad' : 'check good'" name="sound">
            <span t-esc="tr('Sound')"/>:
            <meter min="0" max="1" t-att-value="state.level"/>
            <t t-esc="state.silent ? tr('Silent: check the microphone.') : tr('Good')"/>
        </div>
    </div>
    <p class="reminder" t-esc="tr('Both the salesperson and the customer must be in the picture for the whole recording.')"/>
    <div class="actions">
        <button t-on-click="back" t-esc="tr('Back')"/>
        <button t-if="state.error" t-on-click="start" t-esc="tr('Try again')"/>
        <button class="primary" name="start" t-att-disabled="!state.ready" t-on-click="record" t-esc="tr('Start recording')"/>
    </div>
</main>`;

    setup() {
        super.setup();
        this.video = useRef('video');
        this.state = useState({ error: '', ready: false, level: 0, silent: false, dark: false });
        this.quietSince = Date.now();
        onMounted(() => this.start());
        onWillUnmount(() => this.stopChecks());
    }

    async start() {
        this.state.error = '';
        if (!recorderSupported()) {
            this.state.error = this.tr('The browser cannot record video here: use a recent Chrome, Edge or Safari, over https or on localhost.');
            return;
        }
        try {
            closeStream(devices.camera);
            devices.camera = await openCamera();
        } catch (error) {
            this.state.error = `${this.tr('Camera or microphone unavailable: {reason}', { reason: error.message || error.name })} ${this.tr('Allow the camera and the microphone for this site, then try again.')}`;
            return;
        }
        this.video.el.srcObject = devices.camera;
        this.meter = new LevelMeter(devices.camera);
        this.timer = setInterval(() => this.check(), 200);
        this.state.ready = true;
    }

    check() {
        const level = this.meter.level();
        this.state.level = level;
        if (level > SILENT) this.quietSince = Date.now();
        this.state.silent = Date.now() - this.quietSince > 3000;
        const luma = brightness(this.video.el);
        this.state.dark = luma !== null && luma < DARK;
    }

    stopChecks() {
        clearInterval(this.timer);
        if (this.meter) this.meter.close();
        this.meter = null;
    }

    back() {
        closeStream(devices.camera);
        devices.camera = null;
        this.app.go('home');
    }

    record() {
        this.stopChecks();
        this.app.go('record');
    }
}

// ------------------------------------------------------------- recorder --

class Recorder extends Base {
    static template = xml`
<main class="recorder">
    <div class="stage">
        <div class="picture" t-ref="stage"/>
        <div class="badge"><span class="dot"/><t t-esc="tr('Recording')"/> <t t-esc="elapsed"/></div>
    </div>
    <aside class="script card">
        <p class="error" t-if="state.error" t-esc="state.error"/>
        <p class="error long-session" t-if="longSession" t-esc="longSession"/>
        <t t-if="nodes.length">
            <t t-if="node">
                <div class="node-head">
                    <strong t-esc="tr('Node {index} of {count}', {index: state.index + 1, count: nodes.length})"/>
                    <span class="muted" t-esc="node.name"/>
                </div>
                <p class="speaker" t-esc="tr('Speaker: {speaker}', {speaker: tr(node.speaker || 'salesperson')})"/>
                <div class="node-text" t-esc="node.text"/>
                <button class="primary wide" name="confirm" t-att-disabled="waitSeconds > 0" t-on-click="confirm"
                    t-esc="waitSeconds > 0 ? tr('Confirm in {seconds} s', {seconds: waitSeconds}) : tr('Confirm')"/>
            </t>
            <p t-else="" class="done" t-esc="tr('All nodes are confirmed: stop the recording.')"/>
            <ol class="progress-nodes">
                <li t-foreach="nodes" t-as="item" t-key="item.id"
                    t-att-class="item_index lt state.index ? 'confirmed' : (item_index === state.index ? 'current' : '')"
                    t-esc="item.name"/>
            </ol>
        </t>
        <p t-else="" class="muted" t-esc="tr('No script: stop when the sale is explained.')"/>
        <p class="muted small" t-esc="tr('Recording is saved on this device as it goes; it is uploaded when you stop.')"/>
        <div class="actions">
            <button name="abandon" t-on-click="abandon" t-esc="tr('Abandon')"/>
            <button class="danger" name="stop" t-att-disabled="!canStop" t-on-click="stop" t-esc="tr('Stop')"/>
        </div>
    </aside>
</main>`;

    setup() {
        super.setup();
        this.stage = useRef('stage');
        this.state = useState({ index: 0, now: Date.now(), error: '' });
        this.writes = Promise.resolve();
        this.seq = 0;
        this.timeline = this.nodes.map((node) => ({ node: node.id, started_at: null, confirmed_at: null }));
        onMounted(() => this.begin().catch((error) => {
            this.state.error = this.tr('Camera or microphone unavailable: {reason}',
                { reason: error.message || error.name });
        }));
        onWillUnmount(() => this.release());
    }

    get nodes() {
        return this.app.state.script ? this.app.state.script.nodes : [];
    }

    get node() {
        return this.nodes[this.state.index];
    }

    get elapsed() {
        const now = this.state.now; // read first: the clock renders the screen
        return this.startedAt ? formatDuration((now - this.startedAt) / 1000) : '00:00';
    }

    get longSession() {
        const now = this.state.now;
        if (!this.startedAt) return '';
        const minutes = Math.floor((now - this.startedAt) / 60000);
        if (minutes >= LIMIT_MINUTES) {
            return this.tr('The session has passed the {limit}-minute limit: it cannot be kept. Stop now and record the rest in a new session.',
                { limit: LIMIT_MINUTES });
        }
        if (minutes >= WARN_MINUTES) {
            return this.tr('The session has lasted {minutes} minutes: a session may last at most {limit} minutes, {left} more. Long sessions are kept at a lower picture quality.',
                { minutes, limit: LIMIT_MINUTES, left: LIMIT_MINUTES - minutes });
        }
        return '';
    }

    get waitSeconds() {
        const now = this.state.now;
        if (!this.node) return 0;
        const started = this.timeline[this.state.index].started_at;
        if (!started) return this.node.min_seconds || 0;
        const shown = Date.parse(started);
        return Math.max(0, Math.ceil((this.node.min_seconds || 0) - (now - shown) / 1000));
    }

    get canStop() {
        return this.state.index >= this.nodes.length;
    }

    async begin() {
        const app = this.app;
        const ticket = app.state.ticket;
        const video = document.createElement('video');
        video.muted = true;
        video.playsInline = true;
        video.srcObject = devices.camera;
        await video.play().catch(() => {});
        this.compositor = new Compositor(video, devices.camera,
            () => [this.tr('Ticket {number}', { number: ticket.number }), formatClock(new Date())]);
        this.stage.el.appendChild(this.compositor.canvas);
        const mimeType = pickMimeType();
        const options = app.state.options.recorder;
        this.recorder = new MediaRecorder(this.compositor.stream(), {
            mimeType,
            videoBitsPerSecond: options.video_bits_per_second,
            audioBitsPerSecond: options.audio_bits_per_second,
        });
        this.startedAt = Date.now();
        this.key = `${ticket.id}-${this.startedAt}`;
        app.state.activeKey = this.key;
        if (this.timeline.length) this.timeline[0].started_at = new Date().toISOString();
        this.local = {
            key: this.key, ticket: { id: ticket.id, number: ticket.number }, status: 'recording',
            mimeType: this.recorder.mimeType || mimeType, startedAt: new Date(this.startedAt).toISOString(),
            timeline: this.timeline, device: navigator.platform || '',
        };
        await store.putRecording(this.local);
        this.recorder.ondataavailable = (event) => {
            if (event.data && event.data.size) {
                const seq = this.seq++;
                this.writes = this.writes.then(() => store.addChunk(this.key, seq, event.data)).catch((error) => {
                    this.state.error = this.tr('The recording could not be saved on this device: {reason}', { reason: error.message });
                });
            }
        };
        this.recorder.start(options.timeslice_ms);
        this.clock = setInterval(() => { this.state.now = Date.now(); }, 250);
    }

    async confirm() {
        if (this.waitSeconds > 0 || !this.node) return;
        const now = new Date().toISOString();
        this.timeline[this.state.index].confirmed_at = now;
        this.state.index += 1;
        if (this.state.index < this.timeline.length) this.timeline[this.state.index].started_at = now;
        this.local.timeline = this.timeline;
        await store.putRecording(this.local);
    }

    finish() {
        return new Promise((resolve) => {
            if (!this.recorder || this.recorder.state === 'inactive') {
                resolve();
                return;
            }
            this.recorder.onstop = () => resolve();
            this.recorder.stop();
        });
    }

    async stop() {
        if (!this.canStop) return;
        await this.finish();
        await this.writes;
        this.local.status = 'waiting';
        this.local.endedAt = new Date().toISOString();
        await store.putRecording(this.local);
        this.release();
        this.app.afterRecording(this.key);
    }

    async abandon() {
        if (!window.confirm(this.tr('Abandon this recording? Nothing of it is kept.'))) return;
        await this.finish();
        await this.writes;
        await store.dropMedia(this.key, false);
        this.release();
        this.app.afterRecording(null);
    }

    release() {
        clearInterval(this.clock);
        if (this.compositor) this.compositor.close();
        closeStream(devices.camera);
        devices.camera = null;
        this.app.state.activeKey = null;
    }
}

// ------------------------------------------------------------------ app --

class Root extends Base {
    static template = xml`
<div class="app">
    <header class="top">
        <span class="brand" t-esc="tr('Recorder')"/>
        <t t-if="app.state.user">
            <span class="user" t-esc="app.state.user.name"/>
            <button class="link" name="logout" t-if="app.state.screen !== 'record'" t-on-click="() => app.logout()" t-esc="tr('Log out')"/>
        </t>
    </header>
    <p class="error banner" t-if="app.state.error" t-esc="app.state.error"/>
    <Login t-if="app.state.screen === 'login'" app="app"/>
    <Home t-elif="app.state.screen === 'home'" app="app"/>
    <TicketForm t-elif="app.state.screen === 'ticket'" app="app"/>
    <Preflight t-elif="app.state.screen === 'preflight'" app="app"/>
    <Recorder t-elif="app.state.screen === 'record'" app="app"/>
</div>`;

    static components = { Login, Home, TicketForm, Preflight, Recorder };

    setup() {
        super.setup();
    }
}

class App {
    constructor() {
        this.api = new Api();
        this.api.onUnauthorized = () => this.signedOut();
        this.state = reactive({
            screen: 'login', user: null, options: null, products: [], tickets: [],
            local: [], recordings: {}, progress: {}, ticket: null, script: null, error: '', activeKey: null,
        });
        this.uploader = new Uploader(this.api, () => this.loadLocal(), this.state.progress);
    }

    go(screen) {
        this.state.error = '';
        this.state.screen = screen;
    }

    async start() {
        await this.loadLocal();
        if (this.api.token) {
            try {
                await this.loadSession();
                return;
            } catch (error) {
                if (error.code !== 'network') this.api.forget();
                this.state.error = error.message;
            }
        }
        this.go('login');
    }

    async login(db, login, password) {
        await this.api.login(db, login, password);
        await this.loadSession();
    }

    async loadSession() {
        const user = await this.api.call('GET', '/me');
        setLanguage(user.language);
        const [options, products] = await Promise.all([
            this.api.call('GET', '/options'), this.api.call('GET', '/products')]);
        Object.assign(this.state, { user, options, products });
        this.go('home');
        this.uploader.resumeAll();
    }

    async logout() {
        await this.api.logout().catch(() => {});
        this.signedOut();
    }

    signedOut() {
        this.api.forget();
        Object.assign(this.state, { user: null, tickets: [], recordings: {} });
        this.go('login');
    }

    async loadLocal() {
        this.state.local = await store.listRecordings();
    }

    async refresh(quiet = false) {
        try {
            this.state.tickets = await this.api.call('GET', '/tickets?limit=50');
            for (const ticket of this.state.tickets) {
                if (ticket.recording) this.state.recordings[ticket.recording.id] = ticket.recording;
            }
            for (const local of this.state.local.filter((item) => item.recordingId)) {
                const recording = await this.api.call('GET', `/recordings/${local.recordingId}`);
                this.state.recordings[recording.id] = recording;
                if (local.verifying && recording.status === 'failed' && !recording.duration) {
                    // the server refused what it received: send it again
                    await store.putRecording({ ...toRaw(local), status: 'error', error: recording.error,
                        uploadId: null, recordingId: null, verifying: false });
                } else if (local.verifying && recording.status !== 'verifying') {
                    // checked by the server: the device's copy may go
                    await store.dropMedia(local.key);
                    await store.putRecording({ ...toRaw(local), verifying: false });
                }
                if (['ready', 'failed'].includes(recording.status) && !local.verifying) {
                    // the server's list shows it from now on
                    await store.dropMedia(local.key, false);
                }
            }
            await this.loadLocal();
            if (!quiet) this.state.error = '';
        } catch (error) {
            if (!quiet) this.state.error = error.message;
        }
    }

    prepare(ticket) {
        const product = this.state.products.find((p) => p.id === (ticket.product && ticket.product.id));
        this.state.ticket = ticket;
        this.state.script = product ? product.script : null;
        this.go('preflight');
    }

    async afterRecording(key) {
        await this.loadLocal();
        if (key) this.uploader.start(key);
        this.go('home');
    }

    // Run action; a failure (the device's storage refusing) is shown.
    async guard(action) {
        try {
            await action();
        } catch (error) {
            this.state.error = t('The recording could not be saved on this device: {reason}',
                { reason: error.message });
        }
    }

    // items of the state are proxies, which IndexedDB cannot store: toRaw
    finishInterrupted(item) {
        return this.guard(async () => {
            await store.putRecording({ ...toRaw(item), status: 'waiting' });
            await this.loadLocal();
            this.uploader.start(item.key);
        });
    }

    discard(item) {
        if (!window.confirm(t('Discard this recording? It cannot be recovered.'))) return null;
        return this.guard(async () => {
            await store.dropMedia(item.key, false);
            await this.loadLocal();
        });
    }

    retryUpload(local) {
        return this.guard(async () => {
            await store.putRecording({ ...toRaw(local), status: 'waiting', error: null, uploadId: null });
            await this.loadLocal();
            this.uploader.start(local.key);
        });
    }

    async retryProcessing(recording) {
        try {
            const updated = await this.api.call('POST', `/recordings/${recording.id}/retry`);
            this.state.recordings[updated.id] = updated;
            this.state.error = '';
        } catch (error) {
            this.state.error = error.message;
        }
    }
}

const app = new App();
window.dualrecRecorder = app; // for the browser tests
mount(Root, document.body, { props: { app } }).then(() => app.start());
