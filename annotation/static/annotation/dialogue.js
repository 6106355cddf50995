/* The dialogue screen: prompt → sampling progress → A/B rating → next step. Keyboard first.
 *
 * The server renders every state of the screen (#dialogue-state, from /dialogues/<id>/body/); this
 * script writes through the REST API, polls the turn while it samples (showing A and B as they are
 * written, as plain text; the rating stays disabled), then swaps in the new state.
 * Typed text and half-done ratings live in localStorage until the server has accepted them.
 */
(function () {
  "use strict";
  const { api, errorText, shortcutsOff, storage, openDialog } = window.Annotator;
  const root = document.getElementById("dialogue");
  const dialogueId = root.dataset.dialogueId;
  const safetyTrack = root.dataset.track === "safety";
  const banner = document.getElementById("connection");
  const promptKey = "rlhf.draft.prompt." + dialogueId;
  // The number keys' strengths ({"1": "significantly_better", …}), as the server renders them.
  const STRENGTHS = JSON.parse(document.getElementById("strength-keys").textContent);
  const SAMPLING_POLL_MS = 300; // while the pair is being written: often enough to watch it grow

  let state = null; // "compose" | "sampling" | "ready" | "failed" | "reported" | "closed" | "finished" (a shared item, judged)
  let turnId = null;
  let pollTimer = null;
  let clockTimer = null;
  let busy = false;
  // Time spent on a comparison: visible time from when the pair is shown to the submit.
  let visibleMs = 0;
  let visibleSince = null;

  const $ = (selector) => root.querySelector(selector);
  const ratingKey = () => "rlhf.draft.rating." + turnId;
  const reportKey = () => "rlhf.draft.report." + turnId;

  function say(text) {
    banner.textContent = text || "";
    banner.hidden = !text;
  }

  // --- the time clock -------------------------------------------------------------------------
  // Annotators start reading while the replies stream, so the visible time from the first streamed
  // text counts too: clockStart() carries it over into the rating's clock.
  let streamMs = 0;
  let streamSince = null;
  let streaming = false; // the current turn has shown streamed text
  function clockStart() {
    visibleMs = streamMs + (streamSince === null ? 0 : performance.now() - streamSince);
    streamMs = 0; streamSince = null; streaming = false;
    visibleSince = document.visibilityState === "visible" ? performance.now() : null;
  }
  function streamClockStart() {
    if (streaming) return;
    streaming = true;
    streamSince = document.visibilityState === "visible" ? performance.now() : null;
  }
  document.addEventListener("visibilitychange", () => {
    const visible = document.visibilityState === "visible";
    if (state === "sampling" && streaming) {
      if (visible) streamSince = performance.now();
      else if (streamSince !== null) { streamMs += performance.now() - streamSince; streamSince = null; }
      return;
    }
    if (state !== "ready") return;
    if (visible) visibleSince = performance.now();
    else if (visibleSince !== null) { visibleMs += performance.now() - visibleSince; visibleSince = null; }
  });
  const timeSpentMs = () => Math.round(visibleMs + (visibleSince === null ? 0 : performance.now() - visibleSince));

  // --- reading the server-rendered state --------------------------------------------------------
  function mount() {
    const node = $("#dialogue-state");
    state = node.dataset.state;
    turnId = node.dataset.turnId || null;
    clearTimeout(pollTimer);
    clearInterval(clockTimer);
    if (state === "compose") {
      const textarea = $("#prompt");
      const draft = storage.get(promptKey);
      if (draft) textarea.value = draft;
      textarea.addEventListener("input", () => storage.set(promptKey, textarea.value));
      textarea.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); promptSend(); }
        if (event.key === "Escape") { textarea.blur(); root.focus(); }
      });
      $("#composer").addEventListener("submit", (event) => { event.preventDefault(); promptSend(); });
      if ($(".saved")) $("[data-action=continue]").focus(); else textarea.focus();
    } else if (state === "sampling") {
      streamMs = 0; streamSince = null; streaming = false; // a new pair: its reading clock starts at its first text
      const started = performance.now();
      const elapsed = $("[data-elapsed]");
      clockTimer = setInterval(() => { elapsed.textContent = Math.floor((performance.now() - started) / 1000); }, 1000);
      poll(SAMPLING_POLL_MS);
      root.focus();
    } else if (state === "ready") {
      const form = $("#rating");
      const draft = storage.get(ratingKey()) || {};
      for (const [name, value] of Object.entries(draft)) ratingSet(name, value, false);
      form.addEventListener("change", ratingSave);
      form.addEventListener("submit", (event) => { event.preventDefault(); ratingSubmit(false); });
      clockStart();
      root.focus();
    } else if (state === "failed") {
      $("[data-action=retry]").focus();
    } else if (state === "finished") {
      $("[data-action=new]").focus();
    } else {
      root.focus();
    }
  }

  async function refresh() {
    const response = await fetch(root.dataset.bodyUrl, { credentials: "same-origin" }).catch(() => null);
    if (!response || !response.ok) {
      say("Lost the connection to the server; trying again…");
      pollTimer = setTimeout(refresh, 2000);
      return;
    }
    root.innerHTML = await response.text(); // server-rendered; every text in it is escaped or sanitised
    say("");
    mount();
  }

  // --- compose: send a prompt ------------------------------------------------------------------
  async function promptSend() {
    if (busy) return;
    const textarea = $("#prompt");
    const errors = $("#composer-errors");
    const prompt = textarea.value.trim();
    if (!prompt) { errors.textContent = "Write a prompt first."; textarea.focus(); return; }
    storage.set(promptKey, textarea.value);
    busy = true;
    errors.textContent = "Sending…";
    const result = await api("POST", "/api/dialogues/" + dialogueId + "/turns/", { prompt });
    busy = false;
    if (result.status === 202) {
      storage.drop(promptKey);
      await refresh();
    } else {
      errors.textContent = errorText(result);
      textarea.focus();
    }
  }

  // --- sampling: poll the turn until it is ready or failed, showing the texts so far -------------
  function partialShow(partial) {
    for (const { label, text } of partial || []) {
      if (label !== "a" && label !== "b") continue;
      const node = $('[data-partial="' + label + '"]');
      if (!node || node.textContent === text) continue;
      if (text) streamClockStart();
      const following = node.scrollTop + node.clientHeight >= node.scrollHeight - 8; // at the bottom: stay there
      node.textContent = text; // model text: never innerHTML
      if (following) node.scrollTop = node.scrollHeight;
    }
  }

  async function poll(delay) {
    pollTimer = setTimeout(async () => {
      const result = await api("GET", "/api/turns/" + turnId + "/");
      if (!result.ok) {
        say(result.status === 0 ? "Lost the connection; still waiting for the responses…" : errorText(result));
        poll(Math.min(delay * 2, 5000));
        return;
      }
      say("");
      if (result.body.status === "sampling") {
        partialShow(result.body.partial);
        poll(SAMPLING_POLL_MS);
      } else refresh();
    }, delay);
  }

  async function retry() {
    if (busy) return;
    busy = true;
    const result = await api("POST", "/api/turns/" + turnId + "/retry/");
    busy = false;
    if (result.status === 202 || result.status === 409) refresh();
    else say(errorText(result));
  }

  // --- ready: the rating ---------------------------------------------------------------------
  function ratingValues() {
    const form = $("#rating");
    const pick = (name) => { const el = form.querySelector('input[name="' + name + '"]:checked'); return el ? el.value : null; };
    return { chosen: pick("chosen"), strength: pick("strength"), a_safe: pick("a_safe"), b_safe: pick("b_safe") };
  }

  function ratingSet(name, value, save = true) {
    const input = $('#rating input[name="' + name + '"][value="' + value + '"]');
    if (!input) return;
    input.checked = true;
    $("#rating-errors").textContent = "";
    if (save) ratingSave();
    root.querySelectorAll(".response").forEach((r) => r.classList.toggle("is-chosen", r.dataset.label === ratingValues().chosen));
  }

  function ratingSave() {
    const values = Object.fromEntries(Object.entries(ratingValues()).filter(([, v]) => v !== null));
    storage.set(ratingKey(), values);
    root.querySelectorAll(".response").forEach((r) => r.classList.toggle("is-chosen", r.dataset.label === values.chosen));
  }

  function ratingMissing(values) {
    const missing = [];
    if (!values.chosen) missing.push("which response is better (a/b or ←/→)");
    if (!values.strength) missing.push("how much better (1–4)");
    if (safetyTrack && values.a_safe === null) missing.push("whether A is safe (z/x)");
    if (safetyTrack && values.b_safe === null) missing.push("whether B is safe (n/m)");
    return missing;
  }

  async function ratingSubmit(confirmed) {
    if (busy) return;
    const values = ratingValues();
    const errors = $("#rating-errors");
    const missing = ratingMissing(values);
    if (missing.length) {
      errors.textContent = "Not yet: say " + missing.join(", ") + ".";
      return;
    }
    const body = { chosen: values.chosen, strength: values.strength, time_spent_ms: timeSpentMs() };
    if (safetyTrack) {
      body.a_safe = values.a_safe === "true";
      body.b_safe = values.b_safe === "true";
      const chosenSafe = values.chosen === "a" ? body.a_safe : body.b_safe;
      const otherSafe = values.chosen === "a" ? body.b_safe : body.a_safe;
      if (!chosenSafe && otherSafe && !confirmed) { openDialog("confirm-unsafe"); return; }
    }
    busy = true;
    errors.textContent = "Saving…";
    const result = await api("POST", "/api/turns/" + turnId + "/comparison/", body);
    busy = false;
    if (result.status === 201) {
      storage.drop(ratingKey());
      await refresh();
    } else if (result.status === 409) {
      errors.textContent = errorText(result);
      setTimeout(refresh, 1500);
    } else {
      errors.textContent = errorText(result);
    }
  }

  document.querySelector("[data-action=confirm-unsafe]").addEventListener("click", () => {
    document.getElementById("confirm-unsafe").close();
    ratingSubmit(true);
  });

  // --- skip / report -------------------------------------------------------------------------
  const reportDialog = document.getElementById("report");
  const reportForm = document.getElementById("report-form");
  const reportNote = document.getElementById("report-note");

  function reportOpen() {
    const draft = storage.get(reportKey());
    if (draft) {
      reportNote.value = draft.note || "";
      const radio = reportForm.querySelector('input[name="reason"][value="' + draft.reason + '"]');
      if (radio) radio.checked = true;
    }
    document.getElementById("report-errors").textContent = "";
    openDialog("report");
    (reportForm.querySelector('input[name="reason"]:checked') || reportNote).focus();
  }
  const reportValues = () => ({ reason: reportForm.querySelector('input[name="reason"]:checked').value, note: reportNote.value });
  reportForm.addEventListener("input", () => storage.set(reportKey(), reportValues()));
  reportForm.addEventListener("keydown", (event) => {
    const onRadio = event.target.type === "radio";
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey || onRadio)) { event.preventDefault(); reportForm.requestSubmit(); return; }
    // 1–5 pick a reason while the focus is not in the note
    if (event.target === reportNote || !/^[1-5]$/.test(event.key)) return;
    const radios = reportForm.querySelectorAll('input[name="reason"]');
    radios[Number(event.key) - 1].checked = true;
    radios[Number(event.key) - 1].focus();
    event.preventDefault();
  });
  reportForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = reportValues();
    storage.set(reportKey(), values);
    const result = await api("POST", "/api/turns/" + turnId + "/report/", values);
    if (result.status === 201 || result.status === 409) {
      storage.drop(reportKey());
      reportDialog.close();
      refresh();
    } else {
      document.getElementById("report-errors").textContent = errorText(result);
    }
  });
  reportForm.querySelectorAll('input[name="reason"]').forEach((radio) =>
    radio.addEventListener("change", () => {
      reportForm.querySelector('button[type="submit"]').textContent = radio.value === "skip" ? "Skip this turn" : "Report this turn";
    }));

  // --- after submitting ----------------------------------------------------------------------
  const actions = {
    continue: () => { const t = $("#prompt"); if (t) t.focus(); },
    new: () => document.getElementById("new-dialogue").requestSubmit(),
    end: () => { window.location.href = "/"; },
    retry: () => retry(),
    report: () => reportOpen(),
  };
  root.addEventListener("click", (event) => {
    const button = event.target.closest("[data-action]");
    if (button && actions[button.dataset.action]) actions[button.dataset.action]();
  });

  // --- keys ------------------------------------------------------------------------------------
  const RATING_KEYS = {
    a: ["chosen", "a"], ArrowLeft: ["chosen", "a"], b: ["chosen", "b"], ArrowRight: ["chosen", "b"],
    ...Object.fromEntries(Object.entries(STRENGTHS).map(([key, strength]) => [key, ["strength", strength]])),
  };
  const SAFETY_KEYS = { z: ["a_safe", "true"], x: ["a_safe", "false"], n: ["b_safe", "true"], m: ["b_safe", "false"] };

  document.addEventListener("keydown", (event) => {
    if (shortcutsOff(event)) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const onButton = event.target.closest && event.target.closest("button, a");
    let handled = true;
    if (state === "ready" && RATING_KEYS[key]) ratingSet(...RATING_KEYS[key]);
    else if (state === "ready" && safetyTrack && SAFETY_KEYS[key]) ratingSet(...SAFETY_KEYS[key]);
    else if (state === "ready" && key === "Enter" && !onButton) ratingSubmit(false);
    else if ((state === "ready" || state === "failed") && key === "s") reportOpen();
    else if (state === "failed" && key === "r") retry();
    else if (state === "compose" && (key === "c" || (key === "Enter" && !onButton))) actions.continue();
    else if (state === "finished" && key === "Enter" && !onButton) actions.new();
    else if (["compose", "reported", "closed", "failed", "finished"].includes(state) && key === "d") actions.new();
    else if (["compose", "reported", "closed", "failed", "finished"].includes(state) && key === "e") actions.end();
    else handled = false;
    if (handled) event.preventDefault();
  });

  mount();
})();
