"use strict";
// Shared by every page: where the token lives, authenticated fetches, the header, helpers.
// The token is sent as HTTP Basic (user name = token), exactly as the sigopt client does;
// no cookie is set, so other sites cannot make the browser act with it.
const Honed = (() => {
  const TOKEN_KEY = "honed.token"; // signed in: kept across tabs until "Sign out"
  const SHARE_KEY = "honed.share"; // opened from a share link: this tab only, read-only

  // A share link carries its read-only token in the fragment, which browsers never send to
  // servers; take it and drop it from the address bar at once.
  const shared = /(?:^#|&)share=([^&]+)/.exec(location.hash);
  if (shared) {
    sessionStorage.setItem(SHARE_KEY, decodeURIComponent(shared[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }

  const token = () => sessionStorage.getItem(SHARE_KEY) || localStorage.getItem(TOKEN_KEY);
  const isShared = () => sessionStorage.getItem(SHARE_KEY) !== null;

  function basic(secret) {
    const bytes = new TextEncoder().encode(secret + ":");
    return "Basic " + btoa(String.fromCharCode(...bytes));
  }

  function signIn(secret) {
    sessionStorage.removeItem(SHARE_KEY);
    localStorage.setItem(TOKEN_KEY, secret);
  }

  function signOut(reason) {
    sessionStorage.removeItem(SHARE_KEY);
    localStorage.removeItem(TOKEN_KEY);
    const query = new URLSearchParams({ next: location.pathname });
    if (reason) query.set("reason", reason);
    location.replace("/dashboard/login?" + query);
  }

  function safeNext(next) {
    return next && /^\/dashboard\/[\w/.-]*$/.test(next) ? next : "/dashboard/";
  }

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // `version`: the ETag of the copy the page holds; an unchanged resource answers 304 and
  // api() returns null, so the page neither parses nor redraws anything.
  // `text`: the body as the server sent it, for a download that keeps its bytes (`accept`
  // names its type; errors still come as JSON).
  async function api(path, method = "GET", version = null, accept = "application/json", text = false) {
    const secret = token();
    if (!secret) {
      signOut();
      throw new ApiError(401, "not signed in");
    }
    const headers = { Authorization: basic(secret), Accept: accept };
    if (version) headers["If-None-Match"] = `"${version}"`;
    const resp = await fetch(path, { method, headers, credentials: "omit", cache: "no-store" });
    if (resp.status === 304) return null;
    if (resp.ok && text) return resp.text();
    const body = await resp.json().catch(() => ({}));
    if (resp.status === 401 || (resp.status === 403 && method === "GET")) {
      signOut("refused");
    }
    if (!resp.ok) throw new ApiError(resp.status, body.message || "HTTP " + resp.status);
    return body;
  }

  // DOM building without innerHTML, so names and metadata can never inject markup.
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  const escapeHtml = (text) =>
    String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  function fmt(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "number") return String(value);
    if (Number.isInteger(value)) return String(value);
    const abs = Math.abs(value);
    if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(4).replace(/\.?0+e/, "e");
    const text = value.toPrecision(6);
    return text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text;
  }

  function ago(seconds) {
    if (seconds < 60) return `${Math.max(0, Math.round(seconds))} s ago`;
    if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h ago`;
    return `${(seconds / 86400).toFixed(1)} d ago`;
  }

  function duration(seconds) {
    return ago(seconds).replace(" ago", "");
  }

  const when = (epoch) => new Date(epoch * 1000).toLocaleString();

  // Header: brand, read-only badge, share, sign out. `shareQuery` names what is shared.
  function header(shareQuery) {
    const status = el("span", { id: "live", class: "muted" });
    const out = el("input", { class: "share-out", id: "share-url", readonly: true, hidden: true });
    const shareButton = el("button", {
      id: "share",
      onclick: async () => {
        try {
          const made = await api("/dashboard/api/share" + shareQuery, "POST");
          out.value = location.origin + location.pathname + "#share=" + encodeURIComponent(made.token);
          out.hidden = false;
          out.select();
        } catch (error) {
          out.hidden = false;
          out.value = "Cannot share: " + error.message;
        }
      },
    }, "Share read-only link");
    const bar = el("header", { class: "top" },
      el("a", { class: "brand", href: "/dashboard/" }, "honed"),
      el("a", { href: "/dashboard/" }, "Experiments"),
      el("span", { class: "spacer" }),
      status,
      isShared() ? el("span", { class: "badge readonly", id: "read-only" }, "read-only link") : shareButton,
      el("button", { id: "sign-out", onclick: () => signOut() }, isShared() ? "Close" : "Sign out"),
    );
    document.body.prepend(bar, el("div", { style: "padding: 0 20px" }, out));
    return status;
  }

  // Poll `load` every `?refresh=` ms (default 2000): live without a reload, paused while the
  // tab is hidden, and backed off to 4x the last load's duration, so a big experiment (a
  // refresh reads all its observations) costs the server at most about a quarter of a core.
  function live(load) {
    const every = Math.max(250, Number(new URLSearchParams(location.search).get("refresh")) || 2000);
    const status = document.getElementById("live");
    let timer = null;
    let busy = false;
    async function tick() {
      clearTimeout(timer);
      if (busy || document.hidden) return; // visibilitychange starts it again
      busy = true;
      const started = performance.now();
      try {
        if ((await load()) === false) return; // nothing more to show: stop polling
        if (status) status.textContent = "updated " + new Date().toLocaleTimeString();
      } catch (error) {
        if (status) status.textContent = "refresh failed: " + error.message;
      } finally {
        busy = false;
      }
      timer = setTimeout(tick, Math.max(every, 4 * (performance.now() - started)));
    }
    document.addEventListener("visibilitychange", tick);
    tick();
  }

  if (!location.pathname.startsWith("/dashboard/login") && !token()) signOut();

  // Names in the order people count: node-2 before node-10.
  const naturally = (a, b) => String(a).localeCompare(String(b), "en", { numeric: true });

  return { api, ApiError, basic, signIn, signOut, safeNext, isShared, el, escapeHtml, fmt, ago, duration, when, header, live, naturally };
})();
