/*
 * Trợ lý ảo Dịch vụ công — embeddable chat widget (plain JS, no build step, no external requests).
 *
 * Embed with:
 *   <script>window.TroLyDVC = {server: "", title: "Trợ lý ảo Dịch vụ công"}</script>
 *   <script src="https://BOT-HOST/webhooks/webchat/widget.js" defer></script>
 *
 * Config (all optional): server (base URL of the Rasa server; "" = where widget.js came from),
 * title, subtitle, greeting, open (open the panel at once).
 *
 * Protocol (bot/channels/webchat.py): POST /webhooks/webchat/session -> {sender, token} (the server
 * issues the conversation; the token, sent as X-Webchat-Token with every request, binds it to this
 * browser), POST /webhooks/webchat/send {sender, message, client_msg_id,
 * display} and long-poll GET /webhooks/webchat/poll?sender=&after=<last id>&wait=25. Events carry
 * increasing ids; the widget stores the conversation (sender id, token, last id, rendered events, unsent
 * messages) in localStorage and always resumes from the last id it rendered, so nothing is lost or
 * shown twice across dropped connections and page reloads. Sends are retried with the same
 * client_msg_id; the server processes a message once.
 *
 * Security: every text from the server or the user is inserted with textContent / createTextNode,
 * never parsed as HTML; links are only created for http(s) URLs.
 */
(function () {
  "use strict";
  if (window.__troLyDVCLoaded) return;
  window.__troLyDVCLoaded = true;

  var config = window.TroLyDVC && typeof window.TroLyDVC === "object" ? window.TroLyDVC : {};
  var TEXT = {
    launcher: "Hỏi trợ lý ảo",
    title: typeof config.title === "string" && config.title ? config.title : "Trợ lý ảo Dịch vụ công",
    subtitle: typeof config.subtitle === "string" ? config.subtitle : "Hỗ trợ VNeID và dịch vụ công trực tuyến",
    greeting: typeof config.greeting === "string" && config.greeting ? config.greeting :
      "Xin chào! Tôi là trợ lý ảo, hỗ trợ bạn về tài khoản định danh điện tử VNeID và dịch vụ công trực tuyến. " +
      "Bạn cần hỏi gì?",
    placeholder: "Nhập câu hỏi (có dấu hoặc không dấu đều được)…",
    inputLabel: "Câu hỏi của bạn",
    send: "Gửi",
    sendLabel: "Gửi câu hỏi",
    close: "Đóng cửa sổ trò chuyện",
    restart: "Cuộc trò chuyện mới",
    restartLabel: "Bắt đầu cuộc trò chuyện mới (xoá nội dung đang hiển thị)",
    log: "Nội dung trò chuyện",
    you: "Bạn",
    bot: "Trợ lý ảo",
    agent: "Tổng đài viên",
    typing: "Trợ lý đang trả lời…",
    choices: "Lựa chọn",
    sending: "Đang gửi…",
    offline: "Mất kết nối. Đang thử kết nối lại…",
    failed: "Tin nhắn không gửi được: ",
    tooLong: "Câu hỏi quá dài (tối đa 5.000 ký tự). Bạn vui lòng rút gọn.",
    note: "Không gửi mật khẩu, mã OTP hay mã bảo vệ (passcode) cho bất kỳ ai.",
    image: "Hình ảnh từ trợ lý",
    newTab: " (mở trong thẻ mới)",
    suggestions: ["Quên mật khẩu VNeID", "Kích hoạt tài khoản định danh mức 2", "Tra cứu hồ sơ dịch vụ công"]
  };
  var MAX_CHARS = 5000;
  var MAX_HISTORY = 200;
  var POLL_WAIT = 25;

  // ------------------------------------------------------------------ base URL, storage

  function baseUrl() {
    if (typeof config.server === "string" && config.server.trim()) {
      return config.server.trim().replace(/\/+$/, "");
    }
    var script = document.currentScript;
    if (script && script.src) {
      var src = script.src.split("#")[0].split("?")[0];
      var suffix = "/webhooks/webchat/widget.js";
      if (src.slice(-suffix.length) === suffix) return src.slice(0, -suffix.length);
      try { return new URL(src).origin; } catch (e) { /* fall through */ }
    }
    return window.location.origin;
  }

  var BASE = baseUrl();
  var API = BASE + "/webhooks/webchat";
  var STORE_KEY = "trolydvc:v1:" + BASE;

  function randomId(prefix) {
    var bytes = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    var hex = "";
    for (var i = 0; i < bytes.length; i++) hex += ("0" + bytes[i].toString(16)).slice(-2);
    return prefix + hex;
  }

  function freshState() {
    // no conversation yet: the server issues one (POST /session) when the first message is sent
    return {sender: null, token: null, lastId: 0, epoch: null, history: [], outbox: [], open: false};
  }

  function loadState() {
    try {
      var raw = window.localStorage.getItem(STORE_KEY);
      if (raw) {
        var s = JSON.parse(raw);
        if (s && typeof s.sender === "string" && /^[A-Za-z0-9_.:@-]{1,128}$/.test(s.sender) &&
            typeof s.token === "string") {
          return {
            sender: s.sender,
            token: s.token,
            lastId: typeof s.lastId === "number" && s.lastId >= 0 ? s.lastId : 0,
            epoch: typeof s.epoch === "string" ? s.epoch : null,
            history: Array.isArray(s.history) ? s.history.filter(isEvent).slice(-MAX_HISTORY) : [],
            outbox: Array.isArray(s.outbox) ? s.outbox.filter(isOutboxItem) : [],
            open: !!s.open
          };
        }
      }
    } catch (e) { /* corrupted or unavailable storage: start over */ }
    return freshState();
  }

  function isEvent(e) {
    return e && typeof e === "object" && typeof e.id === "number";
  }

  function isOutboxItem(m) {
    return m && typeof m.id === "string" && typeof m.message === "string";
  }

  var state = loadState();

  function save() {
    try {
      if (state.history.length > MAX_HISTORY) state.history = state.history.slice(-MAX_HISTORY);
      window.localStorage.setItem(STORE_KEY, JSON.stringify(state));
    } catch (e) { /* private mode / quota: the conversation just is not kept */ }
  }

  // ------------------------------------------------------------------ DOM helpers

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) {
      for (var key in attrs) {
        if (Object.prototype.hasOwnProperty.call(attrs, key) && attrs[key] !== null && attrs[key] !== undefined) {
          if (key === "className") node.className = attrs[key];
          else node.setAttribute(key, attrs[key]);
        }
      }
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function safeHttpUrl(value) {
    if (typeof value !== "string") return null;
    try {
      var url = new URL(value);
      if (url.protocol === "http:" || url.protocol === "https:") return url.href;
    } catch (e) { /* not a URL */ }
    return null;
  }

  var URL_RE = /https?:\/\/[^\s<>"'`]+/gi;

  // Text with clickable http(s) links; everything is a text node or an <a> built by hand.
  function richText(text) {
    var frag = document.createDocumentFragment();
    text = String(text || "");
    var last = 0;
    var match;
    URL_RE.lastIndex = 0;
    while ((match = URL_RE.exec(text)) !== null) {
      var raw = match[0];
      var trimmed = raw.replace(/[)\].,;:!?…]+$/, "");
      var href = safeHttpUrl(trimmed);
      if (!href) continue;
      if (match.index > last) frag.appendChild(document.createTextNode(text.slice(last, match.index)));
      frag.appendChild(link(trimmed, href));
      last = match.index + trimmed.length;
      URL_RE.lastIndex = last;
    }
    if (last < text.length) frag.appendChild(document.createTextNode(text.slice(last)));
    return frag;
  }

  function link(label, href, className) {
    var a = el("a", {href: href, target: "_blank", rel: "noopener noreferrer", className: className || null}, label);
    a.appendChild(el("span", {className: "tl-sr"}, TEXT.newTab));
    return a;
  }

  // ------------------------------------------------------------------ build the widget

  var host = el("div", {id: "trolydvc-widget"});
  var root = host.attachShadow ? host.attachShadow({mode: "open"}) : host;
  var css = el("link", {rel: "stylesheet", href: API + "/widget.css"});
  var shell = el("div", {className: "tl-shell", hidden: ""});
  function showShell() {
    shell.hidden = false;
    if (typeof autosize === "function") autosize();
  }
  css.addEventListener("load", showShell);
  css.addEventListener("error", showShell);
  root.appendChild(css);
  root.appendChild(shell);

  var launcher = el("button", {type: "button", className: "tl-launcher", "aria-expanded": "false",
    "aria-controls": "tl-panel"});
  launcher.appendChild(el("span", {className: "tl-launcher-icon", "aria-hidden": "true"}, "💬"));
  launcher.appendChild(el("span", null, TEXT.launcher));

  var panel = el("section", {id: "tl-panel", className: "tl-panel", role: "dialog",
    "aria-labelledby": "tl-title", hidden: ""});
  var header = el("header", {className: "tl-header"});
  var heading = el("div", {className: "tl-heading"});
  heading.appendChild(el("h2", {id: "tl-title", className: "tl-title"}, TEXT.title));
  if (TEXT.subtitle) heading.appendChild(el("p", {className: "tl-subtitle"}, TEXT.subtitle));
  var restartButton = el("button", {type: "button", className: "tl-icon-button", "aria-label": TEXT.restartLabel,
    title: TEXT.restart}, "↺");
  var closeButton = el("button", {type: "button", className: "tl-icon-button", "aria-label": TEXT.close,
    title: TEXT.close}, "✕");
  header.appendChild(heading);
  header.appendChild(restartButton);
  header.appendChild(closeButton);

  var status = el("div", {className: "tl-status", role: "status", "aria-live": "polite"});
  var log = el("div", {className: "tl-log", role: "log", "aria-live": "polite", "aria-label": TEXT.log,
    tabindex: "0"});
  var typing = el("div", {className: "tl-typing", hidden: ""});
  var dots = el("span", {className: "tl-dots", "aria-hidden": "true"});
  dots.appendChild(el("span"));
  dots.appendChild(el("span"));
  dots.appendChild(el("span"));
  typing.appendChild(dots);
  typing.appendChild(el("span", {className: "tl-typing-text"}, TEXT.typing));

  var form = el("form", {className: "tl-form", novalidate: ""});
  form.appendChild(el("label", {"for": "tl-input", className: "tl-sr"}, TEXT.inputLabel));
  var input = el("textarea", {id: "tl-input", className: "tl-input", rows: "1", maxlength: String(MAX_CHARS),
    placeholder: TEXT.placeholder, autocomplete: "off", "aria-describedby": "tl-note"});
  var sendButton = el("button", {type: "submit", className: "tl-send", "aria-label": TEXT.sendLabel}, TEXT.send);
  form.appendChild(input);
  form.appendChild(sendButton);

  panel.appendChild(header);
  panel.appendChild(status);
  panel.appendChild(log);
  panel.appendChild(typing);
  panel.appendChild(form);
  panel.appendChild(el("p", {id: "tl-note", className: "tl-note"}, TEXT.note));
  shell.appendChild(panel);
  shell.appendChild(launcher);

  // ------------------------------------------------------------------ rendering

  var greetingNode = null;

  function renderGreeting() {
    greetingNode = el("div", {className: "tl-msg tl-bot tl-greeting"});
    greetingNode.appendChild(el("span", {className: "tl-sr"}, TEXT.bot + ": "));
    greetingNode.appendChild(el("div", {className: "tl-text"}, TEXT.greeting));
    if (!state.history.length && !state.outbox.length) {
      var group = el("div", {className: "tl-choices", role: "group", "aria-label": TEXT.choices});
      TEXT.suggestions.forEach(function (s) {
        var b = el("button", {type: "button", className: "tl-choice"}, s);
        b.addEventListener("click", function () { submit(s, null, group); });
        group.appendChild(b);
      });
      greetingNode.appendChild(group);
    }
    log.appendChild(greetingNode);
  }

  function firstPending() {
    return log.querySelector(".tl-pending");
  }

  function closeChoices() {
    var groups = log.querySelectorAll(".tl-choices:not(.tl-done)");
    for (var i = 0; i < groups.length; i++) {
      groups[i].classList.add("tl-done");
      var buttons = groups[i].querySelectorAll("button");
      for (var j = 0; j < buttons.length; j++) buttons[j].disabled = true;
    }
  }

  function messageNode(ev) {
    var kind = ev.type === "user" ? "user" : ev.type === "agent" ? "agent" : "bot";
    var node = el("div", {className: "tl-msg tl-" + kind});
    if (typeof ev.id === "number") node.setAttribute("data-id", String(ev.id));
    if (kind === "agent") {
      node.appendChild(el("div", {className: "tl-label"}, TEXT.agent));
    } else {
      node.appendChild(el("span", {className: "tl-sr"}, (kind === "user" ? TEXT.you : TEXT.bot) + ": "));
    }
    if (ev.text) {
      var body = el("div", {className: "tl-text"});
      body.appendChild(kind === "user" ? document.createTextNode(String(ev.text)) : richText(ev.text));
      node.appendChild(body);
    }
    var image = safeHttpUrl(ev.image);
    if (image) {
      var img = el("img", {className: "tl-image", alt: TEXT.image, loading: "lazy", referrerpolicy: "no-referrer"});
      img.src = image;
      node.appendChild(img);
    }
    if (Array.isArray(ev.buttons) && ev.buttons.length) {
      var group = el("div", {className: "tl-choices", role: "group", "aria-label": TEXT.choices});
      ev.buttons.forEach(function (b) {
        if (!b || typeof b !== "object") return;
        var title = String(b.title || b.payload || b.url || "");
        var href = b.url ? safeHttpUrl(b.url) : null;
        if (b.url) {
          if (href) group.appendChild(link(title, href, "tl-choice tl-choice-link"));
          return;
        }
        if (typeof b.payload !== "string" || !b.payload) return;
        var button = el("button", {type: "button", className: "tl-choice"}, title);
        button.addEventListener("click", function () { submit(b.payload, title, group); });
        group.appendChild(button);
      });
      if (group.childNodes.length) node.appendChild(group);
    }
    return node;
  }

  function insert(node) {
    log.insertBefore(node, firstPending());
  }

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function renderEvent(ev) {
    if (ev.type === "user") closeChoices();
    if (ev.type === "user" && ev.client_msg_id) {
      var pending = log.querySelector('.tl-pending[data-cmid="' + cssEscape(ev.client_msg_id) + '"]');
      if (pending) {
        var confirmed = messageNode(ev);
        pending.parentNode.replaceChild(confirmed, pending);
        // keep confirmed messages above the ones still being sent
        log.insertBefore(confirmed, firstPending());
        return;
      }
    }
    insert(messageNode(ev));
  }

  function cssEscape(value) {
    return String(value).replace(/[^A-Za-z0-9_-]/g, function (c) { return "\\" + c.charCodeAt(0).toString(16) + " "; });
  }

  function renderPending(item) {
    closeChoices();
    var node = messageNode({type: "user", text: item.display || item.message});
    node.classList.add("tl-pending");
    node.setAttribute("data-cmid", item.id);
    node.appendChild(el("div", {className: "tl-meta"}, TEXT.sending));
    log.appendChild(node);
  }

  function renderAll() {
    while (log.firstChild) log.removeChild(log.firstChild);
    renderGreeting();
    state.history.forEach(renderEvent);
    state.outbox = state.outbox.filter(function (m) { return !echoSeen(m.id); });
    state.outbox.forEach(renderPending);
    scrollDown();
  }

  // ------------------------------------------------------------------ network

  var wakers = [];

  function sleep(ms) {
    return new Promise(function (resolve) {
      var done = function () { clearTimeout(timer); resolve(); };
      var timer = setTimeout(function () {
        wakers = wakers.filter(function (w) { return w !== done; });
        resolve();
      }, ms);
      wakers.push(done);
    });
  }

  function wakeAll() {
    var list = wakers;
    wakers = [];
    list.forEach(function (w) { w(); });
  }

  window.addEventListener("online", wakeAll);

  function backoff(failures) {
    var ms = Math.min(30000, 1000 * Math.pow(2, Math.max(0, failures - 1)));
    return Math.round(ms * (0.5 + Math.random() * 0.5));
  }

  function request(url, options, timeoutMs, controller) {
    if (!controller && typeof AbortController !== "undefined") controller = new AbortController();
    var timer = controller ? setTimeout(function () { controller.abort(); }, timeoutMs) : null;
    options = options || {};
    if (controller) options.signal = controller.signal;
    options.cache = "no-store";
    options.credentials = "omit";
    return fetch(url, options).then(function (res) {
      return res.text().then(function (body) {
        if (timer) clearTimeout(timer);
        var data = null;
        try { data = body ? JSON.parse(body) : null; } catch (e) { data = null; }
        return {status: res.status, ok: res.ok, data: data};
      });
    }, function (err) {
      if (timer) clearTimeout(timer);
      throw err;
    });
  }

  function authHeaders(extra) {
    var headers = extra || {};
    if (state.token) headers["X-Webchat-Token"] = state.token;
    return headers;
  }

  var sessionRequest = null;

  // A conversation issued by the server (POST /session), once; callers retry on failure.
  function ensureSession() {
    if (state.sender && state.token) return Promise.resolve(state.sender);
    if (!sessionRequest) {
      sessionRequest = request(API + "/session", {method: "POST"}, 20000).then(function (res) {
        sessionRequest = null;
        if (!res.ok || !res.data || typeof res.data.sender !== "string" || typeof res.data.token !== "string") {
          throw new Error("session HTTP " + res.status);
        }
        if (!state.sender) {
          state.sender = res.data.sender;
          state.token = res.data.token;
          state.lastId = 0;
          state.epoch = null;
          save();
        }
        return state.sender;
      }, function (err) {
        sessionRequest = null;
        throw err;
      });
    }
    return sessionRequest;
  }

  // The server no longer knows this conversation (403): keep what is shown, start a new one.
  function forgetSession() {
    state.sender = null;
    state.token = null;
    state.lastId = 0;
    state.epoch = null;
    save();
  }

  var unconfirmed = {};   // client_msg_id -> time sent: accepted by the server, echo not received yet
  var UNCONFIRMED_MS = 120000;
  var serverBusy = false;
  var sendFailures = 0;
  var pollFailures = 0;

  function setStatus(text) {
    if (status.textContent !== text) status.textContent = text;
    status.classList.toggle("tl-status-on", !!text);
  }

  function updateStatus() {
    setStatus(sendFailures > 0 || pollFailures > 1 ? TEXT.offline : "");
  }

  function echoSeen(id) {
    for (var i = state.history.length - 1; i >= 0; i--) {
      if (state.history[i].client_msg_id === id) return true;
    }
    return false;
  }

  function updateTyping() {
    var now = Date.now();
    Object.keys(unconfirmed).forEach(function (id) {
      if (now - unconfirmed[id] > UNCONFIRMED_MS) delete unconfirmed[id];
    });
    var waiting = serverBusy || state.outbox.length > 0 || Object.keys(unconfirmed).length > 0;
    var wasHidden = typing.hidden;
    typing.hidden = !waiting;
    if (wasHidden && waiting) scrollDown();
  }

  function applyEvents(events) {
    var nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    events.forEach(function (ev) {
      if (!isEvent(ev) || ev.id <= state.lastId) return;   // never render an event twice
      state.lastId = ev.id;
      state.history.push(ev);
      if (ev.client_msg_id) {
        delete unconfirmed[ev.client_msg_id];
        // its send succeeded even if the answer to the POST was lost: do not send it again
        state.outbox = state.outbox.filter(function (m) { return m.id !== ev.client_msg_id; });
      }
      renderEvent(ev);
    });
    save();
    if (nearBottom || events.length) scrollDown();
  }

  var polling = false;
  var pollController = null;

  function pollLoop() {
    if (polling) return;
    polling = true;
    var first = true;
    (function next() {
      if (!state.sender || !state.token) {   // nothing sent yet: the first send starts polling
        polling = false;
        return;
      }
      var params = "sender=" + encodeURIComponent(state.sender) + "&after=" + state.lastId +
        "&wait=" + (first ? 0 : POLL_WAIT) + (first ? "" : "&busy=" + (serverBusy ? 1 : 0)) +
        (state.epoch ? "&epoch=" + encodeURIComponent(state.epoch) : "");
      var sender = state.sender;
      pollController = typeof AbortController !== "undefined" ? new AbortController() : null;
      request(API + "/poll?" + params, {method: "GET", headers: authHeaders()}, (POLL_WAIT + 15) * 1000,
              pollController)
      .then(function (res) {
        if (sender !== state.sender) return next();   // conversation restarted meanwhile
        if (res.status === 403) {   // conversation unknown to the server: the next send starts a new one
          forgetSession();
          return next();
        }
        if (!res.ok || !res.data || !Array.isArray(res.data.events)) {
          throw new Error("poll HTTP " + res.status);
        }
        first = false;
        pollFailures = 0;
        var data = res.data;
        if ((state.epoch && data.epoch && data.epoch !== state.epoch) ||
            (typeof data.last_id === "number" && data.last_id < state.lastId)) {
          // The server's store was reset: its ids start again. Keep what is shown, restart at 0.
          state.epoch = data.epoch || null;
          state.lastId = 0;
          save();
          return next();
        }
        state.epoch = data.epoch || state.epoch;
        applyEvents(data.events);
        serverBusy = !!data.busy;
        updateTyping();
        updateStatus();
        return next();
      }).catch(function () {
        if (sender !== state.sender) { first = true; return next(); }
        pollFailures += 1;
        updateStatus();
        return sleep(backoff(pollFailures)).then(next);
      });
    })();
  }

  var sending = false;

  function flushOutbox() {
    if (sending) return;
    sending = true;
    (function next() {
      var item = state.outbox[0];
      if (!item) {
        sending = false;
        updateTyping();
        return;
      }
      if (!state.sender || !state.token) {
        ensureSession().then(next, function () {
          sendFailures += 1;
          updateStatus();
          return sleep(backoff(sendFailures)).then(next);
        });
        return;
      }
      var sender = state.sender;
      var body = {sender: sender, message: item.message, client_msg_id: item.id};
      if (item.display) body.display = item.display;
      request(API + "/send", {
        method: "POST",
        headers: authHeaders({"Content-Type": "application/json"}),
        body: JSON.stringify(body)
      }, 20000).then(function (res) {
        if (sender !== state.sender) return next();   // conversation restarted meanwhile
        if (res.status === 403) {   // conversation unknown to the server: send again in a new one
          forgetSession();
          throw new Error("send HTTP 403");
        }
        if (res.status === 202 || res.ok) {
          if (!echoSeen(item.id)) unconfirmed[item.id] = Date.now();
          removeFromOutbox(item.id);
          sendFailures = 0;
          save();
          updateStatus();
          updateTyping();
          pollLoop();
          wakeAll();   // a poll waiting for a retry should go now
          return next();
        }
        if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
          removeFromOutbox(item.id);
          save();
          failPending(item.id, res.data && res.data.message ? res.data.message : "HTTP " + res.status);
          return next();
        }
        throw new Error("send HTTP " + res.status);
      }).catch(function () {
        sendFailures += 1;
        updateStatus();
        return sleep(backoff(sendFailures)).then(next);
      });
    })();
  }

  function removeFromOutbox(id) {
    state.outbox = state.outbox.filter(function (m) { return m.id !== id; });
  }

  function failPending(id, reason) {
    var node = log.querySelector('.tl-pending[data-cmid="' + cssEscape(id) + '"]');
    if (!node) return;
    node.classList.remove("tl-pending");
    node.classList.add("tl-failed");
    var meta = node.querySelector(".tl-meta");
    if (meta) meta.textContent = TEXT.failed + reason;
    updateTyping();
  }

  // ------------------------------------------------------------------ user actions

  function submit(message, display, group) {
    message = String(message || "").trim();
    if (!message) return false;
    if (message.length > MAX_CHARS) {
      setStatus(TEXT.tooLong);
      return false;
    }
    if (group) {
      group.classList.add("tl-done");
      var buttons = group.querySelectorAll("button");
      for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
      input.focus();
    }
    var item = {id: randomId("m-"), message: message};
    if (display) item.display = String(display);
    state.outbox.push(item);
    save();
    renderPending(item);
    scrollDown();
    updateTyping();
    flushOutbox();
    pollLoop();
    return true;
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (submit(input.value)) {
      input.value = "";
      autosize();
    }
    input.focus();
  });

  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      if (typeof form.requestSubmit === "function") form.requestSubmit();
      else form.dispatchEvent(new Event("submit", {cancelable: true}));
    }
  });

  function autosize() {
    if (panel.hidden || shell.hidden) return;   // no size yet: done again when shown
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 120) + "px";
  }
  input.addEventListener("input", autosize);

  function open() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    shell.classList.add("tl-is-open");
    state.open = true;
    save();
    pollLoop();
    flushOutbox();
    autosize();   // fits the (two-line on phones) placeholder now that the panel has a size
    scrollDown();
    input.focus();
  }

  function close() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    shell.classList.remove("tl-is-open");
    state.open = false;
    save();
    launcher.focus();
  }

  launcher.addEventListener("click", function () {
    if (panel.hidden) open(); else close();
  });
  closeButton.addEventListener("click", close);
  panel.addEventListener("keydown", function (e) {
    if (e.key === "Escape") {
      e.preventDefault();
      close();
    }
  });
  restartButton.addEventListener("click", function () {
    var keepOpen = state.open;
    state = freshState();
    state.open = keepOpen;
    unconfirmed = {};
    serverBusy = false;
    if (pollController) pollController.abort();   // the open long-poll is for the old conversation
    save();
    renderAll();
    updateTyping();
    input.focus();
  });

  // ------------------------------------------------------------------ start

  function start() {
    document.body.appendChild(host);
    renderAll();
    updateTyping();
    if (state.open || config.open === true) open();
    else if (state.outbox.length) { flushOutbox(); pollLoop(); }
  }

  window.TroLyDVC = config;
  config.openChat = open;
  config.closeChat = close;

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
