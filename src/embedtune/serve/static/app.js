// The search page. Every piece of server data is rendered with textContent (never innerHTML),
// so a passage containing <script> shows up as text.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const SNIPPET_CHARS = 280;
  let needsKey = false;

  function headers() {
    const h = { "Content-Type": "application/json" };
    const key = $("api-key").value || sessionStorage.getItem("embedtune-api-key") || "";
    if (key) { h["Authorization"] = "Bearer " + key; sessionStorage.setItem("embedtune-api-key", key); }
    return h;
  }

  async function post(path, body) {
    const resp = await fetch(path, { method: "POST", headers: headers(), body: JSON.stringify(body) });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      let detail = data.detail;
      if (Array.isArray(detail)) detail = detail.map((d) => d.msg).join("; ");
      throw new Error((detail || resp.statusText) + " (HTTP " + resp.status + ")");
    }
    return data;
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function safeUrl(url) {
    try {
      const parsed = new URL(url, window.location.href);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch (e) { return null; }
  }

  function snippet(text) {
    const t = (text || "").replace(/\s+/g, " ").trim();
    return t.length > SNIPPET_CHARS ? t.slice(0, SNIPPET_CHARS) + "\u2026" : t;
  }

  function renderHits(list, hits) {
    list.replaceChildren();
    for (const hit of hits) {
      const li = el("li", "hit");
      const href = hit.url ? safeUrl(hit.url) : null;
      const title = el(href ? "a" : "span", "title", hit.title || hit.id || hit.item_id);
      if (href) { title.href = href; title.rel = "noopener noreferrer"; }
      li.append(title);
      if (hit.url) li.append(el("span", "url", hit.url));
      if (hit.text) li.append(el("p", "snippet", snippet(hit.text)));
      li.append(el("span", "score", "score " + Number(hit.score).toFixed(3) + " \u00b7 " + (hit.id || hit.item_id)));
      list.append(li);
    }
  }

  function showError(info, list, err) {
    list.replaceChildren();
    info.textContent = err.message;
    info.className = "error";
  }

  $("search-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const info = $("search-info"), list = $("results");
    const query = $("query").value.trim();
    if (!query) return;
    info.className = "muted"; info.textContent = "searching\u2026";
    try {
      const data = await post("/search", { query: query, k: Number($("k").value) });
      info.textContent = data.results.length + " results in " + data.took_ms + " ms \u00b7 " + data.mode + " search";
      renderHits(list, data.results);
    } catch (err) { showError(info, list, err); }
  });

  $("recommend-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const info = $("recommend-info"), list = $("recommendations");
    const user = $("user-id").value.trim();
    const history = $("history").value.split(",").map((s) => s.trim()).filter(Boolean);
    const body = user ? { user_id: user, k: 10 } : { history: history, k: 10 };
    info.className = "muted"; info.textContent = "loading\u2026";
    try {
      const data = await post("/recommend", body);
      info.textContent = data.results.length + " items (" + data.mode + ") in " + data.took_ms + " ms"
        + (data.fallback ? " \u2014 " + data.fallback : "");
      renderHits(list, data.results.map((r) => ({
        item_id: r.item_id, score: r.score, title: (r.metadata && r.metadata.title) || r.item_id,
        url: r.metadata && r.metadata.url, text: r.metadata && r.metadata.text,
      })));
    } catch (err) { showError(info, list, err); }
  });

  for (const tab of document.querySelectorAll("nav [role=tab]")) {
    tab.addEventListener("click", () => {
      for (const other of document.querySelectorAll("nav [role=tab]")) {
        const on = other === tab;
        other.setAttribute("aria-selected", String(on));
        $(other.dataset.panel).hidden = !on;
      }
    });
  }

  fetch("/health").then((r) => r.json()).then((h) => {
    needsKey = Boolean(h.auth);
    $("auth").hidden = !needsKey;
    $("status").textContent = h.documents + " documents \u00b7 model " + h.model + " \u00b7 " + h.backend + " \u00b7 " + h.ann +
      (h.search ? " \u00b7 " + h.search.default_mode + " search" : "");
    // No mode is sent with a search: the server answers in its default (hybrid when it beat dense on dev).
    if (h.search) $("status").title = "search mode: " + h.search.default_mode + " \u2014 " + h.search.why;
    if (!h.recommend) $("tab-recommend").title = "this index was not built from a recsys DATA_DIR";
  }).catch(() => { $("status").textContent = "server unreachable"; });
})();
