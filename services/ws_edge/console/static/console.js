// tradebus web console: one WebSocket to ws_edge (/console/ws), no framework, no build step.
// Everything shown is built with textContent (never innerHTML), so venue text cannot become markup.
"use strict";

(function () {
  const TOKEN_KEY = "tradebus.console.token";
  const HISTORY_POINTS = 600; // per instrument, for the chart
  const $ = (id) => document.getElementById(id);

  const state = {
    ws: null,
    loggedIn: false,
    wantResume: false,
    retryMs: 1000,
    accounts: [],
    watched: [],
    quotes: new Map(), // instrument → last quote row
    history: new Map(), // instrument → [[t, price], …]
    selected: "",
    myOrders: new Set(), // client order ids placed from this page
    reported: new Set(), // rejections already shown next to the ticket
    opend: [],
    codeSentFor: "",
    expiresAt: 0,
  };

  // --- small helpers ------------------------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function fmtPrice(v) {
    if (v === null || v === undefined) return "—";
    const digits = Math.abs(v) >= 1000 ? 1 : Math.abs(v) >= 10 ? 2 : 3;
    return Number(v).toFixed(digits).replace(/\.?0+$/, "");
  }
  const fmtNum = (v) => (v === null || v === undefined ? "—" : Number(v).toLocaleString("en-US"));
  const fmtMoney = (v) =>
    v === null || v === undefined ? "—" : Number(v).toLocaleString("en-US", { maximumFractionDigits: 2 });
  function fmtTime(seconds) {
    if (!seconds) return "";
    return new Date(seconds * 1000).toLocaleTimeString("en-GB", { hour12: false });
  }
  function fmtUptime(s) {
    if (s === null || s === undefined) return "";
    if (s < 60) return Math.floor(s) + "s";
    if (s < 3600) return Math.floor(s / 60) + "m";
    if (s < 86400) return Math.floor(s / 3600) + "h" + String(Math.floor((s % 3600) / 60)).padStart(2, "0");
    return Math.floor(s / 86400) + "d";
  }
  function dot(colour, text) {
    return el("span", { class: "state " + colour }, el("i", { class: "dot" }), text);
  }
  function fillBody(table, rows) {
    const body = table.tBodies[0];
    body.replaceChildren(...rows);
  }
  function message(node, text, kind) {
    node.textContent = text || "";
    node.className = "message" + (kind ? " " + kind : "");
  }
  let toastTimer = 0;
  function toast(text) {
    const node = $("toast");
    node.textContent = text;
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => (node.hidden = true), 6000);
  }

  // --- connection ---------------------------------------------------------------------------------

  function connect() {
    if (state.ws && state.ws.readyState <= WebSocket.OPEN) return state.ws;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/console/ws");
    state.ws = ws;
    ws.addEventListener("open", () => {
      state.retryMs = 1000;
      setConn("up", "connected");
      const token = sessionStorage.getItem(TOKEN_KEY);
      if (state.wantResume && token) send({ type: "resume", token });
      flushPending();
    });
    ws.addEventListener("message", (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      const handler = HANDLERS[msg.type];
      if (handler) handler(msg);
    });
    ws.addEventListener("close", (ev) => {
      if (state.ws !== ws) return;
      state.ws = null;
      if (state.loggedIn && ev.code !== 4000 && ev.code !== 4001) {
        setConn("down", "reconnecting…");
        state.wantResume = true;
        setTimeout(connect, state.retryMs);
        state.retryMs = Math.min(state.retryMs * 2, 10000);
      } else if (!state.loggedIn && state.wantResume) {
        showLogin("Cannot reach the server — try again.", "error");
        state.wantResume = false;
      }
    });
    return ws;
  }

  let pending = [];
  function send(obj) {
    const ws = connect();
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
    else pending.push(obj);
  }
  function flushPending() {
    const queued = pending;
    pending = [];
    for (const obj of queued) state.ws.send(JSON.stringify(obj));
  }
  function setConn(colour, text) {
    const node = $("conn");
    node.className = "pill " + colour;
    node.textContent = text;
  }

  // --- login / logout -----------------------------------------------------------------------------

  function showLogin(text, kind) {
    state.loggedIn = false;
    $("app-view").hidden = true;
    $("login-view").hidden = false;
    $("login-submit").disabled = false;
    message($("login-message"), text, kind);
    $("login-password").value = "";
    (($("login-user").value && $("login-password")) || $("login-user")).focus();
  }

  function resetData() {
    state.watched = [];
    state.quotes.clear();
    state.history.clear();
    state.selected = "";
    state.myOrders.clear();
    state.reported.clear();
    for (const id of ["services", "feeds", "opend", "watch", "funds", "positions", "orders", "fills"]) {
      fillBody($(id), []);
    }
    $("opend-banner").hidden = true;
    drawChart();
  }

  function endSession(text, kind) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.wantResume = false;
    resetData();
    showLogin(text, kind);
  }

  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    $("login-submit").disabled = true;
    message($("login-message"), "Checking…");
    state.wantResume = false;
    send({ type: "login", user: $("login-user").value.trim(), password: $("login-password").value });
  });
  $("logout").addEventListener("click", () => send({ type: "logout" }));

  function onLoginOk(msg) {
    state.loggedIn = true;
    state.wantResume = true;
    state.accounts = msg.accounts;
    state.expiresAt = msg.expires_at;
    sessionStorage.setItem(TOKEN_KEY, msg.token);
    $("login-password").value = "";
    $("login-view").hidden = true;
    $("app-view").hidden = false;
    $("who").textContent = msg.user;
    $("expires").textContent = "session ends " + fmtTime(msg.expires_at);
    const select = $("ticket-account");
    select.replaceChildren(
      ...msg.accounts.map((a) => el("option", { value: a.venue + "|" + a.account }, a.venue + " · " + a.account))
    );
    onAccountChange();
    for (const instrument of state.watched) send({ type: "watch_add", instrument });
  }

  function onLoginFailed(msg) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.wantResume = false;
    showLogin(msg.message, "error");
  }

  // --- system -------------------------------------------------------------------------------------

  function onSystem(msg) {
    fillBody(
      $("services"),
      msg.services.map((s) =>
        el(
          "tr",
          { dataset: { service: s.name }, title: (s.pid ? "pid " + s.pid : "") + (s.detail ? " — " + s.detail : "") },
          el("td", {}, s.name),
          el("td", { class: "state-cell" }, dot(s.colour, s.state)),
          el("td", { class: "num" }, fmtUptime(s.uptime_s))
        )
      )
    );
    fillBody(
      $("feeds"),
      msg.feeds.map((f) =>
        el(
          "tr",
          { dataset: { feed: f.venue }, title: f.reason || "" },
          el("td", {}, f.venue),
          el("td", { class: "state-cell" }, dot(f.colour, f.state.toUpperCase()))
        )
      )
    );
    fillBody(
      $("opend"),
      msg.opend.map((o) =>
        el(
          "tr",
          { dataset: { opend: o.instance, state: o.state }, title: o.reason || "" },
          el("td", {}, o.instance),
          el("td", { class: "state-cell wrap" }, dot(o.colour, o.state.replaceAll("_", " ").toUpperCase()))
        )
      )
    );
    state.opend = msg.opend;
    renderBanner();
  }

  function renderBanner() {
    const asking = state.opend.find((o) => o.prompt);
    const banner = $("opend-banner");
    if (!asking) {
      const sent = state.opend.find((o) => o.instance === state.codeSentFor);
      if (sent && sent.state === "connected") {
        state.codeSentFor = "";
        banner.hidden = true;
        toast("OpenD " + sent.instance + " is CONNECTED");
      } else if (!sent) {
        banner.hidden = true;
      } else {
        $("code-result").textContent = "OpenD: " + sent.state.toUpperCase();
      }
      return;
    }
    const what = asking.prompt === "picture" ? "the picture verification code" : "the SMS verification code";
    $("opend-banner-text").textContent = "OpenD “" + asking.instance + "” is asking for " + what + ".";
    banner.dataset.instance = asking.instance;
    if (banner.hidden) {
      banner.hidden = false;
      $("code-input").focus();
    }
  }

  $("code-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const instance = $("opend-banner").dataset.instance;
    state.codeSentFor = instance;
    $("code-result").textContent = "sending…";
    send({ type: "verify_code", instance, code: $("code-input").value.trim() });
    $("code-input").value = "";
  });

  function onVerifyResult(msg) {
    const node = $("code-result");
    node.textContent = msg.ok ? "Code sent — OpenD: " + msg.state.toUpperCase() : msg.message;
    node.className = msg.ok ? "" : "error-text";
  }

  // --- market -------------------------------------------------------------------------------------

  $("watch-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const instrument = $("watch-input").value.trim();
    if (!instrument) return;
    message($("watch-message"), "Subscribing " + instrument + "…");
    send({ type: "watch_add", instrument });
  });

  function onWatchResult(msg) {
    if (msg.ok) {
      message($("watch-message"), "");
      $("watch-input").value = "";
      if (!state.selected) select(msg.instrument);
    } else {
      message($("watch-message"), msg.message, "error");
    }
  }

  function onWatch(msg) {
    state.watched = msg.instruments;
    if (state.selected && !state.watched.includes(state.selected)) select(state.watched[0] || "");
    renderWatch();
  }

  function renderWatch() {
    $("watch-empty").hidden = state.watched.length > 0;
    fillBody(
      $("watch"),
      state.watched.map((instrument) => {
        const q = state.quotes.get(instrument) || {};
        const row = el(
          "tr",
          { dataset: { instrument }, class: instrument === state.selected ? "selected" : "" },
          el("td", {}, instrument),
          el("td", { class: "num last" }, fmtPrice(q.last)),
          el("td", { class: "num bid", title: "click: use as the ticket price" }, fmtPrice(q.bid)),
          el("td", { class: "num ask", title: "click: use as the ticket price" }, fmtPrice(q.ask)),
          el("td", { class: "num volume" }, fmtNum(q.volume)),
          el("td", {}, el("button", { class: "x", type: "button", title: "remove", "aria-label": "remove" }, "×"))
        );
        row.addEventListener("click", (ev) => onWatchClick(ev, instrument));
        return row;
      })
    );
  }

  function onWatchClick(ev, instrument) {
    const cell = ev.target.closest("td, button");
    if (cell && cell.classList.contains("x")) {
      send({ type: "watch_remove", instrument });
      return;
    }
    select(instrument);
    $("ticket-instrument").value = instrument;
    const q = state.quotes.get(instrument);
    if (q && cell && (cell.classList.contains("bid") || cell.classList.contains("ask"))) {
      const price = cell.classList.contains("bid") ? q.bid : q.ask;
      if (price !== null && price !== undefined) $("ticket-price").value = price;
    }
    pickAccountFor(instrument);
  }

  function select(instrument) {
    state.selected = instrument;
    for (const row of $("watch").tBodies[0].rows) {
      row.classList.toggle("selected", row.dataset.instrument === instrument);
    }
    drawChart();
  }

  function onQuotes(msg) {
    for (const q of msg.rows) {
      const before = state.quotes.get(q.instrument);
      state.quotes.set(q.instrument, q);
      if (q.last !== null && q.last !== undefined) {
        const series = state.history.get(q.instrument) || [];
        series.push([q.ts || Date.now() / 1000, q.last]);
        if (series.length > HISTORY_POINTS) series.splice(0, series.length - HISTORY_POINTS);
        state.history.set(q.instrument, series);
      }
      const row = $("watch").querySelector('tr[data-instrument="' + CSS.escape(q.instrument) + '"]');
      if (!row) continue;
      row.querySelector(".last").textContent = fmtPrice(q.last);
      row.querySelector(".bid").textContent = fmtPrice(q.bid);
      row.querySelector(".ask").textContent = fmtPrice(q.ask);
      row.querySelector(".volume").textContent = fmtNum(q.volume);
      if (before && before.last !== q.last && q.last !== null) flash(row.querySelector(".last"), q.last > before.last);
    }
    drawChart();
  }

  function flash(cell, up) {
    cell.classList.remove("tick-up", "tick-down");
    void cell.offsetWidth; // restart the animation
    cell.classList.add(up ? "tick-up" : "tick-down");
  }

  function drawChart() {
    const canvas = $("chart");
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 440;
    const height = canvas.clientHeight || 170;
    if (canvas.width !== Math.round(width * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const series = state.history.get(state.selected) || [];
    $("chart-title").textContent = state.selected || "select an instrument";
    $("chart-last").textContent = series.length ? fmtPrice(series[series.length - 1][1]) : "";
    const pad = { l: 8, r: 60, t: 10, b: 18 };
    ctx.strokeStyle = "#2a3340";
    ctx.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = pad.t + ((height - pad.t - pad.b) * i) / 4;
      ctx.beginPath();
      ctx.moveTo(pad.l, y + 0.5);
      ctx.lineTo(width - pad.r, y + 0.5);
      ctx.stroke();
    }
    if (series.length < 2) {
      ctx.fillStyle = "#7d8896";
      ctx.font = "12px system-ui, sans-serif";
      ctx.fillText(series.length ? "waiting for the next price…" : "no prices yet", pad.l + 6, height / 2);
      return;
    }
    let lo = Infinity;
    let hi = -Infinity;
    for (const [, p] of series) {
      lo = Math.min(lo, p);
      hi = Math.max(hi, p);
    }
    if (hi === lo) {
      hi += Math.abs(hi) * 0.001 || 1;
      lo -= Math.abs(lo) * 0.001 || 1;
    }
    const t0 = series[0][0];
    const t1 = series[series.length - 1][0];
    const x = (t) => pad.l + ((width - pad.l - pad.r) * (t - t0)) / (t1 - t0 || 1);
    const y = (p) => pad.t + ((height - pad.t - pad.b) * (hi - p)) / (hi - lo);
    const rising = series[series.length - 1][1] >= series[0][1];
    ctx.strokeStyle = rising ? "#3fb950" : "#f85149";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    series.forEach(([t, p], i) => (i ? ctx.lineTo(x(t), y(p)) : ctx.moveTo(x(t), y(p))));
    ctx.stroke();
    ctx.fillStyle = "#9aa6b2";
    ctx.font = "11px ui-monospace, monospace";
    ctx.fillText(fmtPrice(hi), width - pad.r + 4, pad.t + 8);
    ctx.fillText(fmtPrice(lo), width - pad.r + 4, height - pad.b);
    ctx.fillText(fmtTime(t0), pad.l, height - 4);
    const lastY = y(series[series.length - 1][1]);
    ctx.fillStyle = rising ? "#3fb950" : "#f85149";
    ctx.fillText(fmtPrice(series[series.length - 1][1]), width - pad.r + 4, Math.min(Math.max(lastY + 4, 24), height - 24));
  }
  window.addEventListener("resize", drawChart);

  // --- trading ------------------------------------------------------------------------------------

  function currentAccount() {
    const [venue, account] = ($("ticket-account").value || "|").split("|");
    return state.accounts.find((a) => a.venue === venue && a.account === account);
  }

  function onAccountChange() {
    const account = currentAccount();
    const futures = !account || account.kind === "futures";
    for (const node of document.querySelectorAll(".futures-only")) node.hidden = !futures;
  }
  $("ticket-account").addEventListener("change", onAccountChange);

  function pickAccountFor(instrument) {
    const stock = /^(HK|US|SH|SZ)\./.test(instrument);
    const wanted = state.accounts.find((a) => (a.kind === "stocks") === stock);
    if (wanted && currentAccount() && (currentAccount().kind === "stocks") !== stock) {
      $("ticket-account").value = wanted.venue + "|" + wanted.account;
      onAccountChange();
    }
  }
  $("ticket-instrument").addEventListener("change", () => pickAccountFor($("ticket-instrument").value.trim()));

  $("ticket").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const account = currentAccount();
    if (!account) {
      message($("ticket-message"), "You have no account to trade with.", "error");
      return;
    }
    const qty = Number($("ticket-qty").value);
    const price = Number($("ticket-price").value);
    const order = {
      type: "place",
      venue: account.venue,
      account: account.account,
      instrument: $("ticket-instrument").value.trim(),
      side: $("ticket-side").value,
      offset: account.kind === "futures" ? $("ticket-offset").value : "",
      price,
      qty: Number.isInteger(qty) ? qty : Math.trunc(qty),
    };
    message($("ticket-message"), "Sending…");
    $("ticket-submit").disabled = true;
    send(order);
  });

  function onOrderResult(msg) {
    $("ticket-submit").disabled = false;
    if (msg.client_order_id) state.myOrders.add(msg.client_order_id);
    message($("ticket-message"), msg.ok ? "Order sent: " + msg.client_order_id : msg.message, msg.ok ? "ok" : "error");
  }

  function onCancelResult(msg) {
    if (!msg.ok) message($("ticket-message"), msg.message, "error");
    else message($("ticket-message"), "Cancel sent for " + msg.client_order_id, "ok");
  }

  const STATUS_CLASS = {
    filled: "up", cancelled: "muted", expired: "muted", rejected: "down", denied: "down", unknown: "wait",
  };

  const refusedStatus = (status) => status === "rejected" || status === "denied";

  function onOrders(msg) {
    fillBody(
      $("orders"),
      msg.orders.map((o) => {
        const status = el("span", { class: "status " + (STATUS_CLASS[o.status] || "wait") }, o.status.replace("_", " "));
        const action = o.working
          ? el("button", {
              class: "cancel small", type: "button",
              onclick: () => send({ type: "cancel", venue: o.venue, account: o.account, client_order_id: o.client_order_id }),
            }, "Cancel")
          : refusedStatus(o.status) && o.reason ? el("span", { class: "reason", title: o.reason }, o.reason) : "";
        return el(
          "tr",
          { dataset: { coid: o.client_order_id, status: o.status }, class: o.working ? "working" : "done",
            title: o.reason || "" },
          el("td", {}, fmtTime(o.ts)),
          el("td", {}, o.instrument),
          el("td", { class: o.side }, o.side + (o.offset && o.offset !== "none" ? " " + o.offset.replace("_", " ") : "")),
          el("td", { class: "num" }, fmtPrice(o.price)),
          el("td", { class: "num" }, o.qty),
          el("td", { class: "num filled" }, o.filled),
          el("td", { class: "status-cell" }, status),
          el("td", {}, action)
        );
      })
    );
    for (const o of msg.orders) {
      if (refusedStatus(o.status) && state.myOrders.has(o.client_order_id) && !state.reported.has(o.client_order_id)) {
        state.reported.add(o.client_order_id);
        message($("ticket-message"), "Order " + o.client_order_id + " was rejected: " + (o.reason || o.status), "error");
      }
    }
  }

  function onFills(msg) {
    fillBody(
      $("fills"),
      msg.fills.map((f) =>
        el(
          "tr",
          { dataset: { coid: f.client_order_id } },
          el("td", {}, fmtTime(f.ts)),
          el("td", {}, f.account),
          el("td", {}, f.instrument),
          el("td", { class: f.side }, f.side),
          el("td", { class: "num" }, fmtPrice(f.price)),
          el("td", { class: "num" }, f.qty)
        )
      )
    );
  }

  function onPositions(msg) {
    fillBody(
      $("positions"),
      msg.positions.map((p) =>
        el(
          "tr",
          { dataset: { position: p.instrument + "|" + p.side, account: p.account } },
          el("td", {}, p.account),
          el("td", {}, p.instrument),
          el("td", { class: p.side === "long" ? "buy" : "sell" }, p.side),
          el("td", { class: "num qty" }, p.qty),
          el("td", { class: "num" }, p.today),
          el("td", { class: "num" }, fmtPrice(p.avg_price)),
          el("td", { class: "num " + (p.pnl >= 0 ? "up-text" : "down-text") }, fmtMoney(p.pnl))
        )
      )
    );
  }

  function onFunds(msg) {
    fillBody(
      $("funds"),
      msg.funds.map((f) =>
        el(
          "tr",
          { dataset: { account: f.venue + "|" + f.account + "|" + f.currency } },
          el("td", {}, f.venue + " · " + f.account),
          el("td", {}, f.currency),
          el("td", { class: "num" }, fmtMoney(f.available)),
          el("td", { class: "num" }, fmtMoney(f.equity)),
          el("td", { class: "num" }, fmtMoney(f.margin)),
          el("td", { class: "num " + (f.pnl >= 0 ? "up-text" : "down-text") }, fmtMoney(f.pnl))
        )
      )
    );
  }

  // --- dispatch -----------------------------------------------------------------------------------

  const HANDLERS = {
    login_ok: onLoginOk,
    login_failed: onLoginFailed,
    session_expired: (msg) => endSession(msg.message, "error"),
    logged_out: (msg) => endSession(msg.message, "ok"),
    system: onSystem,
    verify_result: onVerifyResult,
    watch: onWatch,
    watch_result: onWatchResult,
    quotes: onQuotes,
    orders: onOrders,
    fills: onFills,
    positions: onPositions,
    funds: onFunds,
    order_result: onOrderResult,
    cancel_result: onCancelResult,
    error: (msg) => {
      if (!state.loggedIn) {
        $("login-submit").disabled = false;
        message($("login-message"), msg.message, "error");
      } else {
        $("ticket-submit").disabled = false;
        toast(msg.message);
      }
    },
    pong: () => {},
  };

  // --- start --------------------------------------------------------------------------------------

  if (sessionStorage.getItem(TOKEN_KEY)) {
    state.wantResume = true;
    message($("login-message"), "Resuming your session…");
    $("login-submit").disabled = true;
    connect();
  } else {
    showLogin("");
  }
  drawChart();
})();
