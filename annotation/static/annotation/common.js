/* Shared by every page: the API helper, the guidelines panel and the shortcut rules. No build step. */
(function () {
  "use strict";

  const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content;

  /** Call our REST API with the session cookie and the CSRF token. Never throws on HTTP errors:
   *  {ok, status, body}; status 0 means the request did not get through (lost connection). */
  async function api(method, url, body) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRFToken"] = csrfToken();
      init.body = JSON.stringify(body || {});
    }
    // A GET is safe to repeat: one that did not get through (a kept-alive connection the server had just
    // closed, a restart) is tried twice more before the page hears of it. Writes are never repeated here.
    const tries = method === "GET" ? 3 : 1;
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await fetch(url, init);
        let data = null;
        try { data = await response.json(); } catch (_) { data = null; }
        return { ok: response.ok, status: response.status, body: data };
      } catch (_) {
        if (attempt >= tries) return { ok: false, status: 0, body: null };
        await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
      }
    }
  }

  /** "a: must be …; b: …" from the contract's error body {detail, errors}. */
  function errorText(result) {
    if (result.status === 0) return "No connection. Nothing you typed is lost; try again in a moment.";
    if (result.status === 401) return "You are logged out. Log in again in another tab; nothing you typed is lost.";
    if (result.status >= 500) return "The server had a problem (" + result.status + "). Nothing you typed is lost; try again.";
    const body = result.body || {};
    const fields = Object.entries(body.errors || {}).map(([f, m]) => f.replace(/_/g, " ") + ": " + [].concat(m).join(" "));
    return fields.length ? fields.join("; ") : (body.detail || "Request failed (" + result.status + ").");
  }

  /** Shortcuts are off in text fields and while a panel is open. */
  function shortcutsOff(event) {
    const t = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return true;
    if (document.querySelector("dialog[open]")) return true;
    if (!t || !t.closest) return false;
    if (t.isContentEditable || t.closest("textarea, select")) return true;
    if (t.tagName === "INPUT" && !["radio", "checkbox", "button", "submit"].includes(t.type)) return true;
    return false;
  }

  const storage = {
    get(key) { try { return JSON.parse(localStorage.getItem(key)); } catch (_) { return null; } },
    set(key, value) { try { localStorage.setItem(key, JSON.stringify(value)); } catch (_) { /* full or off */ } },
    drop(key) { try { localStorage.removeItem(key); } catch (_) { /* off */ } },
  };

  function openDialog(id) {
    const dialog = document.getElementById(id);
    if (dialog && !dialog.open) dialog.showModal();
    return dialog;
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-action]");
    if (!button) return;
    if (button.dataset.action === "guidelines") openDialog("guidelines");
    if (button.dataset.action === "close-dialog") button.closest("dialog").close();
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "?" || event.ctrlKey || event.metaKey || event.altKey) return;
    const guidelines = document.getElementById("guidelines");
    if (!guidelines) return;
    const t = event.target;
    if (t && t.closest && (t.closest("textarea, select") || (t.tagName === "INPUT" && t.type !== "radio"))) return;
    event.preventDefault();
    if (guidelines.open) guidelines.close();
    else if (!document.querySelector("dialog[open]")) openDialog("guidelines");
  });

  window.Annotator = { api, errorText, shortcutsOff, storage, openDialog };
})();
