// Agent console: login, live queue (polling), claim, context, reply, close / hand back.
// Text from the server is only ever set with textContent, never parsed as HTML.
"use strict";

(function () {
  const POLL_MS = 3000;
  const HEARTBEAT_MS = 30000;
  const $ = (id) => document.getElementById(id);
  const state = { me: null, selected: null, reveal: false, lastMessages: "", timers: [] };

  const REASONS = {
    citizen_request: "Người dân yêu cầu gặp người",
    repeated_abstain: "Trợ lý ảo hai lần không trả lời được",
  };
  const STATUS = { queued: "Đang chờ", claimed: "Đang xử lý", closed: "Đã kết thúc", returned: "Đã trả cho trợ lý ảo", offline: "Ngoài giờ" };
  const ROLE = { user: "Người dân", bot: "Trợ lý ảo", agent: "Tổng đài viên", system: "Hệ thống" };

  function reasonText(reason) {
    if (!reason) return "";
    if (REASONS[reason]) return REASONS[reason];
    if (reason.startsWith("policy:")) return "Theo quy định cần người xử lý (" + reason.slice(7) + ")";
    return reason;
  }

  function time(ts) {
    if (!ts) return "";
    return new Date(ts * 1000).toLocaleTimeString("vi-VN", { hour: "2-digit", minute: "2-digit" });
  }

  function waited(ts, now) {
    const s = Math.max(0, Math.round((now || Date.now() / 1000) - ts));
    return s < 60 ? s + " giây" : Math.round(s / 60) + " phút";
  }

  async function call(method, path, body) {
    const options = { method, credentials: "same-origin", headers: { "X-Requested-With": "handoff-console" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    if (response.status === 401 && path !== "/api/login") {
      showLogin();
    }
    return { status: response.status, data };
  }

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  // ------------------------------------------------------------------ views

  function showLogin() {
    state.me = null;
    state.timers.forEach(clearInterval);
    state.timers = [];
    $("work-view").hidden = true;
    $("login-view").hidden = false;
    $("logout").hidden = true;
    $("who").textContent = "";
    $("status-line").textContent = "";
  }

  function showWork(me) {
    state.me = me;
    $("login-view").hidden = true;
    $("work-view").hidden = false;
    $("logout").hidden = false;
    $("who").textContent = me.display_name + " (" + me.username + ")";
    heartbeat();
    refreshQueue();
    state.timers.push(setInterval(refreshQueue, POLL_MS));
    state.timers.push(setInterval(heartbeat, HEARTBEAT_MS));
    state.timers.push(setInterval(() => { if (state.selected) openConversation(state.selected, true); }, POLL_MS));
  }

  async function heartbeat() {
    const { status, data } = await call("POST", "/api/heartbeat");
    if (status === 200) {
      $("status-line").textContent = "Đang trực · " + data.online_agents + " người trực · giờ trực: " + data.working_hours +
        (data.open_now ? "" : " (hiện ngoài giờ)");
    }
  }

  function item(row, now) {
    const li = el("li");
    li.dataset.id = row.id;
    if (row.id === state.selected) li.classList.add("active");
    const head = (row.position ? "#" + row.position + " · " : "") + (row.channel || "?") + " · chờ " + waited(row.created_at, now);
    li.appendChild(el("strong", head));
    if (row.claimed_by_name && !row.mine) li.appendChild(el("span", " · " + row.claimed_by_name, "muted"));
    li.appendChild(el("span", row.question || reasonText(row.reason), "q"));
    if (row.top_guide) li.appendChild(el("span", "Gần nhất: " + row.top_guide, "q"));
    if (row.mine || row.status === "queued") li.addEventListener("click", () => openConversation(row.id));
    return li;
  }

  async function refreshQueue() {
    const { status, data } = await call("GET", "/api/queue");
    if (status !== 200) return;
    for (const [list, rows] of [["mine-list", data.mine], ["queue-list", data.queued], ["others-list", data.others]]) {
      const ul = $(list);
      clear(ul);
      rows.forEach((row) => ul.appendChild(item(row, data.now)));
    }
    $("mine-count").textContent = data.mine.length || "";
    $("queue-count").textContent = data.queued.length || "";
    $("callbacks-count").textContent = data.callbacks_open || "";
    const sent = await call("GET", "/api/deliveries");
    if (sent.status === 200) $("deliveries-count").textContent = sent.data.counts.failed || "";
    document.title = (data.queued.length ? "(" + data.queued.length + ") " : "") + "Tổng đài viên";
  }

  function renderUnderstanding(u) {
    const dl = $("understanding");
    clear(dl);
    const rows = [
      ["Câu hỏi", u.question],
      ["Ý định cuối", u.last_intent + (u.last_intent_confidence ? " (" + Math.round(u.last_intent_confidence * 100) + "%)" : "")],
      ["Ý định trước đó", u.previous_intent],
      ["Quyết định", [u.decision, u.route, u.decision_reason].filter(Boolean).join(" · ")],
      ["Lý do chuyển", reasonText(u.reason)],
      ["Chủ đề trước", u.last_topic],
    ];
    rows.forEach(([k, v]) => {
      if (!v || v === "undefined") return;
      dl.appendChild(el("dt", k));
      dl.appendChild(el("dd", String(v)));
    });
    const ol = $("guides");
    clear(ol);
    (u.top_guides || []).forEach((g) => {
      const score = typeof g.score === "number" ? " — điểm " + g.score.toFixed(2) : "";
      ol.appendChild(el("li", (g.title || g.id) + score));
    });
  }

  function renderMessages(messages) {
    const key = JSON.stringify(messages.map((m) => [m.id, m.text]));
    if (key === state.lastMessages) return;
    state.lastMessages = key;
    const ol = $("messages");
    clear(ol);
    messages.forEach((m) => {
      const li = el("li", null, m.role);
      li.dataset.role = m.role;
      const who = ROLE[m.role] + (m.agent ? " " + m.agent : "") + " · " + time(m.ts) +
        (m.delivery === "recorded" ? " · chỉ ghi nhận, kênh không nhận tin đẩy" : "");
      li.appendChild(el("span", who, "meta"));
      li.appendChild(el("span", m.text, "text"));
      ol.appendChild(li);
    });
    ol.lastElementChild && ol.lastElementChild.scrollIntoView({ block: "nearest" });
  }

  async function openConversation(id, quiet) {
    if (!quiet || state.selected !== id) {
      state.selected = id;
      state.reveal = false;
      state.lastMessages = "";
      $("action-error").textContent = "";
    }
    const { status, data } = await call("GET", "/api/conversations/" + encodeURIComponent(id) + (state.reveal ? "?reveal=1" : ""));
    if (status !== 200) {
      if (!quiet) $("action-error").textContent = data.message || "Không mở được hội thoại.";
      if (status === 403 || status === 404) { state.selected = null; }
      return;
    }
    const c = data.conversation;
    $("empty").hidden = true;
    $("callbacks").hidden = true;
    $("deliveries").hidden = true;
    $("conversation").hidden = false;
    $("conv-title").textContent = STATUS[c.status] + " · " + (c.channel || "?") + " · " + c.sender;
    $("conv-meta").textContent = "Bắt đầu chờ " + time(c.created_at) + " · " + reasonText(c.reason) +
      (c.claimed_by_name ? " · xử lý: " + c.claimed_by_name : "") + (c.position ? " · vị trí " + c.position : "");
    const warn = [];
    if (c.delivery === "recorded") warn.push("Kênh " + c.channel + " không nhận được tin nhắn đẩy: câu trả lời chỉ được ghi vào hội thoại.");
    if (c.rasa_error) warn.push("Chưa đọc được tin nhắn mới từ trợ lý ảo (" + c.rasa_error + ").");
    const sent = await call("GET", "/api/conversations/" + encodeURIComponent(id) + "/deliveries");
    if (sent.status === 200) {
      sent.data.failed.forEach((d) => warn.push("Tin trả lời lúc " + time(d.created_at) + " không tới được người dân (" +
        (d.status ? "HTTP " + d.status + ": " : "") + d.error + ")."));
      if (sent.data.pending) warn.push(sent.data.pending + " tin trả lời đang chờ gửi lại.");
    }
    $("conv-warning").textContent = warn.join(" ");
    $("conv-warning").hidden = warn.length === 0;
    const mine = c.status === "claimed" && c.mine;
    $("claim").hidden = c.status !== "queued";
    $("release").hidden = !mine;
    $("hand-back").hidden = !mine;
    $("close").hidden = !mine;
    $("reveal").hidden = !mine;
    $("reveal").textContent = state.reveal ? "Che số cá nhân" : "Hiện số đầy đủ";
    $("reply-form").hidden = !mine;
    renderUnderstanding(data.understanding || {});
    renderMessages(data.messages || []);
  }

  async function act(path, body, after) {
    $("action-error").textContent = "";
    const { status, data } = await call("POST", "/api/conversations/" + encodeURIComponent(state.selected) + path, body);
    if (status !== 200) {
      $("action-error").textContent = data.message || "Không thực hiện được (" + status + ").";
      return false;
    }
    if (after) after(data);
    await refreshQueue();
    if (state.selected) await openConversation(state.selected, true);
    return true;
  }

  async function showCallbacks() {
    state.selected = null;
    const { status, data } = await call("GET", "/api/callbacks");
    if (status !== 200) return;
    $("conversation").hidden = true;
    $("empty").hidden = true;
    $("deliveries").hidden = true;
    $("callbacks").hidden = false;
    const body = $("callbacks-body");
    clear(body);
    data.callbacks.forEach((c) => {
      const tr = el("tr");
      [new Date(c.created_at * 1000).toLocaleString("vi-VN"), c.name, c.phone, c.channel || ""].forEach((v) => tr.appendChild(el("td", v)));
      const td = el("td");
      const done = el("button", "Đã gọi");
      done.type = "button";
      done.addEventListener("click", async () => {
        await call("POST", "/api/callbacks/" + c.id + "/done");
        showCallbacks();
        refreshQueue();
      });
      td.appendChild(done);
      tr.appendChild(td);
      body.appendChild(tr);
    });
  }

  async function showDeliveries() {
    state.selected = null;
    const { status, data } = await call("GET", "/api/deliveries");
    if (status !== 200) return;
    $("conversation").hidden = true;
    $("empty").hidden = true;
    $("callbacks").hidden = true;
    $("deliveries").hidden = false;
    const body = $("deliveries-body");
    clear(body);
    data.failed.forEach((d) => {
      const tr = el("tr");
      [new Date(d.created_at * 1000).toLocaleString("vi-VN"), d.channel, d.sender,
        (d.status ? "HTTP " + d.status + ": " : "") + d.error, d.text].forEach((v) => tr.appendChild(el("td", v)));
      body.appendChild(tr);
    });
  }

  // ------------------------------------------------------------------ wiring

  document.addEventListener("DOMContentLoaded", async () => {
    $("login-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      $("login-error").textContent = "";
      $("login-button").disabled = true;
      const { status, data } = await call("POST", "/api/login", { username: $("username").value, password: $("password").value });
      $("login-button").disabled = false;
      $("password").value = "";
      if (status === 200) showWork(data.agent);
      else $("login-error").textContent = data.message || "Không đăng nhập được.";
    });
    $("logout").addEventListener("click", async () => { await call("POST", "/api/logout"); showLogin(); });
    $("claim").addEventListener("click", () => act("/claim"));
    $("release").addEventListener("click", () => act("/release", undefined, () => { state.selected = null; $("conversation").hidden = true; $("empty").hidden = false; }));
    $("hand-back").addEventListener("click", () => act("/hand-back"));
    $("close").addEventListener("click", () => act("/close"));
    $("reveal").addEventListener("click", () => { state.reveal = !state.reveal; state.lastMessages = ""; openConversation(state.selected, true); });
    $("show-callbacks").addEventListener("click", showCallbacks);
    $("show-deliveries").addEventListener("click", showDeliveries);
    $("reply-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = $("reply-text").value.trim();
      if (!text) return;
      $("send").disabled = true;
      const ok = await act("/reply", { text });
      $("send").disabled = false;
      if (ok) $("reply-text").value = "";
    });
    const { status, data } = await call("GET", "/api/me");
    if (status === 200) showWork(data); else showLogin();
  });
})();
