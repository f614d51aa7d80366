// embedtune site widget: drop one tag into any page to get a search / ask box.
//
//   <script src="https://search.example.com/widget.js" defer
//           data-placeholder="Ask the docs\u2026" data-k="5" data-api-key="OPTIONAL"></script>
//
// The widget talks to the server it was loaded from (allow your site's origin with
// `embedtune serve --cors https://your.site`). It sends no search mode, so the server's default
// answers (hybrid when the model's fusion.json beat dense on dev; see GET /health). Results are
// rendered with textContent only.
"use strict";
(function () {
  const script = document.currentScript;
  if (!script) return;
  const base = new URL(script.src, window.location.href).origin;
  const k = Number(script.dataset.k || 5);
  const apiKey = script.dataset.apiKey || "";
  const placeholder = script.dataset.placeholder || "Ask a question\u2026";

  const host = document.createElement("div");
  host.className = "embedtune-widget";
  const root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  const style = document.createElement("style");
  style.textContent = [
    ":host{all:initial}",
    ".box{position:fixed;right:1rem;bottom:1rem;width:min(24rem,90vw);font:14px/1.4 system-ui,sans-serif;color:#1d1d1f;background:#fff;border:1px solid #ccc;border-radius:10px;box-shadow:0 6px 24px rgba(0,0,0,.15);z-index:2147483000}",
    ".box.closed .body{display:none}",
    ".toggle{width:100%;border:0;border-radius:10px;background:#2f6fed;color:#fff;padding:.6rem;font-size:14px;cursor:pointer}",
    ".body{padding:.6rem;max-height:60vh;overflow:auto}",
    "form{display:flex;gap:.4rem}",
    "input{flex:1;padding:.45rem .6rem;border:1px solid #bbb;border-radius:6px;font-size:14px}",
    "ol{padding-left:1.1rem;margin:.6rem 0 0}",
    "li{margin-bottom:.6rem}",
    ".t{font-weight:600;color:#2f6fed;text-decoration:none}",
    ".s{margin:.15rem 0 0;color:#333}",
    ".m{color:#6b6b70;font-size:12px}",
  ].join("\n");
  const box = document.createElement("div");
  box.className = "box closed";
  const toggle = document.createElement("button");
  toggle.className = "toggle";
  toggle.type = "button";
  toggle.textContent = placeholder;
  const body = document.createElement("div");
  body.className = "body";
  const form = document.createElement("form");
  const input = document.createElement("input");
  input.type = "search";
  input.placeholder = placeholder;
  input.setAttribute("aria-label", placeholder);
  const go = document.createElement("button");
  go.type = "submit";
  go.textContent = "Ask";
  form.append(input, go);
  const info = document.createElement("div");
  info.className = "m";
  const list = document.createElement("ol");
  body.append(form, info, list);
  box.append(toggle, body);
  root.append(style, box);

  toggle.addEventListener("click", () => { box.classList.toggle("closed"); input.focus(); });

  function safeUrl(url) {
    try {
      const u = new URL(url, window.location.href);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch (e) { return null; }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const query = input.value.trim();
    if (!query) return;
    info.textContent = "\u2026";
    list.replaceChildren();
    const headers = { "Content-Type": "application/json" };
    if (apiKey) headers["Authorization"] = "Bearer " + apiKey;
    try {
      const resp = await fetch(base + "/search", { method: "POST", headers, body: JSON.stringify({ query, k }) });
      const data = await resp.json();
      if (!resp.ok) throw new Error(typeof data.detail === "string" ? data.detail : "HTTP " + resp.status);
      info.textContent = data.results.length ? "" : "Nothing found.";
      for (const hit of data.results) {
        const li = document.createElement("li");
        const href = hit.url ? safeUrl(hit.url) : null;
        const title = document.createElement(href ? "a" : "span");
        title.className = "t";
        title.textContent = hit.title || hit.id;
        if (href) { title.href = href; }
        const text = (hit.text || "").replace(/\s+/g, " ").trim();
        const snip = document.createElement("p");
        snip.className = "s";
        snip.textContent = text.length > 220 ? text.slice(0, 220) + "\u2026" : text;
        li.append(title, snip);
        list.append(li);
      }
    } catch (err) {
      info.textContent = "Search failed: " + err.message;
    }
  });

  function mount() { document.body.append(host); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
