// The rollcall dashboard: one page, no external assets. Reads the node's /api with the
// viewer token (kept in localStorage and a same-site cookie), re-reads the overview on
// every live update (server-sent events), and counts down to each deadline.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let lang = localStorage.getItem("rollcall_lang") || "zh";
  let unit = new URLSearchParams(location.search).get("unit") || "";
  let overview = null;

  const text = {
    zh: { days: "天", hours: "小时", left: "剩余", overdueBy: "已逾期", total: "合计", unit: "单位", orgs: "党组织",
          stage: "阶段", type: "处置方式", count: "件数", passed: "校验：通过", failed: "校验未通过：", noCampaign: "尚未开启排查工作",
          updated: "更新于", progress: "进度", lostBuckets: ["6个月至1年", "1至5年", "6至10年", "11年以上"], badToken: "凭证无效或已过期" },
    en: { days: "d", hours: "h", left: "left", overdueBy: "overdue by", total: "total", unit: "unit", orgs: "orgs",
          stage: "stage", type: "disposition", count: "cases", passed: "checks: passed", failed: "checks failed:", noCampaign: "no campaign opened yet",
          updated: "updated", progress: "progress", lostBuckets: ["6 m–1 y", "1–5 y", "6–10 y", "11+ y"], badToken: "invalid or expired token" },
  };
  const t = (key) => text[lang][key];
  // Disposition types by their wire names, as officials write them.
  const dispositions = {
    WITHDRAWAL_REMOVAL: ["退党除名", "removed at own request"],
    CORRECTION_PERIOD: ["限期改正", "correction period"],
    PERSUADE_TO_WITHDRAW: ["劝退", "persuaded to withdraw"],
    REMOVAL_AFTER_PERSUASION: ["劝而不退除名", "removed after persuasion"],
    SELF_SEPARATION_REMOVAL: ["自行脱党除名", "removed for self-separation"],
    CANCEL_PROBATIONARY: ["取消预备党员资格", "probationary status cancelled"],
    NON_RECOGNITION: ["不予承认", "not recognised"],
  };
  const dispositionName = (key) => (dispositions[key] || [key, key])[lang === "zh" ? 0 : 1];
  // China Standard Time, 24-hour: 2026年4月15日 14:05 (zh) or 2026-04-15 14:05 (en).
  function formatTime(ms, withDate) {
    const d = new Date(ms + 8 * 3600000);
    const pad = (n) => String(n).padStart(2, "0");
    const clock = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds());
    if (!withDate) return clock;
    return lang === "zh"
      ? d.getUTCFullYear() + "年" + (d.getUTCMonth() + 1) + "月" + d.getUTCDate() + "日 " + clock.slice(0, 5)
      : d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " + clock.slice(0, 5);
  }
  // Text that comes from people (names, reasons) is escaped before it is shown.
  const esc = (value) => String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const columns = ["members", "checked", "corrected", "flagged", "flowing", "pocket", "lost", "found", "still_lost",
    "included", "retained", "stopped", "archive_complete", "forms_signed", "open_case"];

  function takeTokenFromUrl() {
    const match = location.hash.match(/token=([^&]+)/);
    if (match) {
      setToken(decodeURIComponent(match[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
  }
  function setToken(token) {
    localStorage.setItem("rollcall_token", token);
    document.cookie = "rollcall_token=" + token + "; path=/; SameSite=Strict";
  }
  function token() { return localStorage.getItem("rollcall_token") || ""; }

  async function api(path) {
    const response = await fetch(path, { headers: { Authorization: "Bearer " + token() } });
    if (response.status === 401) {
      const body = await response.json().catch(() => ({}));
      showLogin(lang === "zh" ? body.error_zh : body.error);
      throw new Error("unauthorised");
    }
    if (!response.ok) throw new Error(path + ": " + response.status);
    return response.json();
  }

  function showLogin(message) {
    $("board").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
  }

  function translateStatic() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-zh]").forEach((el) => { el.textContent = el.dataset[lang]; });
    $("lang").textContent = lang === "zh" ? "English" : "中文";
    document.querySelectorAll("#table-select option").forEach((o) => { o.textContent = (lang === "zh" ? "表" : "Table ") + o.value; });
  }

  // A unit as officials know it: its recorded short name (escaped), the path as the tooltip.
  function unitLabel(path) {
    const name = overview && overview.unit_names && overview.unit_names[path];
    return name ? '<span title="' + esc(path) + '">' + esc(name) + "</span>" : esc(path);
  }
  function unitText(path) {
    const name = overview && overview.unit_names && overview.unit_names[path];
    return name || path;
  }

  function metric(rollup, key) { return rollup && rollup.metrics ? (rollup.metrics[key] || 0) : 0; }
  function name(key) {
    const names = overview && overview.metric_names[key];
    return names ? (lang === "zh" ? names[0] : names[1]) : key;
  }

  function crumbs() {
    const nav = $("crumbs");
    nav.innerHTML = "";
    const scope = overview.scope.split("/");
    const parts = overview.unit.split("/");
    for (let i = scope.length; i <= parts.length; i++) {
      const path = parts.slice(0, i).join("/");
      const a = document.createElement("a");
      a.href = "?unit=" + encodeURIComponent(path);
      a.textContent = unitText(path);
      a.title = path;
      a.onclick = (e) => { e.preventDefault(); go(path); };
      nav.appendChild(a);
      if (i < parts.length) { const s = document.createElement("span"); s.className = "sep"; s.textContent = "›"; nav.appendChild(s); }
    }
  }

  function countdown(ms) {
    const diff = ms - Date.now();
    const abs = Math.abs(diff);
    const days = Math.floor(abs / 86400000), hours = Math.floor((abs % 86400000) / 3600000);
    const minutes = Math.floor((abs % 3600000) / 60000), seconds = Math.floor((abs % 60000) / 1000);
    const clock = days + t("days") + " " + hours + t("hours") + " " + String(minutes).padStart(2, "0") + ":" + String(seconds).padStart(2, "0");
    return diff >= 0 ? t("left") + " " + clock : t("overdueBy") + " " + clock;
  }

  function renderDeadlines() {
    const box = $("deadlines");
    box.innerHTML = "";
    if (!overview.deadlines.length) { box.textContent = t("noCampaign"); return; }
    for (const d of overview.deadlines) {
      const card = document.createElement("div");
      card.className = "deadline";
      card.dataset.state = d.state;
      card.dataset.kind = d.kind;
      const blockers = d.blockers.slice(0, 6).map((b) => "<li>" + unitLabel(b.unit) + " · " + (lang === "zh" ? b.reason_zh : b.reason_en) + " " + b.count + "</li>").join("");
      card.innerHTML = '<div class="name"></div><div>' + d.due + '</div><div class="state"></div>' +
        '<div class="countdown" data-due="' + d.due_at_ms + '"></div><div>' + t("progress") + " " + (d.total ? d.done + "/" + d.total : "–") + "</div><ul>" + blockers + "</ul>";
      card.querySelector(".name").textContent = lang === "zh" ? d.name_zh : d.name_en;
      card.querySelector(".state").textContent = lang === "zh" ? d.state_zh : d.state.replace("_", " ");
      box.appendChild(card);
    }
    tick();
  }
  function tick() { document.querySelectorAll(".countdown").forEach((el) => { el.textContent = countdown(Number(el.dataset.due)); }); }

  // Horizontal bars. Items with a `max` are progress bars (each scaled to its own
  // total); others share one scale.
  function bars(svg, items) {
    const shared = Math.max(1, ...items.filter((i) => !i.max).map((i) => i.value));
    const width = 420, barHeight = 24, gap = 12, left = 170, room = width - left - 70;
    svg.setAttribute("viewBox", "0 0 " + width + " " + (items.length * (barHeight + gap) + 10));
    const escape = (text) => String(text).replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]);
    svg.innerHTML = items.map((item, i) => {
      const y = 6 + i * (barHeight + gap);
      const scale = item.max ? room / item.max : room / shared;
      const back = item.max ? '<rect x="' + left + '" y="' + y + '" width="' + room + '" height="' + barHeight + '" fill="#e6e0d8"/>' : "";
      const label = item.max ? item.value + "/" + item.max : item.value;
      return '<text x="0" y="' + (y + 17) + '">' + escape(item.label.length > 14 ? item.label.slice(0, 13) + "…" : item.label) + "</text>" + back +
        '<rect x="' + left + '" y="' + y + '" width="' + Math.max(0, item.value * scale) + '" height="' + barHeight + '" fill="' + (item.color || "#b3261e") + '"/>' +
        '<text x="' + (left + room + 6) + '" y="' + (y + 17) + '">' + label + "</text>";
    }).join("");
  }

  function renderCharts() {
    const colors = { done: "#1b7f3b", on_track: "#1f4e9c", at_risk: "#b26a00", overdue: "#b3261e", not_applicable: "#9e9e9e" };
    bars($("progress-chart"), overview.deadlines.filter((d) => d.total).map((d) => ({
      label: lang === "zh" ? d.name_zh : d.name_en, value: d.done, max: d.total, color: colors[d.state] })));
    const buckets = ["lost_6m_1y", "lost_1_5y", "lost_6_10y", "lost_11y_plus"];
    bars($("lost-chart"), buckets.map((key, i) => ({ label: t("lostBuckets")[i], value: metric(overview.total, key) })));
    const situations = ["situation_left_job", "situation_graduated", "situation_employer_changed", "situation_abroad", "situation_residence", "situation_other"];
    bars($("situation-chart"), situations.map((key) => ({ label: name(key), value: metric(overview.total, key), color: "#5b4a9e" })));
  }

  function renderRollup() {
    const table = $("rollup");
    const head = "<tr><th>" + t("unit") + "</th><th>" + t("orgs") + "</th>" + columns.map((c) => "<th>" + name(c) + "</th>").join("") + "</tr>";
    const row = (r, label, link) => "<tr><td>" + (link ? '<a href="?unit=' + encodeURIComponent(r.unit) + '" data-unit="' + esc(r.unit) + '">' + label + "</a>" : label) +
      "</td><td>" + r.organisations + "</td>" + columns.map((c) => "<td>" + metric(r, c) + "</td>").join("") + "</tr>";
    table.innerHTML = head + row(overview.total, t("total") + " " + unitLabel(overview.unit), false) +
      overview.children.filter((c) => c.unit !== overview.unit).map((c) => row(c, unitLabel(c.unit), true)).join("");
    table.querySelectorAll("a[data-unit]").forEach((a) => { a.onclick = (e) => { e.preventDefault(); go(a.dataset.unit); }; });
    $("cases").innerHTML = "<tr><th>" + t("type") + "</th><th>" + t("stage") + "</th><th>" + t("count") + "</th></tr>" +
      overview.cases.map((c) => "<tr><td>" + esc(dispositionName(c.disposition)) + "</td><td>" + (lang === "zh" ? c.stage_zh : c.stage) + "</td><td>" + c.count + "</td></tr>").join("");
    renderFindings();
  }

  function renderFindings() {
    const zh = lang === "zh";
    const head = "<tr><th>" + (zh ? "党员" : "member") + "</th><th>" + (zh ? "问题" : "finding") + "</th><th>" +
      (zh ? "涉及单位" : "units") + "</th><th>" + (zh ? "计入" : "counted at") + "</th><th>" + (zh ? "状态" : "state") + "</th></tr>";
    const rows = (overview.findings || []).map((f) => {
      const who = esc(f.name ? f.name + "（" + f.member_id + "）" : f.member_id);
      if (f.kind === "duplicate_relation") {
        return "<tr><td>" + who + "</td><td>" + (zh ? "重复组织关系" : "duplicate relation") + "</td><td>" + f.units.map(unitLabel).join("、") +
          "</td><td>" + unitLabel(f.counted_at) + "</td><td>" + (f.settled ? (zh ? "已处理" : "settled") : (zh ? "待处理" : "to settle")) + "</td></tr>";
      }
      return "<tr><td>" + who + "</td><td>" + (zh ? "未在本单位登记（" + f.events + "条记录）" : "not registered here (" + f.events + " events)") +
        "</td><td>" + unitLabel(f.unit) + "</td><td>" + (zh ? "不计入" : "nowhere") + "</td><td>" + f.units.map(unitLabel).join("、") + "</td></tr>";
    });
    $("findings").innerHTML = rows.length ? head + rows.join("") : "<tr><td>" + (zh ? "没有组织关系问题" : "no findings") + "</td></tr>";
    renderReports();
  }

  // Per unit and table: 未报送 / 已报送 / 已核验 / 有差异 / 被退回, 逾期 when received above
  // after the deadline (or not at all and the day is past), with the receipt time.
  function renderReports() {
    const zh = lang === "zh";
    const when = (ms) => ms ? formatTime(ms, true) : "—";
    const head = "<tr><th>" + t("unit") + "</th><th>" + (zh ? "表" : "table") + "</th><th>" + (zh ? "状态" : "state") +
      "</th><th>" + (zh ? "报送时间" : "submitted") + "</th><th>" + (zh ? "上级收到" : "received above") + "</th><th>" +
      (zh ? "说明" : "note") + "</th></tr>";
    const rows = (overview.reports || []).map((r) => {
      const state = (zh ? r.state_zh : r.state.replace("_", " ")) + (r.late ? (zh ? "（逾期）" : " (late)") : "");
      const note = r.return_reason ? esc((zh ? "退回理由：" : "returned: ") + r.return_reason)
        : (r.differences ? (zh ? r.differences + "个单元格不一致" : r.differences + " cells differ") : "");
      return '<tr data-state="' + esc(r.state) + '" data-late="' + r.late + '"><td>' + unitLabel(r.unit) + "</td><td>" + r.table +
        "</td><td>" + esc(state) + "</td><td>" + when(r.submitted_at_ms) + "</td><td>" + when(r.received_at_ms) + "</td><td>" + note + "</td></tr>";
    });
    $("reports").innerHTML = rows.length ? head + rows.join("") : "<tr><td>" + (zh ? "本单位及下级无须报送报表" : "no reporting units here") + "</td></tr>";
  }

  async function renderTable() {
    const number = $("table-select").value;
    const query = "?table=" + number + "&unit=" + encodeURIComponent(overview.unit) + "&lang=" + lang;
    const data = await api("/api/table" + query);
    $("table-title").textContent = data.title + "　" + data.subtitle;
    // Row labels are unit names people typed: every cell is escaped.
    $("paper").innerHTML = "<tr>" + data.headings.map((h) => "<th>" + esc(h) + "</th>").join("") + "</tr>" +
      data.rows.map((r) => "<tr>" + r.map((c) => "<td>" + (c === null ? "" : esc(c)) + "</td>").join("") + "</tr>").join("");
    $("checks").textContent = data.check_failures.length ? t("failed") + " " + data.check_failures.join("；") : t("passed");
    $("download").href = "/api/table.xlsx" + query;
  }

  async function refresh() {
    overview = await api("/api/overview?unit=" + encodeURIComponent(unit));
    unit = overview.unit;
    $("login").hidden = true;
    $("board").hidden = false;
    $("members-total").textContent = metric(overview.total, "members");
    $("still-lost").textContent = metric(overview.total, "still_lost");
    $("found").textContent = metric(overview.total, "found");
    $("open-cases").textContent = metric(overview.total, "open_case");
    $("campaign").textContent = overview.campaign;
    $("as-of").textContent = (lang === "zh" ? "统计截止日期：" : "as of: ") + overview.as_of;
    $("updated").textContent = t("updated") + " " + formatTime(Date.now(), false);
    crumbs();
    renderDeadlines();
    renderCharts();
    renderRollup();
    await renderTable();
  }

  function go(path) {
    unit = path;
    history.pushState(null, "", "?unit=" + encodeURIComponent(path));
    refresh().catch(() => {});
  }

  let pending = null;
  function live() {
    const source = new EventSource("/api/events");
    source.addEventListener("update", () => {
      clearTimeout(pending);
      pending = setTimeout(() => refresh().catch(() => {}), 150);
    });
    source.onopen = () => $("live").classList.remove("off");
    source.onerror = () => $("live").classList.add("off");
  }

  $("lang").onclick = () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("rollcall_lang", lang); translateStatic(); refresh().catch(() => {}); };
  $("table-select").onchange = () => renderTable().catch(() => {});
  $("login-form").onsubmit = (e) => { e.preventDefault(); setToken($("token-input").value.trim()); start(); };
  // A link with a new token opened in the same tab only changes the fragment.
  window.addEventListener("hashchange", () => { takeTokenFromUrl(); start(); });
  window.onpopstate = () => { unit = new URLSearchParams(location.search).get("unit") || ""; refresh().catch(() => {}); };

  async function start() {
    translateStatic();
    if (!token()) { showLogin(""); return; }
    document.cookie = "rollcall_token=" + token() + "; path=/; SameSite=Strict";
    try {
      await refresh();
      if (!window.__rollcallLive) { window.__rollcallLive = true; live(); }
    } catch (e) { /* the login form is shown */ }
  }
  takeTokenFromUrl();
  setInterval(tick, 1000);
  start();
})();
