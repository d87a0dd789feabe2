// This file is part of the dualrec suite.  The COPYRIGHT file at the top level
// of this repository contains the full copyright notices and license terms.
// The app's texts are written in English; ZH holds their Chinese.  The
// language follows the user's preference on the server once logged in, the
// browser's before.
const ZH = {
    'Recorder': '双录',
    'Sales recording': '销售行为双录',
    'Database': '数据库',
    'User name': '用户名',
    'Password': '密码',
    'Log in': '登录',
    'Log out': '退出',
    'Logging in…': '正在登录…',
    'The server cannot be reached. Check the network.': '无法连接服务器，请检查网络。',
    'The server answered with an error ({status}).': '服务器返回错误（{status}）。',
    'New ticket': '新建投保单',
    'Tickets to record': '待录制的投保单',
    'No ticket waits for a recording.': '没有待录制的投保单。',
    'Record': '录制',
    'Record again': '重新录制',
    'Uploads': '上传列表',
    'Nothing recorded yet.': '尚无录像。',
    'Waiting': '等待上传',
    'Uploading {percent}%': '上传中 {percent}%',
    'Processing': '压缩处理中',
    'Verifying': '校验中',
    'Ready, {size}': '已完成，{size}',
    'Failed': '失败',
    'Retry': '重试',
    'Compress now': '立即压缩',
    'Upload now': '立即上传',
    'Held back': '暂缓处理',
    'Interrupted recording': '中断的录像',
    'A recording was interrupted before it ended. Upload what was recorded?': '有一段录像在结束前被中断。是否上传已录制的部分？',
    'Upload it': '上传',
    'Discard it': '丢弃',
    'Discard this recording? It cannot be recovered.': '确定丢弃这段录像？丢弃后无法恢复。',
    'Product information': '产品信息',
    'Policyholder information': '投保人信息',
    'Task number': '任务号',
    'Branch': '机构',
    'Product': '产品',
    'Product type': '产品类型',
    'Insurance period': '保险期间',
    'Payment method': '缴费方式',
    'Employee number': '工号',
    'Policyholder': '投保人姓名',
    'ID type': '证件类型',
    'ID number': '证件号码',
    'Phone': '手机号码',
    'Choose…': '请选择…',
    'Save and continue': '保存并继续',
    'Cancel': '取消',
    'Back': '返回',
    'Fill in: {fields}.': '请填写：{fields}。',
    'Check before recording': '录制前检查',
    'Both the salesperson and the customer must be in the picture for the whole recording.': '录制全程，销售人员和客户都必须在画面中。',
    'Picture': '画面',
    'Sound': '声音',
    'Too dark: add light or face a window.': '画面太暗：请增加照明或面向光源。',
    'Silent: check the microphone.': '没有声音：请检查麦克风。',
    'Good': '良好',
    'Start recording': '开始录制',
    'Camera or microphone unavailable: {reason}': '摄像头或麦克风不可用：{reason}',
    'Allow the camera and the microphone for this site, then try again.': '请允许本网站使用摄像头和麦克风，然后重试。',
    'Try again': '重试',
    'Recording': '录制中',
    'Node {index} of {count}': '第 {index} / {count} 个环节',
    'Speaker: {speaker}': '朗读人：{speaker}',
    'Confirm': '确认',
    'Confirm in {seconds} s': '{seconds} 秒后可确认',
    'Stop': '结束录制',
    'Abandon': '放弃',
    'Abandon this recording? Nothing of it is kept.': '确定放弃本次录制？已录内容不会保留。',
    'All nodes are confirmed: stop the recording.': '所有环节均已确认，请结束录制。',
    'Recording is saved on this device as it goes; it is uploaded when you stop.': '录像边录边保存在本设备上，结束后自动上传。',
    'salesperson': '销售人员',
    'customer': '客户',
    'both': '双方',
    'No script: stop when the sale is explained.': '无话术：讲解完毕后结束录制。',
    'The browser cannot record video here: use a recent Chrome, Edge or Safari, over https or on localhost.': '此浏览器无法在此录像：请使用新版 Chrome、Edge 或 Safari，并通过 https 或 localhost 访问。',
    'Ticket {number}': '投保单 {number}',
    'The recording could not be saved on this device: {reason}': '录像无法保存在本设备上：{reason}',
    'Saved': '已保存',
    'The session has lasted {minutes} minutes: a session may last at most {limit} minutes, {left} more. Long sessions are kept at a lower picture quality.': '本次录制已进行 {minutes} 分钟：单次录制最长 {limit} 分钟，还剩 {left} 分钟。长时间录制的画质会降低。',
    'The session has passed the {limit}-minute limit: it cannot be kept. Stop now and record the rest in a new session.': '本次录制已超过 {limit} 分钟上限，无法保存。请立即结束，其余内容另行录制。',
};

const LANGUAGES = { zh: ZH };

export function language() {
    const stored = window.localStorage.getItem('dualrec.lang');
    if (stored) return stored;
    return (navigator.language || 'zh-CN').toLowerCase().startsWith('en') ? 'en' : 'zh-CN';
}

export function setLanguage(code) {
    // Tryton's codes (zh_CN, en) to HTTP's
    const value = (code || '').toLowerCase().startsWith('en') ? 'en' : 'zh-CN';
    window.localStorage.setItem('dualrec.lang', value);
    document.documentElement.lang = value;
    return value;
}

export function t(text, params = {}) {
    const table = LANGUAGES[language().slice(0, 2)];
    const translated = (table && table[text]) || text;
    return translated.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
}

export function formatSize(bytes) {
    if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(2)} MB`;
    if (bytes >= 1e3) return `${Math.round(bytes / 1e3)} KB`;
    return `${bytes} B`;
}

export function formatClock(date) {
    const pad = (n) => String(n).padStart(2, '0');
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} `
        + `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

export function formatDuration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const pad = (n) => String(n).padStart(2, '0');
    return `${pad(Math.floor(s / 60))}:${pad(s % 60)}`;
}
