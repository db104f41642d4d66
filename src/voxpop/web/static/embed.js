/*!
 * voxpop comment widget: one script, no framework, no build step. Publishers paste:
 *
 *   <div id="voxpop">
 *     <noscript><a href="https://comments.example.com/comments?uri=/story">Read and write comments</a></noscript>
 *   </div>
 *   <script src="https://comments.example.com/embed.js" data-voxpop-article="#story" async></script>
 *
 * Options (data-voxpop-* attributes), comment counts, theming, live updates: docs/widget.md.
 */
(function () {
  "use strict";
  // Guard against running twice. (window.voxpop alone may be the <div id="voxpop">.)
  if (window.voxpop && window.voxpop.reload) return;
  window.voxpop = { reload: function () {} };

  var MESSAGES = /*VOXPOP_MESSAGES*/{};

  var doc = document;
  var script = doc.currentScript || doc.querySelector('script[src$="embed.js"]') ||
    doc.querySelector('script[src*="/embed.js"]');
  if (!script) return;
  var src = new URL(script.src, location.href);
  var BASE = src.origin + src.pathname.replace(/\/embed\.js$/, "");

  function opt(name, fallback) {
    return script.getAttribute("data-voxpop-" + name) || fallback;
  }
  var cfg = {
    uri: opt("uri", location.pathname),
    site: opt("site", "default"),
    title: opt("title", doc.title),
    lang: opt("lang", ""),
    sort: /^(best|new|old)$/.test(opt("sort")) ? opt("sort") : "best",
    limit: parseInt(opt("limit"), 10) || 50,
    target: opt("target", "#voxpop"),
    article: opt("article", null), // the article element: inline feedback
    theme: opt("theme", ""),
    notify: opt("notify") !== "off"
  };

  /* ---- storage (localStorage may be missing or throw) ---- */

  function key(name) { return "voxpop:" + name + ":" + BASE; }
  function load(name) {
    try { return localStorage.getItem(key(name)); } catch (e) { return null; }
  }
  function save(name, value) {
    try {
      if (value == null) localStorage.removeItem(key(name));
      else localStorage.setItem(key(name), value);
    } catch (e) { /* private mode: keep it in memory only */ }
  }
  function loadJSON(name) {
    try { return JSON.parse(load(name)) || {}; } catch (e) { return {}; }
  }

  var token = load("token");
  function setToken(value) { token = value; save("token", value); }

  // Markdown source of the comments posted from this browser, for editing (the API
  // returns only HTML). Also tells which comments are our own.
  var bodies = loadJSON("bodies");
  function remember(id, body) {
    bodies[id] = body;
    var ids = Object.keys(bodies);
    if (ids.length > 50) delete bodies[ids[0]];
    save("bodies", JSON.stringify(bodies));
  }

  /* ---- i18n ---- */

  var lang = "en", plural, numbers, decimal, relative, dates;
  function catalogue(l) { return MESSAGES[l] || {}; }
  function pick(tag) {
    var l = (tag || "").toLowerCase().split("-")[0];
    return MESSAGES[l] ? l : null;
  }
  function t(name, vars) {
    var s = catalogue(lang)[name];
    if (s == null) s = catalogue("en")[name];
    if (s == null) s = name;
    return s.replace(/\{(\w+)\}/g, function (m, k) { return vars && k in vars ? vars[k] : m; });
  }
  function tn(name, n, vars) { // plural forms are separate keys: name_one, name_other, …
    vars = Object.assign({ count: numbers.format(n) }, vars);
    var k = name + "_" + plural.select(n);
    return t(k in catalogue(lang) || k in catalogue("en") ? k : name + "_other", vars);
  }
  function countText(n) { return n ? tn("comments", n) : t("comments_none"); }

  function ago(iso) {
    var d = new Date(iso), s = (Date.now() - d) / 1000;
    if (s < 45) return t("just_now");
    if (s > 30 * 86400) return dates.format(d);
    var u = s < 3600 ? ["minute", 60] : s < 86400 ? ["hour", 3600] : s < 604800 ? ["day", 86400] : ["week", 604800];
    return relative.format(-Math.max(1, Math.floor(s / u[1])), u[0]);
  }

  /* ---- DOM helpers ---- */

  var uidCounter = 0;
  function uid() { return "voxpop-" + ++uidCounter; }

  // h("button", {type: "button", text: "Reply"}, [children]); false/null attributes and
  // children are skipped. Text goes in as text, never as HTML.
  function h(tag, attrs, children) {
    var el = doc.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (k === "text") el.textContent = v;
      else if (v != null && v !== false) el.setAttribute(k, v === true ? "" : v);
    });
    (children || []).forEach(function (c) { if (c) el.append(c); });
    return el;
  }
  function button(act, label, attrs) {
    return h("button", Object.assign({ type: "button", class: "voxpop-btn voxpop-" + act, "data-act": act, text: label }, attrs));
  }
  function focus(el) {
    if (!el) return;
    if (!el.matches("a,button,input,select,textarea")) el.setAttribute("tabindex", "-1");
    el.focus();
  }

  var ARROW = '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" focusable="false">' +
    '<path d="M5 15l7-7 7 7" fill="none" stroke="currentColor" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round"/></svg>';

  /* ---- the API ---- */

  function api(method, path, query, body, retried) {
    var url = new URL(BASE + "/api/v1/" + path);
    Object.keys(query || {}).forEach(function (k) {
      [].concat(query[k]).forEach(function (v) { if (v != null) url.searchParams.append(k, v); });
    });
    var headers = { Accept: "application/json" }, sent = token;
    if (body) headers["Content-Type"] = "application/json";
    if (sent) headers.Authorization = "Bearer " + sent;
    return fetch(url, {
      method: method, headers: headers, credentials: "omit",
      body: body ? JSON.stringify(body) : undefined
    }).then(function (res) {
      if (res.status === 401 && sent && !retried) { // a token the server refuses is worthless
        setToken(null);
        return api(method, path, query, body, true);
      }
      if (res.status === 204) return null;
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (res.ok) {
          if (data.reader_token) setToken(data.reader_token);
          return data;
        }
        var err = new Error(data.detail || data.title || res.statusText);
        err.problem = data;
        err.retry = res.headers.get("Retry-After");
        throw err;
      });
    }, function () {
      var err = new Error("network");
      err.network = true;
      throw err;
    });
  }

  function errorText(err) {
    var p = err.problem || {}, own = catalogue(lang);
    if (err.network) return t("error_network");
    if (p.code === "rate_limited") {
      var n = parseInt(err.retry, 10);
      return n > 0 ? tn("error_rate_limited", n) : t("error_rate_limited_later");
    }
    if (("error_" + p.code) in own) return t("error_" + p.code);
    if (p.code === "validation_error" && ("error_field_" + p.field) in own) return t("error_field_" + p.field);
    return p.detail || p.title || t("error_generic");
  }

  // Shows an error in (or creates) the role=alert element of a box; null clears it.
  function showError(box, err) {
    var el = box.querySelector(":scope > .voxpop-error");
    if (!el) el = box.appendChild(h("p", { class: "voxpop-error", role: "alert", id: uid() }));
    el.textContent = err ? errorText(err) : "";
    return el;
  }

  /* ---- state ---- */

  var root, ui = {}, S = {}, total = 0, cursor = null, loadSeq = 0;
  var mine = { votes: {}, editable: {}, window: 900 }, until = {}, ownIds = {};
  var es, lastId, started, idle, fresh = {}, gone = {}, stale;

  function isOwn(id) { return id in bodies || id in mine.editable || id in ownIds; }
  function canChange(id) { return until[id] > Date.now(); }

  function setTotal(n, quiet) { // quiet: the notice speaks
    total = Math.max(0, n);
    var text = countText(total);
    ui.count.setAttribute("aria-live", quiet ? "off" : "polite");
    if (ui.count.textContent !== text) ui.count.textContent = text;
    doc.querySelectorAll("[data-voxpop-count]").forEach(function (el) {
      if (el.getAttribute("data-voxpop-count") === cfg.uri) el.textContent = text;
    });
  }

  function announce(text, el) {
    el = el || ui.status;
    el.textContent = "";
    setTimeout(function () { el.textContent = text; }, 60);
  }

  /* ---- rendering ---- */

  function avatar(name) {
    name = (name || "").trim();
    var el = h("span", { class: "voxpop-avatar" + (name ? "" : " voxpop-anon"), "aria-hidden": "true", text: name.charAt(0).toUpperCase() });
    var hash = 0;
    for (var i = 0; i < name.length; i++) hash = (hash * 31 + name.charCodeAt(i)) % 360;
    if (name) el.style.backgroundColor = "hsl(" + hash + ",42%,32%)";
    return el;
  }

  function renderComment(c, level) {
    var li = h("li", { class: "voxpop-item" });
    var art = h("article", { class: "voxpop-comment", id: "voxpop-c" + c.id, "data-id": c.id });
    var st = S[c.id] = { c: c, li: li, art: art, level: level };
    li.append(art);
    fill(st);
    (c.replies || []).forEach(function (r) { replies(st).append(renderComment(r, level + 1)); });
    return li;
  }

  // The list of replies of a comment; indentation stops at depth 5.
  function replies(st) {
    return st.ol || (st.ol = st.li.appendChild(
      h("ol", { class: "voxpop-list voxpop-replies" + (st.level >= 5 ? " voxpop-flat" : "") })));
  }

  function fill(st) {
    var c = st.c, art = st.art, a = c.author || {};
    art.textContent = "";
    art.classList.toggle("voxpop-deleted", !!c.deleted);
    art.classList.toggle("voxpop-pending", c.status === "pending");
    if (c.deleted) {
      art.removeAttribute("aria-labelledby");
      art.setAttribute("aria-label", t("deleted"));
      art.append(avatar(), h("p", { class: "voxpop-body", text: t("deleted") }));
      return;
    }
    var nameId = "voxpop-n" + c.id, timeId = "voxpop-t" + c.id;
    var link = /^https?:\/\//i.test(a.website || "");
    var name = h(link ? "a" : "span", { class: "voxpop-author", id: nameId, text: a.name || t("anonymous") });
    if (link) { name.href = a.website; name.rel = "nofollow ugc noopener"; }
    var body = h("div", { class: "voxpop-body" });
    body.innerHTML = c.html; // sanitised by the server (allow-list)
    art.setAttribute("aria-labelledby", nameId + " " + timeId);
    art.append.apply(art, [
      avatar(a.name),
      h("header", { class: "voxpop-meta" }, [
        name,
        h("a", { class: "voxpop-time", href: "#voxpop-c" + c.id }, [
          h("time", { id: timeId, datetime: c.created_at, title: new Date(c.created_at).toLocaleString(lang), text: ago(c.created_at) })
        ]),
        c.edited_at && h("span", { class: "voxpop-edited", text: t("edited") }),
        c.status === "pending" && h("span", { class: "voxpop-badge", text: t("pending") })
      ]),
      c.anchor && quoteBox(c),
      st.body = body,
      st.act = actions(st),
      st.slot = h("div", { class: "voxpop-slot" })
    ].filter(Boolean));
  }

  function actions(st) {
    var c = st.c, id = c.id, v = c.votes || { up: 0, down: 0 };
    var box = h("div", { class: "voxpop-actions" });
    if (isOwn(id)) box.append(score(v)); // no vote buttons on one's own comment, only the tally
    else {
      [1, -1].forEach(function (value) {
        var b = button("vote", "", { "data-value": value, class: "voxpop-btn voxpop-vote " + (value > 0 ? "voxpop-up" : "voxpop-down") });
        b.innerHTML = ARROW;
        box.append(b);
      });
    }
    if (c.status === "approved") box.append(button("reply", t("reply"), { "aria-expanded": "false" }));
    if (c.status === "approved" && !isOwn(id)) box.append(button("report", t("report"), { "aria-expanded": "false" }));
    if (canChange(id)) box.append(button("edit", t("edit")), button("delete", t("delete")));
    paintVotes(st, box);
    return box;
  }

  function score(v) {
    var el = h("span", { class: "voxpop-score" }, [h("span", { class: "voxpop-sr", text: t("votes_summary", { up: numbers.format(v.up), down: numbers.format(v.down) }) })]);
    [v.up, v.down].forEach(function (n, i) {
      var part = h("span", { class: i ? "voxpop-down" : "voxpop-up", "aria-hidden": "true" });
      part.innerHTML = ARROW;
      part.append(numbers.format(n));
      el.append(part);
    });
    return el;
  }

  function paintVotes(st, box) {
    var v = st.c.votes || { up: 0, down: 0 }, my = mine.votes[st.c.id] | 0;
    (box || st.act).querySelectorAll(".voxpop-vote").forEach(function (b) {
      var up = b.getAttribute("data-value") === "1", n = up ? v.up : v.down;
      b.setAttribute("aria-pressed", String(my === (up ? 1 : -1)));
      b.setAttribute("aria-label", t(up ? "upvote" : "downvote", { count: numbers.format(n) }));
      b.setAttribute("data-count", numbers.format(n)); // shown by CSS, so the name is the label alone
    });
  }

  /* ---- forms: new comment, reply, edit ---- */

  function field(name, label, attrs, hint, optional, options) {
    var id = uid(), hintId = hint && uid();
    var tag = options ? "select" : name === "body" ? "textarea" : "input";
    var input = h(tag, Object.assign({ id: id, name: name, "aria-describedby": hintId, "data-hint": hintId }, attrs), options);
    return h("div", { class: "voxpop-field voxpop-field-" + name }, [
      h("label", { for: id }, [label, optional && h("span", { class: "voxpop-opt", text: " " + t("optional") })]),
      input,
      hint && h("p", { class: "voxpop-hint", id: hintId, text: hint })
    ]);
  }

  // "Notify of": new follow-up comments (thread) or replies to the reader's own (replies)
  function notifyOptions(none) {
    return (none ? ["", "thread", "replies"] : ["thread", "replies", "digest"]).map(function (v) {
      return h("option", { value: v, text: t("notify_" + (v || "none")) });
    });
  }

  function clearErrors(form) {
    form.querySelectorAll("[aria-invalid]").forEach(function (el) {
      el.removeAttribute("aria-invalid");
      el.setAttribute("aria-describedby", el.getAttribute("data-hint") || "");
    });
    showError(form, null);
  }

  // The error of a request under the form, tied to the field it is about (err.problem.field).
  function fieldError(form, err) {
    var p = err.problem || {}, bad = p.field && form.elements[p.field], alert = showError(form, err);
    if (bad) {
      bad.setAttribute("aria-invalid", "true");
      bad.setAttribute("aria-describedby", ((bad.getAttribute("data-hint") || "") + " " + alert.id).trim());
      bad.focus();
    }
  }

  // kind: "new" (top of the thread), "reply" (st is the parent), "edit" (st is the comment)
  // or "fb" (inline feedback on the passage p: text area only, the remembered name)
  function makeForm(kind, st, p) {
    var edit = kind === "edit", profile = loadJSON("profile");
    var form = h("form", {
      class: "voxpop-form voxpop-form-" + kind,
      "aria-label": kind === "reply" ? t("reply_to", { name: (st.c.author || {}).name || t("anonymous") }) : t(edit ? "edit_comment" : p ? "fb_title" : "write")
    });
    var submit = h("button", { type: "submit", class: "voxpop-primary voxpop-submit", text: t(edit ? "save" : kind === "reply" ? "submit_reply" : p ? "fb_submit" : "submit") });
    form.append(field("body", t(p ? "fb_field" : "field_body"), {
      required: true, rows: edit ? 5 : p ? 3 : 4
    }, !p && t("markdown_hint")));
    if (!edit && !p) {
      form.append(h("div", { class: "voxpop-fields" }, [
        field("author_name", t("field_name"), { autocomplete: "name", maxlength: 80, value: profile.name }, null, true),
        field("author_email", t("field_email"), { type: "email", autocomplete: "email", maxlength: 254, value: profile.email }, t("email_hint"), true),
        field("author_website", t("field_website"), { type: "text", inputmode: "url", autocomplete: "url", maxlength: 500, value: profile.website, placeholder: "https://" }, null, true),
        cfg.notify && field("notify", t("notify_of"), null, null, false, notifyOptions(1))
      ]));
      if (cfg.notify) { // shown once there is an e-mail address; choosing it makes the address required
        var mail = form.elements.author_email, box = mail.parentNode.parentNode.lastChild;
        box.hidden = !mail.value;
        mail.addEventListener("input", function () { if (mail.value) box.hidden = false; });
        form.elements.notify.addEventListener("change", function () {
          mail.setAttribute("aria-required", !!this.value);
          mail.labels[0].lastChild.hidden = !!this.value;
        });
      }
    }
    showError(form, null);
    form.append(h("div", { class: "voxpop-buttons" }, [
      submit,
      kind !== "new" && button(p ? "fbclose" : "cancel", t("cancel"), { class: "voxpop-btn voxpop-secondary voxpop-cancel" })
    ]));
    var textarea = form.elements.body;
    form.t0 = Date.now(); // time to submit: a spam signal
    if (edit) textarea.value = st.c.id in bodies ? bodies[st.c.id] : htmlToText(st.c.html);

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (form.busy) return;
      var values = p ? { author_name: profile.name, author_email: profile.email, author_website: profile.website } : {};
      ["author_name", "author_email", "author_website", "notify"].forEach(function (k) {
        var el = form.elements[k];
        if (el && el.value.trim()) values[k] = el.value.trim();
      });
      clearErrors(form);
      form.busy = true;
      submit.setAttribute("aria-disabled", "true");
      var body = textarea.value, request;
      if (edit) {
        request = api("PATCH", "comments/" + st.c.id, null, { body: body }).then(function (c) {
          remember(st.c.id, body);
          Object.assign(st.c, c, { replies: st.c.replies });
          touched(c.id, c);
          closeForm(st, false);
          fill(st);
          focus(st.art);
          announce(t("updated"));
        });
      } else {
        var data = Object.assign({ site: cfg.site, uri: cfg.uri, title: cfg.title, body: body, elapsed: (Date.now() - form.t0) / 1e3 }, values);
        if (st) data.parent_id = st.c.id;
        if (p) data.anchor = { selector: p.sel };
        request = values.notify && !values.author_email ? Promise.reject({ problem: { code: "notify_email", field: "author_email" } }) : api("POST", "comments", null, data).then(function (c) {
          if (!p) save("profile", JSON.stringify({ name: values.author_name, email: values.author_email, website: values.author_website }));
          remember(c.id, body);
          until[c.id] = Date.now() + (Date.parse(c.editable_until) - Date.parse(c.created_at) || 0);
          textarea.value = "";
          if (p) return posted(c);
          if (st) closeForm(st, false);
          insert(c, st);
          announce(t(c.status === "pending" ? "awaiting" : "published") + (values.notify ? " " + t("notify_sent") : ""));
        });
      }
      request.catch(function (err) { fieldError(form, err); }).then(function () {
        form.busy = false;
        submit.removeAttribute("aria-disabled");
      });
    });
    return form;
  }

  // "Notify of" without a comment: the server mails a confirmation link (double opt-in) and
  // answers alike whether or not the address was known, and so does this box.
  function subscribeBox() {
    var sel = uid(), mail = uid(), msg, form = h("form", { class: "voxpop-sub", "aria-label": t("notify_title") }, [
      h("label", { for: sel, text: t("notify_of") }),
      h("select", { id: sel, name: "scope" }, notifyOptions()),
      h("label", { for: mail, class: "voxpop-sr", text: t("field_email") }),
      h("div", null, [
        h("input", { id: mail, name: "email", type: "email", autocomplete: "email", required: true, maxlength: 254, placeholder: t("field_email"), value: loadJSON("profile").email }),
        h("button", { type: "submit", class: "voxpop-primary", text: t("subscribe") })
      ]),
      msg = h("p", { role: "status" })
    ]);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (form.busy) return;
      clearErrors(form);
      msg.textContent = "";
      form.busy = true;
      var v = form.elements.scope.value, digest = v == "digest";
      api("POST", "subscriptions", null, { site: cfg.site, uri: cfg.uri, title: cfg.title, lang: lang, scope: digest ? "thread" : v, delivery: digest ? v : "instant", email: form.elements.email.value.trim() })
        .then(function () { announce(t("notify_sent"), msg); }, function (err) { fieldError(form, err); })
        .then(function () { form.busy = false; });
    });
    return form;
  }

  function htmlToText(html) {
    var body = new DOMParser().parseFromString(html.replace(/<\/(p|pre|blockquote|li)>/g, "$&\n\n").replace(/<br\s*\/?>/g, "\n"), "text/html").body;
    return body.textContent.replace(/\n{3,}/g, "\n\n").trim();
  }

  function openForm(st, kind, trigger) {
    if (st.form && st.kind === kind) return focus(st.form.elements.body);
    Object.keys(S).forEach(function (id) { closeForm(S[id], false); }); // one open form at a time
    st.form = kind === "report" ? reportForm(st) : makeForm(kind, st);
    st.kind = kind;
    st.trigger = trigger;
    trigger.setAttribute("aria-expanded", "true");
    if (kind === "edit") st.body.hidden = true;
    st.slot.append(st.form);
    focus(st.form.elements[0]);
  }

  // Flag a comment for the moderators, with a reason.
  function reportForm(st) {
    var sel = uid(), form = h("form", { class: "voxpop-form", "aria-label": t("report") }, [
      h("label", { for: sel, text: t("report_why") }),
      h("select", { id: sel, name: "reason" }, ["spam", "abuse", "off_topic", "other"].map(function (v) {
        return h("option", { value: v, text: t("why_" + v) });
      }))
    ]);
    showError(form, null);
    form.append(h("div", { class: "voxpop-buttons" }, [
      h("button", { type: "submit", class: "voxpop-primary", text: t("report") }),
      button("cancel", t("cancel"), { class: "voxpop-btn voxpop-secondary" })
    ]));
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      api("POST", "comments/" + st.c.id + "/flag", { site: cfg.site }, { reason: form.elements.reason.value }).then(function () {
        closeForm(st, true);
        announce(t("reported"));
      }, function (err) { fieldError(form, err); });
    });
    return form;
  }

  function closeForm(st, refocus) {
    if (!st.form) return;
    st.form.remove();
    st.form = null;
    st.body.hidden = false;
    st.trigger.setAttribute("aria-expanded", "false");
    if (refocus) focus(st.trigger);
  }

  function insert(c, parent) {
    c.replies = [];
    var li = renderComment(c, parent ? parent.level + 1 : 0);
    if (parent) replies(parent).append(li); else ui.list.prepend(li);
    if (c.status === "approved" && !unfresh(c.id)) setTotal(total + 1);
    S[c.id].art.classList.add("voxpop-new");
    focus(S[c.id].art);
  }

  /* ---- votes, delete ---- */

  function vote(st, value) {
    var c = st.c, id = c.id, v = c.votes || (c.votes = { up: 0, down: 0 });
    if (st.voting) return;
    var before = { up: v.up, down: v.down, my: mine.votes[id] | 0 };
    var next = before.my === value ? 0 : value;
    v.up += (next === 1) - (before.my === 1); // optimistic
    v.down += (next === -1) - (before.my === -1);
    mine.votes[id] = next;
    paintVotes(st);
    showError(st.art, null);
    st.voting = true;
    api("PUT", "comments/" + id + "/vote", null, { value: next }).then(function (r) {
      c.votes = { up: r.up, down: r.down };
      mine.votes[id] = r.mine | 0;
      paintVotes(st);
    }, function (err) {
      c.votes = { up: before.up, down: before.down };
      mine.votes[id] = before.my;
      if ((err.problem || {}).code === "own_comment") {
        ownIds[id] = 1;
        st.act.replaceWith(st.act = actions(st));
        focus(st.art);
      }
      paintVotes(st);
      showError(st.art, err);
    }).then(function () { st.voting = false; });
  }

  function remove(st) {
    if (!window.confirm(t("confirm_delete"))) return;
    var c = st.c;
    api("DELETE", "comments/" + c.id).then(function () {
      delete bodies[c.id];
      save("bodies", JSON.stringify(bodies));
      ON.remove(c, st, 1);
      announce(t("removed"));
    }, function (err) { showError(st.art, err); });
  }

  function drop(st, move) {
    var c = st.c, f = !move && st.form, li = st.li, next = li.nextElementSibling || li.previousElementSibling;
    var parent = li.parentNode.closest(".voxpop-item"), was = doc.activeElement;
    move = move || li.contains(was);
    if (f || st.ol && st.ol.children.length) { // a placeholder keeps replies and a form
      Object.assign(c, { deleted: true, html: "", status: "deleted" });
      fill(st);
      if (f) st.art.append(f);
      if (move) focus(f && f.contains(was) ? was : st.art);
    } else {
      li.remove();
      delete S[c.id];
      if (move) focus(next ? next.querySelector("article") : parent ? parent.querySelector("article") : ui.heading);
    }
  }


  /* ---- the article's rating ---- */

  // R: the server's last word; rc: the site's policy. A choice shows at once and goes out;
  // choices made while a request is on its way go in the next one (rollback to R on error).
  var R, rc = {}, STAR = '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">' +
    '<path d="M12 2.8l2.8 5.8 6.3.9-4.6 4.4 1.1 6.3-5.6-3-5.6 3 1.1-6.3-4.6-4.4 6.3-.9z"/></svg>';

  function ratingBox() {
    var r = ui.r = {}, label = uid(), dist = uid(), i;
    r.stars = h("div", { class: "voxpop-stars", role: "radiogroup", "aria-labelledby": label });
    for (i = 1; i < 6; i++) {
      r.stars.append(h("span", { class: "voxpop-star", role: "radio", "data-stars": i, "aria-label": t("rating_star", { count: numbers.format(i) }) }));
      r.stars.lastChild.innerHTML = STAR;
    }
    r.stars.addEventListener("click", function (e) {
      var s = e.target.closest("[data-stars]");
      if (s) rate(+s.getAttribute("data-stars"));
    });
    r.stars.addEventListener("keydown", function (e) { // as native radios: arrows move and select
      var k = e.key, i = +e.target.getAttribute("data-stars");
      i = k === " " || k === "Enter" ? i : k === "Home" ? 1 : k === "End" ? 5 :
        /^Arrow(Right|Up)$/.test(k) ? Math.min(5, i + 1) : /^Arrow(Left|Down)$/.test(k) ? Math.max(1, i - 1) : 0;
      if (i && !e.altKey && !e.ctrlKey && !e.metaKey) { e.preventDefault(); rate(i); }
    });
    r.box = h("div", { class: "voxpop-rating", hidden: true }, [
      h("div", { class: "voxpop-rrow" }, [
        h("span", { class: "voxpop-rlabel", id: label, text: t("rating_label") }),
        r.stars,
        r.sum = h("p", { class: "voxpop-rsum" })
      ]),
      h("div", { class: "voxpop-rrow voxpop-rbtns" }, [
        r.toggle = button("rdist", t("rating_show"), { "aria-expanded": "false", "aria-controls": dist }),
        r.remove = button("unrate", t("rating_remove"))
      ]),
      r.msg = h("p", { class: "voxpop-rmsg", role: "status" }),
      r.dist = h("ul", { class: "voxpop-dist", id: dist, hidden: true })
    ]);
    r.toggle.insertAdjacentHTML("beforeend", ARROW);
    return r.box;
  }

  function loadRating(conf) {
    return Promise.all([conf, api("GET", "ratings", { uri: cfg.uri, site: cfg.site })]).then(function (a) {
      rc = a[0].ratings || {};
      paintRating(R = a[1]);
      ui.r.want = R.mine;
      ui.r.box.hidden = rc.enabled === false;
    }, function () { /* no ratings from this server, no rating control */ });
  }

  function readOnly(mine) { return rc.changes === false && mine != null; }

  function paintRating(v) {
    var r = ui.r, n = v.count, mine = v.mine || 0, had = r.stars.contains(doc.activeElement), s, c, bar;
    r.stars.setAttribute("aria-readonly", readOnly(v.mine));
    [].forEach.call(r.stars.children, function (el, i) {
      el.setAttribute("aria-checked", mine === i + 1);
      el.classList.toggle("voxpop-on", i < mine);
      el.tabIndex = i === Math.max(mine, 1) - 1 ? 0 : -1; // roving tabindex
      if (had && !el.tabIndex) el.focus();
    });
    r.sum.textContent = "";
    r.sum.append(n ? h("span", { class: "voxpop-ravg" }, [
      h("span", { class: "voxpop-sr", text: t("rating_average") + " " }),
      decimal.format(v.average),
      h("span", { "aria-hidden": "true", text: " ★ · " })
    ]) : "", n ? tn("ratings", n) : t("ratings_none"));
    r.remove.hidden = !mine || readOnly(mine);
    r.dist.textContent = "";
    for (s = 5; s; s--) {
      c = v.histogram[s - 1];
      bar = h("span", { class: "voxpop-rbar", "aria-hidden": "true" }, [h("span")]);
      bar.firstChild.style.width = (n && 100 * c / n) + "%"; // CSSOM: fine under a strict CSP
      r.dist.append(h("li", null, [ // reads "5 stars: 12"
        tn("stars", s), bar, h("span", null, [h("span", { class: "voxpop-sr", text: ": " }), numbers.format(c)])
      ]));
    }
  }

  function rate(stars) { // 1–5, or null to withdraw
    var r = ui.r, hg, n, sum = 0;
    if (!R || stars === r.want || readOnly(r.want)) return;
    r.want = stars;
    hg = R.histogram.slice(); n = R.count; // optimistic: R with the reader's new stars
    if (R.mine && hg[R.mine - 1] > 0) { hg[R.mine - 1]--; n--; }
    if (stars) { hg[stars - 1]++; n++; }
    hg.forEach(function (c, i) { sum += c * (i + 1); });
    paintRating({ average: sum / n, count: n, histogram: hg, mine: stars });
    note("");
    if (!r.busy) send();
  }

  function send() {
    var r = ui.r, stars = r.want, where = { uri: cfg.uri, site: cfg.site };
    r.busy = true;
    (stars ? api("PUT", "ratings", null, Object.assign({ title: cfg.title, stars: stars }, where))
      : api("DELETE", "ratings", where)).then(function (v) {
      R = v;
      r.busy = false;
      stars = r.want;
      r.want = R.mine;
      if (stars !== R.mine && !readOnly(R.mine)) return rate(stars); // chosen meanwhile
      paintRating(R);
      note(t(R.mine ? "rating_saved" : "rating_removed"));
    }, function (err) {
      r.busy = false;
      if ((err.problem || {}).code === "rating_final") rc.changes = false;
      paintRating(R); // roll back
      r.want = R.mine;
      note(errorText(err), 1);
    });
  }

  function note(text, error) {
    ui.r.msg.textContent = text;
    ui.r.msg.classList.toggle("voxpop-rerr", !!error);
  }

  /* ---- loading ---- */

  function loadThread(more) {
    var seq = ++loadSeq;
    var query = { uri: cfg.uri, site: cfg.site, sort: cfg.sort, limit: cfg.limit, cursor: more ? cursor : null };
    showError(ui.foot, null);
    if (!more) {
      ui.list.setAttribute("aria-busy", "true");
      ui.loading.hidden = ui.list.children.length > 0; // a reload keeps the old list until the new one is in
      ui.more.hidden = true;
    }
    return Promise.all([
      api("GET", "comments", query),
      !more && token ? api("GET", "me", { uri: cfg.uri, site: cfg.site }).catch(function () { return null; }) : null
    ]).then(function (r) {
      if (seq !== loadSeq) return;
      var page = r[0], me = r[1];
      if (me) {
        mine.votes = me.votes || {};
        mine.editable = {};
        mine.window = me.edit_window || 900;
        (me.editable || []).forEach(function (id) { mine.editable[id] = 1; });
      }
      if (!more) { ui.list.textContent = ""; S = {}; }
      var added = page.items.map(function (c) {
        walk(c, function (x) {
          if (x.id in mine.editable && !(x.id in until)) {
            until[x.id] = Math.max(Date.parse(x.created_at) + mine.window * 1000, Date.now() + 30000);
          }
        });
        return ui.list.appendChild(renderComment(c, 0));
      });
      cursor = page.next_cursor;
      ui.more.hidden = !cursor;
      setTotal(page.total);
      if (!more) fresh = {}, stale = 0;
      Object.keys(S).forEach(function (id) { delete fresh[id]; });
      notice();
      if (more && added[0]) focus(added[0].firstChild);
      if (!more && /^#voxpop-c\d+$/.test(location.hash)) {
        var target = doc.getElementById(location.hash.slice(1));
        if (target) { target.scrollIntoView(); focus(target); }
      }
    }, function (err) {
      if (seq !== loadSeq) return;
      if (!more) ui.list.textContent = "";
      showError(ui.foot, err).append(" ", button("retry", t("retry")));
      if (more) ui.more.hidden = false;
    }).then(function () {
      if (seq !== loadSeq) return;
      ui.list.removeAttribute("aria-busy");
      ui.loading.hidden = true;
    });
  }

  function walk(c, fn) { fn(c); (c.replies || []).forEach(function (r) { walk(r, fn); }); }

  function counts() {
    var els = [].slice.call(doc.querySelectorAll("[data-voxpop-count]"));
    var uris = els.map(function (el) { return el.getAttribute("data-voxpop-count"); })
      .filter(function (u, i, all) { return all.indexOf(u) === i; });
    for (var i = 0; i < uris.length; i += 100) { // the API takes 100 uris per request
      api("GET", "articles/summary", { site: cfg.site, uri: uris.slice(i, i + 100) }).then(function (r) {
        els.forEach(function (el) {
          var s = r[el.getAttribute("data-voxpop-count")];
          if (s) el.textContent = countText(s.comments);
        });
      }, function () { /* counts are decoration */ });
    }
  }

  /* ---- live updates: GET /api/v1/events (Server-Sent Events), see docs/widget.md ---- */

  var ON = {
    comment: function (c, st) {
      delete gone[c.id];
      if (st ? st.c.status === "approved" : fresh[c.id]) return;
      setTotal(total + 1, 1);
      if (!st) { fresh[c.id] = 1; return notice(); }
      Object.assign(st.c, c, { replies: st.c.replies }); // the reader's own, approved now
      if (!st.form) fill(st);
    },
    edit: function (c, st) {
      if (!st || st.c.deleted) return;
      Object.assign(st.c, { html: c.html, edited_at: c.edited_at });
      st.body.innerHTML = c.html; // sanitised by the server
      if (!st.art.querySelector(".voxpop-edited")) st.art.querySelector(".voxpop-time").after(h("span", { class: "voxpop-edited", text: t("edited") }));
      touched(c.id, c);
    },
    remove: function (d, st, own) {
      if (gone[d.id]) return;
      gone[d.id] = 1;
      if (unfresh(d.id) || !st || st.c.status === "approved") setTotal(total - 1, !own);
      if (st) drop(st, own);
      touched(d.id);
    },
    vote: function (d, st) {
      if (!st || st.c.deleted || st.voting) return;
      st.c.votes = d.votes;
      var sc = st.act.querySelector(".voxpop-score");
      if (sc) sc.replaceWith(score(d.votes)); else paintVotes(st);
    },
    rating: function (d) {
      if (!R) return;
      R = Object.assign(d, { mine: R.mine });
      if (!ui.r.busy) paintRating(R);
    },
    reset: function () { stale = 1; notice(); }
  };

  function live() {
    if (!window.EventSource || !started || es && es.readyState < 2) return;
    es = new EventSource(BASE + "/api/v1/events?" + new URLSearchParams(Object.assign({ uri: cfg.uri, site: cfg.site }, lastId && { last_event_id: lastId })));
    Object.keys(ON).forEach(function (k) {
      es.addEventListener(k, function (e) {
        var d = {}, st;
        if (!root.isConnected) return stop();
        lastId = e.lastEventId;
        try { d = JSON.parse(e.data); } catch (x) { /* reset has no data */ }
        st = S[d.id];
        ON[k](d, st && st.li.isConnected && st);
      });
    });
  }

  function stop() { es = es && es.close(); }

  function unfresh(id) {
    var was = fresh[id];
    delete fresh[id];
    notice();
    return was;
  }

  function notice() {
    var n = Object.keys(fresh).length, b = ui.live.firstChild, text = stale ? t("live_reset") : tn("live_new", n);
    if (!n && !stale) return b && b.remove();
    if (!b) b = ui.live.appendChild(button("live", "", { class: "voxpop-primary" }));
    if (b.textContent !== text) b.textContent = text;
  }

  function showNew() {
    var ids = fresh;
    window.voxpop.reload().then(function () {
      var first;
      ui.list.querySelectorAll("article").forEach(function (a) {
        if (ids[a.getAttribute("data-id")]) first = first || a, a.classList.add("voxpop-new");
      });
      focus(first || ui.heading);
    });
  }

  /* ---- inline feedback ---- */

  // The article's canonical text, exactly as the server computes it from HTML
  // (anchoring/html.py + canonical.py): block elements end a line, <br> is a space,
  // dropped elements vanish, then NFC, folded quotes and dashes, no invisible characters,
  // white space collapsed (a run with a line break is "\n") and trimmed. Positions count
  // code points: t holds one code point per entry. s[i]/e[i] bound the stretch of raw DOM
  // text (UTF-16 units over all text nodes in order: nodes[k] starts at offs[k]) that
  // made t[i]; block breaks are empty stretches.
  var BLOCK = /^(address|article|aside|blockquote|body|caption|center|d[dlt]|details|dialog|dir|div|fieldset|figcaption|figure|footer|form|h[1-6]|header|hgroup|hr|html|legend|li|main|menu|nav|ol|optgroup|option|p|pre|section|summary|table|tbody|t[dhr]|tfoot|thead|ul)$/;
  var DROP = /^(head|script|style|template|noscript|svg|math|iframe|object|canvas|select|textarea)$/;
  var WS = /[\s\x1c-\x1f\x85]/, MARKS = /[\p{M}\u1160-\u11ff]/u;
  var INVISIBLE = /[\0-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\xad\u200b\u2060\ufeff]/;
  var Q = "TextQuoteSelector", P = "TextPositionSelector";
  var story, FB = [], QS = [], located = {};

  function fold(ch) {
    return /[\u2018-\u201b]/.test(ch) ? "'" : /[\u201c-\u201f]/.test(ch) ? '"' : /[\u2010-\u2015\u2212]/.test(ch) ? "-" : ch;
  }

  function canon() {
    var c = [], s = [], e = [], nodes = [], offs = [], pos = 0, m = { t: [], s: [], e: [], nodes: nodes, offs: offs };
    function add(ch, a, b) { c.push(ch); s.push(a); e.push(b); }
    (function walk(el) {
      for (var n = el.firstChild, d, i, k, blk; n; n = n.nextSibling) {
        if (n.nodeType === 3) {
          nodes.push(n); offs.push(pos);
          d = n.data.replace(/[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/g, " "); // in HTML a line break is a space
          for (i = 0; i < d.length; i += k) {
            k = d.codePointAt(i) > 0xffff ? 2 : 1;
            add(d.substr(i, k), pos + i, pos + i + k);
          }
          pos += d.length;
        } else if (n.nodeType === 1 && !n.hasAttribute("data-voxpop-ui") && !DROP.test(n.localName)) {
          blk = BLOCK.test(n.localName);
          if (blk || n.localName === "br") add(blk ? "\n" : " ", pos, pos);
          walk(n);
          if (blk) add("\n", pos, pos);
        }
      }
    })(story);
    // NFC per base character and its combining marks, then fold and drop the invisible.
    var t = [], ts = [], te = [], i = 0, j, part, norm;
    function keep(ch, a, b) {
      if (!INVISIBLE.test(ch)) { t.push(fold(ch)); ts.push(a); te.push(b); }
    }
    while (i < c.length) {
      for (j = i + 1; j < c.length && MARKS.test(c[j]); j++);
      part = c.slice(i, j).join("");
      norm = part.normalize("NFC");
      if (norm === part) for (; i < j; i++) keep(c[i], s[i], e[i]);
      else { Array.from(norm).forEach(function (ch) { keep(ch, s[i], e[j - 1]); }); i = j; }
    }
    for (i = 0; i < t.length; i = j) { // white space runs
      if (!WS.test(t[i])) { m.t.push(t[i]); m.s.push(ts[i]); m.e.push(te[i]); j = i + 1; continue; }
      for (j = i, part = " "; j < t.length && WS.test(t[j]); j++) if (t[j] === "\n") part = "\n";
      if (i && j < t.length) { m.t.push(part); m.s.push(ts[i]); m.e.push(te[j - 1]); }
    }
    return m;
  }

  // A passage [a, b) of canonical text m, with both selectors.
  function passage(m, a, b) {
    var t = m.t, exact;
    if (b - a > 2000) b = a + 2000; // the server's longest quote
    while (b > a && WS.test(t[b - 1])) b--;
    exact = t.slice(a, b).join("");
    return b > a && { a: a, b: b, exact: exact, sel: [
      { type: Q, exact: exact, prefix: t.slice(Math.max(0, a - 32), a).join(""), suffix: t.slice(b, b + 32).join("") },
      { type: P, start: a, end: b }
    ] };
  }

  // The canonical passage of a DOM range (a selection, a paragraph), trimmed; or false.
  function fromRange(r) {
    var m = canon(), k, n, rs = null, re = null, a = 0, b = m.t.length;
    for (k = 0; k < m.nodes.length; k++) {
      n = m.nodes[k];
      if (rs == null && r.comparePoint(n, n.length) >= 0) rs = m.offs[k] + (n === r.startContainer ? r.startOffset : 0);
      if (r.comparePoint(n, 0) <= 0) re = m.offs[k] + (n === r.endContainer ? r.endOffset : n.length);
    }
    if (rs == null || re == null) return false;
    while (a < b && (m.e[a] <= rs || WS.test(m.t[a]))) a++;
    while (b > a && (m.s[b - 1] >= re || WS.test(m.t[b - 1]))) b--;
    return passage(m, a, b);
  }

  function pick1(sel, type) { return (sel || []).filter(function (x) { return x.type === type; })[0]; }
  function quoteOf(sel) { var q = pick1(sel, Q); return q && q.exact; }
  function lost(a) { return !a.selector || !a.selector.length || /orphaned|ambiguous/.test(a.state); }
  function clip(s) { var cps = Array.from(s || ""); return cps.length > 300 ? cps.slice(0, 299).join("") + "…" : s; }
  function text(m, a, b) { return m.t.slice(a, b).join(""); }

  // Where the selectors lie in this page, only if the page has the quote right there.
  function at(m, sel) {
    var p = pick1(sel, P);
    return p && text(m, p.start, p.end) === quoteOf(sel) ? [p.start, p.end] : null;
  }

  function quoteBox(c) {
    var a = c.anchor, gone = lost(a), q = quoteOf(gone ? (a.original || {}).selector : a.selector);
    return h("div", { class: "voxpop-on" }, [
      gone && h("p", { class: "voxpop-changed", text: t("fb_changed") }),
      q && h("blockquote", { class: "voxpop-quote", text: clip(q) })
    ]);
  }

  function loadFeedback() {
    var where = { uri: cfg.uri, site: cfg.site };
    return Promise.all([
      api("GET", "comments", Object.assign({ filter: "feedback", sort: "old", limit: 1000 }, where)),
      api("GET", "articles", where).catch(function () { return {}; }) // unregistered: no questions
    ]).then(function (r) {
      FB = r[0].items.filter(function (c) { return c.anchor && !c.deleted; });
      QS = r[1].questions || [];
      return place();
    }).then(paint, function (err) { showError(ui.panels[1], err); });
  }

  // A reader edited (c) or deleted their own feedback in the thread.
  function touched(id, c) {
    if (!story || !FB.some(function (x) { return x.id === id; })) return;
    FB = FB.filter(function (x) { if (x.id === id && c) x.html = c.html; return x.id !== id || c; });
    paint();
  }

  // Verify every stored position against the page's own text; for the ones that do not
  // match, ask the server once where they lie in this text. Text that does not match the
  // quote is never highlighted.
  function place() {
    var m = canon(), miss = [], page = m.t.join("");
    FB.forEach(function (c) {
      c.at = lost(c.anchor) ? null : at(m, c.anchor.selector);
      if (!lost(c.anchor) && !c.at) miss.push(c);
    });
    QS.forEach(function (q) { q.at = at(m, q.selector); });
    if (!miss.length) return;
    if (located.text !== page) {
      located = { text: page, answer: api("POST", "anchor", null, { uri: cfg.uri, site: cfg.site, text: page }).catch(function () { return []; }) };
    }
    return located.answer.then(function (list) {
      list.forEach(function (f) {
        miss.forEach(function (c) {
          var found = f.start != null && text(m, f.start, f.end);
          if (c.id === f.comment_id && found && (found === quoteOf(c.anchor.selector) || found === quoteOf((c.anchor.original || {}).selector))) c.at = [f.start, f.end];
        });
      });
    });
  }

  // Highlights: our marks wrap pieces of text nodes only (split, never an element moved
  // or cloned), one mark per piece, so the page's markup and its handlers stay intact.
  function clear() {
    story.querySelectorAll("[data-voxpop-ui=n],[data-voxpop-ui=q]").forEach(function (el) { el.remove(); });
    story.querySelectorAll("mark.voxpop-m").forEach(function (mk) {
      var parent = mk.parentNode;
      mk.replaceWith.apply(mk, [].slice.call(mk.childNodes));
      parent.normalize();
    });
  }

  function wrap(m, groups) {
    m.nodes.forEach(function (node, k) {
      var o = m.offs[k], L = node.length, cuts = [], pieces = [], base = 0, blank = !/\S/.test(node.data), before = node.previousSibling;
      var hits = groups.filter(function (g) { return g.rs < o + L && g.re > o; });
      if (!hits.length) return;
      hits.forEach(function (g) { cuts.push(g.rs - o, g.re - o); });
      cuts.sort(function (x, y) { return x - y; }).forEach(function (cut) {
        if (cut > base && cut < L) { pieces.push([node, base, cut]); node = node.splitText(cut - base); base = cut; }
      });
      pieces.push([node, base, L]);
      // White space between blocks (a list's line breaks) is not worth a mark.
      var between = blank && [before, node.nextSibling].some(function (x) { return !x || BLOCK.test(x.localName); });
      pieces.forEach(function (pc) {
        var on = hits.filter(function (g) { return g.rs <= o + pc[1] && g.re >= o + pc[2]; }), ids = [], mk;
        if (!on.length || between) return;
        on.forEach(function (g) { ids = ids.concat(g.ids); });
        mk = h("mark", { class: "voxpop-m" + (ids.length ? " voxpop-hl" : "") + (on.some(function (g) { return g.q; }) ? " voxpop-q" : ""), "data-voxpop-ids": ids.join(" ") || null });
        pc[0].before(mk);
        mk.append(pc[0]);
        on.forEach(function (g) { g.marks.push(mk); });
      });
    });
  }

  function paint() {
    clear();
    var m = canon(), groups = [], by = {};
    FB.forEach(function (c) {
      if (!c.at) return;
      var g = by[c.at];
      if (!g) groups.push(g = by[c.at] = { at: c.at, ids: [] });
      g.ids.push(c.id);
    });
    QS.forEach(function (q, i) { if (q.at) groups.push({ at: q.at, ids: [], q: q, i: i }); });
    groups.forEach(function (g) { g.rs = m.s[g.at[0]]; g.re = m.e[g.at[1] - 1]; g.marks = []; });
    wrap(m, groups);
    groups.forEach(function (g) {
      var last = g.marks[g.marks.length - 1], spot, n = g.ids.length;
      if (!last) return;
      if (g.q) {
        for (spot = last; spot !== story && !BLOCK.test(spot.localName); spot = spot.parentNode);
        spot.append(h("button", { type: "button", class: "voxpop-qbtn", "data-voxpop-ui": "q", "data-q": g.i, "aria-haspopup": "dialog", "aria-expanded": "false", text: t("fb_question", { question: g.q.question }) }));
      } else {
        spot = last.closest("a,button,label,summary"); // a button inside a link would not work
        (spot && story.contains(spot) ? spot : last).after(h("button", {
          type: "button", class: "voxpop-cnt", "data-voxpop-ui": "n", "data-voxpop-ids": g.ids.join(" "),
          "aria-label": t("fb_show", { count: numbers.format(n) }), "aria-haspopup": "dialog", "aria-expanded": "false", text: numbers.format(n)
        }));
      }
    });
    ui.fbTab.textContent = t("tab_feedback", { count: numbers.format(FB.length) });
    ui.fbList.textContent = "";
    FB.slice().sort(function (x, y) { return (x.at ? x.at[0] : 1e9) - (y.at ? y.at[0] : 1e9); }).forEach(function (c) {
      ui.fbList.append(h("li", { class: "voxpop-fbi", id: "voxpop-f" + c.id }, [
        quoteBox(c),
        h("p", { class: "voxpop-meta" }, [h("span", { class: "voxpop-author", text: (c.author || {}).name || t("anonymous") }), " ", h("time", { datetime: c.created_at, text: ago(c.created_at) })]),
        html(c),
        c.at && button("fbshow", t("fb_show_in"), { class: "voxpop-btn voxpop-secondary", "data-id": c.id })
      ]));
    });
    if (!FB.length) ui.fbList.append(h("li", { class: "voxpop-loading", text: t("fb_none") }));
  }

  function html(c) {
    var el = h("div", { class: "voxpop-body" });
    el.innerHTML = c.html; // sanitised by the server
    return el;
  }

  function calm() { return matchMedia("(prefers-reduced-motion: reduce)").matches; }

  // "Show in article": scroll to the passage, flash it, focus its count button.
  function show(id) {
    var marks = story.querySelectorAll('mark[data-voxpop-ids~="' + id + '"]'), badge = story.querySelector('button[data-voxpop-ids~="' + id + '"]');
    if (!marks.length) return;
    marks[0].scrollIntoView({ behavior: calm() ? "auto" : "smooth", block: "center" });
    marks.forEach(function (mk) { mk.classList.add("voxpop-flash"); });
    setTimeout(function () { marks.forEach(function (mk) { mk.classList.remove("voxpop-flash"); }); }, 2000);
    if (badge) badge.focus({ preventScroll: true });
  }

  /* floating things (one at a time): the "Give feedback" button of a selection, the
     feedback form, the list of a passage's feedback. They live in the container. */

  function openPop(el, rect, trigger) {
    closePop();
    ui.pop = el;
    el.trigger = trigger;
    if (trigger) trigger.setAttribute("aria-expanded", "true");
    root.append(el);
    var base = el.offsetParent || doc.body, o = getComputedStyle(base).position === "static" ? { left: -scrollX, top: -scrollY } : base.getBoundingClientRect();
    el.style.left = Math.max(8, Math.min(rect.left, doc.documentElement.clientWidth - el.offsetWidth - 8)) - o.left + "px"; // CSSOM: fine under a strict CSP
    el.style.top = rect.bottom + 6 - o.top + "px";
  }

  function closePop(refocus) {
    var el = ui.pop, tr = el && el.trigger;
    if (!el) return;
    ui.pop = null;
    el.remove();
    if (tr) {
      tr.setAttribute("aria-expanded", "false");
      if (refocus && tr.isConnected) tr.focus();
    }
  }

  function feedbackForm(p, trigger, rect, title) {
    if (!p) return;
    var id = uid(), form = makeForm("fb", null, p);
    var box = h("div", { class: "voxpop-pop", role: "dialog", "aria-labelledby": id }, [
      h("p", { class: "voxpop-ptitle", id: id, text: title || t("fb_title") }),
      h("blockquote", { class: "voxpop-quote", text: clip(p.exact) }),
      form
    ]);
    box.form = form;
    openPop(box, rect || trigger.getBoundingClientRect(), trigger);
    box.scrollIntoView({ block: "nearest", behavior: calm() ? "auto" : "smooth" });
    form.elements.body.focus({ preventScroll: true });
  }

  function feedbackList(ids, trigger) {
    var id = uid(), box = h("div", { class: "voxpop-pop", role: "dialog", "aria-labelledby": id, tabindex: "-1" }, [
      h("p", { class: "voxpop-ptitle", id: id, text: t("fb_title") }),
      h("ul", { class: "voxpop-plist" }, FB.filter(function (c) { return ids.indexOf(String(c.id)) >= 0; }).map(function (c) {
        return h("li", null, [h("span", { class: "voxpop-author", text: (c.author || {}).name || t("anonymous") }), html(c)]);
      })),
      h("div", { class: "voxpop-buttons" }, [
        button("fbview", t("fb_view_all"), { class: "voxpop-btn voxpop-secondary", "data-id": ids[0] }),
        button("fbclose", t("close"), { class: "voxpop-btn voxpop-secondary" })
      ])
    ]);
    openPop(box, trigger.getBoundingClientRect(), trigger);
    box.focus();
  }

  function posted(c) {
    closePop();
    if (c.status !== "approved") return announce(t("fb_awaiting"));
    c.replies = [];
    ui.list.prepend(renderComment(c, 0));
    if (!unfresh(c.id)) setTotal(total + 1);
    FB.push(c);
    return Promise.resolve(place()).then(paint).then(function () {
      focus(story.querySelector('button[data-voxpop-ids~="' + c.id + '"]') || ui.fbTab);
      announce(t("fb_sent"));
    });
  }

  function tabs(panel) {
    var list = h("div", { role: "tablist", class: "voxpop-tabs", "aria-label": t("tabs_label") }), panels = [];
    [t("tab_comments"), t("tab_feedback", { count: "…" })].forEach(function (label, i) {
      var id = uid(), pid = uid();
      list.append(h("button", { type: "button", role: "tab", class: "voxpop-tab", id: id, "aria-controls": pid, text: label }));
      panels.push(h("div", { role: "tabpanel", id: pid, "aria-labelledby": id }, i ? [ui.fbList = h("ol", { class: "voxpop-list voxpop-fblist" })] : panel));
    });
    ui.tabs = [].slice.call(list.children);
    ui.panels = panels;
    ui.fbTab = list.lastChild;
    list.addEventListener("click", function (e) { selectTab(ui.tabs.indexOf(e.target)); });
    list.addEventListener("keydown", function (e) { // arrows move between the tabs and select
      var i = ui.tabs.indexOf(e.target), k = e.key, n = ui.tabs.length;
      i = k === "Home" ? 0 : k === "End" ? n - 1 : k === "ArrowRight" ? (i + 1) % n : k === "ArrowLeft" ? (i + n - 1) % n : -1;
      if (i >= 0) { e.preventDefault(); selectTab(i, true); }
    });
    selectTab(0);
    return [list].concat(panels);
  }

  function selectTab(i, move) {
    if (i < 0) return;
    ui.tabs.forEach(function (tab, j) {
      tab.setAttribute("aria-selected", i === j);
      tab.tabIndex = i === j ? 0 : -1;
      ui.panels[j].hidden = i !== j;
    });
    if (move) ui.tabs[i].focus();
  }

  var BUBBLE = '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false"><path d="M4 5h16v11H9l-4 4v-4H4z M12 8v5 M9.5 10.5h5" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/></svg>';

  function inline() {
    // Every paragraph gets a button for feedback on all of it (the way without a mouse).
    story.querySelectorAll("p,li,dd,figcaption").forEach(function (p) {
      if (p.querySelector("p,li") || p.closest("a,button") || !p.textContent.trim()) return;
      var b = h("button", { type: "button", class: "voxpop-pbtn", "data-voxpop-ui": "p", "aria-label": t("fb_para"), title: t("fb_para"), "aria-haspopup": "dialog", "aria-expanded": "false" });
      b.innerHTML = BUBBLE;
      p.prepend(b);
    });
    function margin() { // is there room left of the article for the paragraph buttons?
      var pin = story.getBoundingClientRect().left + scrollX < 40;
      story.querySelectorAll(".voxpop-pbtn").forEach(function (b) { b.classList.toggle("voxpop-pin", pin); });
    }
    margin();
    addEventListener("resize", margin);
    story.addEventListener("click", function (e) {
      var b = e.target.closest("[data-voxpop-ui]"), k = b && b.getAttribute("data-voxpop-ui"), r, mk;
      if (k === "p") {
        r = doc.createRange();
        r.selectNodeContents(b.parentNode);
        feedbackForm(fromRange(r), b);
      } else if (k === "q") {
        var q = QS[b.getAttribute("data-q")];
        feedbackForm(passage(canon(), q.at[0], q.at[1]), b, null, q.question);
      } else if (k === "n") {
        feedbackList(b.getAttribute("data-voxpop-ids").split(" "), b);
      } else if (!b && (mk = e.target.closest("mark.voxpop-hl")) && !e.target.closest("a[href],button") && getSelection().isCollapsed) {
        k = mk.getAttribute("data-voxpop-ids").split(" ");
        feedbackList(k, story.querySelector('[data-voxpop-ui=n][data-voxpop-ids~="' + k[0] + '"]') || mk);
      }
    });
    // A selection inside the article offers "Give feedback" next to it.
    var timer;
    function selected() {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var s = getSelection(), r = s.rangeCount && s.getRangeAt(0), p, rects, b;
        if (ui.pop && ui.pop.form) return; // a form is open: leave it alone
        if (r && !r.collapsed && story.contains(r.commonAncestorContainer) && (p = fromRange(r))) {
          rects = r.getClientRects();
          b = button("fbsel", t("fb_give"), { class: "voxpop-primary voxpop-sel" });
          b.passage = p;
          b.addEventListener("mousedown", function (e) { e.preventDefault(); }); // keep the selection
          openPop(b, rects[rects.length - 1] || r.getBoundingClientRect());
        } else if (ui.pop && !ui.pop.getAttribute("role")) closePop();
      }, 120);
    }
    doc.addEventListener("selectionchange", selected);
    doc.addEventListener("mouseup", selected);
    doc.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && ui.pop) closePop(ui.pop.contains(doc.activeElement));
    });
    doc.addEventListener("mousedown", function (e) {
      if (ui.pop && !ui.pop.form && !ui.pop.contains(e.target)) closePop();
    });
    loadFeedback();
  }

  /* ---- styles ---- */

  var DARK = "color-scheme:dark;--_a:var(--voxpop-accent,#8ab4f8);--_at:var(--voxpop-accent-text,#0b1a33);" +
    "--_t:var(--voxpop-text,#e6edf3);--_m:var(--voxpop-muted,#a2acb8);--_bg:var(--voxpop-bg,#0f1318);" +
    "--_s:var(--voxpop-surface,#181d25);--_b:var(--voxpop-border,#3a424d);--_e:var(--voxpop-danger,#ff9b90)";
  var CSS = [
    ".voxpop{color-scheme:light;--_a:var(--voxpop-accent,#0b57d0);--_at:var(--voxpop-accent-text,#fff);--_t:var(--voxpop-text,#1f2328);" +
      "--_m:var(--voxpop-muted,#57606a);--_bg:var(--voxpop-bg,#fff);--_s:var(--voxpop-surface,#f6f8fa);--_b:var(--voxpop-border,#d0d7de);" +
      "--_e:var(--voxpop-danger,#b42318);--_r:var(--voxpop-radius,8px);--_g:var(--voxpop-gap,1rem);--_av:2.5rem;" +
      "color:var(--_t);background:var(--voxpop-bg);font-family:var(--voxpop-font);font-size:1rem;line-height:1.5;overflow-wrap:anywhere}",
    ".voxpop-dark{" + DARK + "}",
    "@media (prefers-color-scheme:dark){.voxpop-auto{" + DARK + "}}",
    ".voxpop *,.voxpop ::before,.voxpop ::after{box-sizing:border-box}",
    ":where(.voxpop) :where(button,input,select,textarea){font:inherit;color:inherit;margin:0}",
    ".voxpop :focus-visible{outline:3px solid var(--_a);outline-offset:2px}",
    ".voxpop [hidden]{display:none!important}",
    ".voxpop-sr{position:absolute!important;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}",
    ".voxpop-header{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:.5rem 1rem;margin-bottom:var(--_g)}",
    ".voxpop-heading{margin:0;font-size:1.375rem;line-height:1.3}",
    ".voxpop-sort{display:flex;align-items:center;gap:.5rem;font-size:.9375rem;color:var(--_m)}",
    ".voxpop select,.voxpop input,.voxpop textarea{background:var(--_bg);color:var(--_t);border:1px solid var(--_b);border-radius:calc(var(--_r)*.75);padding:.5rem .625rem;width:100%;max-width:100%}",
    ".voxpop select{width:auto;padding:.375rem 2rem .375rem .625rem}",
    ".voxpop textarea{min-height:6rem;resize:vertical;line-height:1.5}",
    ".voxpop [aria-invalid=true]{border-color:var(--_e);box-shadow:0 0 0 1px var(--_e)}",
    ".voxpop-form{display:grid;gap:.75rem;padding:var(--_g);margin:0 0 calc(var(--_g)*1.5);background:var(--_s);border:1px solid var(--_b);border-radius:var(--_r)}",
    ".voxpop-slot .voxpop-form{margin:.5rem 0 .25rem;padding:.75rem}",
    ".voxpop-field{display:grid;gap:.25rem;align-content:start;min-width:0}",
    ".voxpop-field label{font-weight:600;font-size:.9375rem}",
    ".voxpop-opt,.voxpop-hint{font-weight:400;color:var(--_m)}",
    ".voxpop-hint{margin:0;font-size:.8125rem}",
    ".voxpop-fields{display:grid;gap:.75rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,13rem),1fr))}",
    ".voxpop-sub{margin-bottom:.5rem;display:flex;flex-wrap:wrap;align-items:center;gap:.5rem;padding:.5rem .75rem;background:var(--_s);border:1px solid var(--_b);border-radius:var(--_r)}",
    ".voxpop-sub label{font-weight:600}",
    ".voxpop-sub div{display:flex;gap:.5rem;flex:1 1 20rem}",
    ".voxpop-sub input{flex:1;min-width:0}",
    ".voxpop-sub p{flex-basis:100%;margin:0}",
    ".voxpop-sub p:empty{position:absolute}",
    ".voxpop-buttons{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}",
    ".voxpop-primary{background:var(--_a);color:var(--_at);border:1px solid var(--_a);border-radius:var(--_r);padding:.5rem 1.25rem;font-weight:600;cursor:pointer;min-height:2.5rem}",
    ".voxpop-primary:hover{filter:brightness(1.1)}",
    ".voxpop-primary[aria-disabled=true]{opacity:.8;cursor:progress}",
    ".voxpop-btn{display:inline-flex;align-items:center;gap:.3rem;min-height:2rem;padding:.25rem .5rem;background:none;border:1px solid transparent;border-radius:var(--_r);color:var(--_m);font-size:.875rem;font-weight:600;cursor:pointer}",
    ".voxpop-btn:hover{background:var(--_s);color:var(--_t)}",
    ".voxpop-secondary{border-color:var(--_b);color:var(--_t);min-height:2.5rem;padding:.5rem 1rem;font-size:1rem}",
    ".voxpop-vote[aria-pressed=true]{color:var(--_a);background:var(--_s);border-color:var(--_b)}",
    ".voxpop-down svg{transform:rotate(180deg)}",
    ".voxpop-vote::after{content:attr(data-count)}",
    ".voxpop-list{list-style:none;margin:0;padding:0}",
    ".voxpop-list>.voxpop-item{margin:0;padding:0}",
    ".voxpop-thread>.voxpop-item+.voxpop-item{border-top:1px solid var(--_b)}",
    ".voxpop-comment{display:grid;grid-template-columns:var(--_av) minmax(0,1fr);column-gap:.75rem;padding:.875rem 0 .5rem;border-radius:var(--_r)}",
    ".voxpop-comment>*{grid-column:2}",
    ".voxpop-comment>.voxpop-avatar{grid-column:1;grid-row:1/span 4}",
    ".voxpop-avatar{width:var(--_av);height:var(--_av);border-radius:50%;display:grid;place-items:center;background:var(--_m);color:#fff;font-weight:700;font-size:1.05rem}",
    ".voxpop-anon{background:var(--_s);border:1px dashed var(--_b)}",
    ".voxpop-meta{display:flex;flex-wrap:wrap;align-items:baseline;gap:0 .5rem;font-size:.875rem;color:var(--_m)}",
    ".voxpop-meta>a{min-height:1.5rem}",
    ".voxpop-author{font-weight:700;font-size:.9375rem;color:var(--_t)}",
    "a.voxpop-author{text-decoration:underline;text-decoration-color:var(--_b);text-underline-offset:.2em}",
    ".voxpop-time{color:inherit;text-decoration:none}",
    ".voxpop-time:hover,a.voxpop-author:hover{text-decoration:underline}",
    ".voxpop-badge{padding:0 .5rem;border:1px solid var(--_b);border-radius:999px;background:var(--_s);color:var(--_t);font-size:.75rem;font-weight:600}",
    ".voxpop-body{margin:.125rem 0 .25rem}",
    ".voxpop-body>:first-child{margin-top:0}.voxpop-body>:last-child{margin-bottom:0}",
    ".voxpop-body p,.voxpop-body ul,.voxpop-body ol,.voxpop-body pre,.voxpop-body blockquote{margin:0 0 .625rem}",
    ".voxpop-body a{color:var(--_a);text-decoration:underline}",
    ".voxpop-body blockquote{padding-left:.75rem;border-left:3px solid var(--_b);color:var(--_m)}",
    ".voxpop-body pre{padding:.5rem .75rem;white-space:pre-wrap;background:var(--_s);border-radius:calc(var(--_r)*.75)}",
    ".voxpop-body code{font-size:.9em}",
    ".voxpop-deleted .voxpop-body{font-style:italic;color:var(--_m);align-self:center}",
    ".voxpop-pending{padding:.875rem .75rem .5rem;background:var(--_s)}",
    ".voxpop-actions{display:flex;flex-wrap:wrap;align-items:center;gap:.125rem;margin-left:-.5rem}",
    ".voxpop-score{display:inline-flex;align-items:center;gap:.75rem;padding:.25rem .5rem;font-size:.875rem;font-weight:600;color:var(--_m)}",
    ".voxpop-score>span{display:inline-flex;align-items:center;gap:.3rem}",
    ".voxpop-error{margin:0;color:var(--_e);font-weight:600}",
    ".voxpop-error:empty{display:none}",
    ".voxpop-replies{margin-left:calc(var(--_av)/2 - 1px);padding-left:calc(var(--_av)/2 + .25rem);border-left:2px solid var(--_b)}",
    ".voxpop-flat{margin-left:0;padding-left:0;border-left:0}",
    ".voxpop-loading{color:var(--_m)}",
    ".voxpop-more{display:flex;justify-content:center;width:100%;margin-top:var(--_g)}",
    ".voxpop-live{position:sticky;top:calc(var(--voxpop-top,0px) + 1.5rem);z-index:1;height:0;display:flex;justify-content:center}",
    ".voxpop-live>*{transform:translateY(-50%);min-height:2rem;padding:.25rem 1rem;border-radius:999px;box-shadow:0 2px 10px rgba(0,0,0,.3)}",
    ".voxpop-foot{margin-top:var(--_g)}",
    "@keyframes voxpop-flash{from{background:var(--_s)}}",
    ".voxpop-new{animation:voxpop-flash 2.5s ease-out}",
    "@media (prefers-reduced-motion:reduce){.voxpop-new{animation:none}}",
    ".voxpop-rating{margin-bottom:.5rem;padding-bottom:.75rem;border-bottom:1px solid var(--_b)}",
    ".voxpop-rrow{display:flex;flex-wrap:wrap;align-items:center;gap:.25rem .75rem}",
    ".voxpop-rbtns{margin-left:-.5rem;gap:.25rem}",
    ".voxpop-rlabel{font-weight:600}",
    ".voxpop-stars{display:flex}",
    ".voxpop-star{display:grid;place-items:center;width:2rem;height:2rem;border-radius:6px}",
    ".voxpop-star:focus-visible{outline-offset:-1px}",
    ".voxpop-star svg{width:1.5rem;height:1.5rem;fill:none;stroke:var(--_m);stroke-width:1.6;stroke-linejoin:round}",
    ".voxpop-on svg,.voxpop-stars:not([aria-readonly=true]):hover svg{fill:var(--_a);stroke:var(--_a)}",
    ".voxpop-stars:not([aria-readonly=true]) .voxpop-star:hover~* svg{fill:none;stroke:var(--_m)}",
    ".voxpop-stars:not([aria-readonly=true]) .voxpop-star{cursor:pointer}",
    ".voxpop-rsum,.voxpop-rmsg{margin:0;color:var(--_m);font-size:.9375rem}",
    ".voxpop-ravg{font-weight:700;color:var(--_t)}",
    ".voxpop-rdist[aria-expanded=false] svg{transform:rotate(180deg)}",
    ".voxpop-rerr{color:var(--_e);font-weight:600}",
    ".voxpop-dist{list-style:none;margin:.5rem 0 0;padding:0;max-width:24rem;font-size:.875rem}",
    ".voxpop-dist li{display:grid;grid-template-columns:5em 1fr 2em;align-items:center;gap:.5rem}",
    ".voxpop-rbar{height:.5rem;border:1px solid var(--_b);border-radius:9px;background:var(--_s);overflow:hidden}",
    ".voxpop-rbar>span{display:block;height:100%;background:var(--_a)}",
    ".voxpop-tabs{display:flex;flex-wrap:wrap;gap:.25rem;margin:0 0 var(--_g);border-bottom:1px solid var(--_b)}",
    ".voxpop-tab{padding:.5rem .875rem;background:none;border:0;border-bottom:3px solid transparent;color:var(--_m);font-weight:600;cursor:pointer}",
    ".voxpop-tab[aria-selected=true]{color:var(--_t);border-bottom-color:var(--_a)}",
    ".voxpop-fbi{padding:.75rem 0;border-top:1px solid var(--_b)}",
    ".voxpop-fbi:first-child{border-top:0}",
    ".voxpop-fbi .voxpop-meta{margin:.25rem 0 0}",
    ".voxpop-on{margin:.25rem 0}",
    ".voxpop-quote{margin:0;padding:.125rem 0 .125rem .75rem;border-left:3px solid var(--_a);font-style:italic}",
    ".voxpop-changed{margin:0 0 .25rem;color:var(--_m);font-size:.8125rem;font-weight:600}",
    ".voxpop-pop{position:absolute;z-index:2147483000;display:grid;gap:.5rem;width:min(24rem,calc(100vw - 1rem));max-height:70vh;overflow:auto;padding:.75rem;" +
      "background:var(--_bg);border:1px solid var(--_b);border-radius:var(--_r);box-shadow:0 6px 24px rgba(0,0,0,.25)}",
    ".voxpop-pop .voxpop-form{margin:0;padding:0;border:0;background:none}",
    ".voxpop-ptitle{margin:0;font-weight:700}",
    ".voxpop-pop:focus{outline:0}",
    ".voxpop-plist{list-style:none;margin:0;padding:0;display:grid;gap:.5rem}",
    ".voxpop-sel{position:absolute;z-index:2147483000;min-height:2.25rem;padding:.25rem .875rem;box-shadow:0 3px 12px rgba(0,0,0,.25)}",
    // in the article (outside the container): theme with --voxpop-accent and --voxpop-highlight on the article
    "mark.voxpop-m{color:inherit;padding:0}",
    "mark.voxpop-q{background:rgba(37,99,235,.14);border-bottom:2px dotted var(--voxpop-accent,#2563eb)}",
    "mark.voxpop-hl{background:var(--voxpop-highlight,rgba(250,204,21,.4));border-bottom:2px solid rgba(202,138,4,.85);cursor:pointer}",
    ".voxpop-flash{animation:voxpop-ring 2s ease-out}",
    "@keyframes voxpop-ring{0%,50%{box-shadow:0 0 0 4px var(--voxpop-accent,#0b57d0)}}",
    "@media (prefers-reduced-motion:reduce){.voxpop-flash{animation:none;outline:3px solid var(--voxpop-accent,#0b57d0)}}",
    ".voxpop-cnt,.voxpop-pbtn,.voxpop-qbtn{font:600 .8125rem/1.2 system-ui,sans-serif;cursor:pointer;margin:0 .2em;vertical-align:.1em}",
    ".voxpop-cnt{display:inline-grid;place-items:center;min-width:1.5rem;height:1.5rem;padding:0 .4em;border:0;border-radius:999px;background:var(--voxpop-accent,#0b57d0);color:#fff}",
    // out of the text's flow in the left margin, or (no room there) at the paragraph's top right
    ".voxpop-pbtn{position:absolute;display:inline-grid;place-items:center;width:1.75rem;height:1.5rem;margin:0 0 0 -2.25rem;padding:0;border:1px solid;border-radius:6px;background:none;color:inherit;opacity:0}",
    ".voxpop-pin{position:static;float:right;margin:0 0 0 .5rem}",
    ":hover>.voxpop-pbtn{opacity:.6}",
    ".voxpop-pbtn:focus,.voxpop-pbtn:hover,.voxpop-pbtn[aria-expanded=true]{opacity:1}",
    "@media (hover:none){.voxpop-pbtn{opacity:.6}}",
    ".voxpop-qbtn{display:flex;margin:.5rem 0 0;padding:.375rem .75rem;border:1px dashed;border-radius:8px;background:none;color:inherit;font-size:.9375rem;text-align:start}",
    "mark[data-voxpop-question] .voxpop-q{background:none}",
    ".voxpop-qbtn:hover{border-style:solid}",
    ":is(.voxpop-cnt,.voxpop-pbtn,.voxpop-qbtn):focus-visible{outline:3px solid var(--voxpop-accent,#0b57d0);outline-offset:2px;opacity:1}",
    "@media (max-width:30rem){.voxpop{--_av:2rem}.voxpop-replies{margin-left:.25rem;padding-left:.625rem}.voxpop-comment{column-gap:.5rem}.voxpop-form{padding:.75rem}.voxpop-comment>.voxpop-slot{grid-column:1/-1}}"
  ].join("\n");

  /* ---- the widget ---- */

  function build(conf) {
    if (!doc.getElementById("voxpop-style")) {
      doc.head.prepend(h("style", { id: "voxpop-style", text: CSS }));
    }
    var theme = cfg.theme;
    if (!theme) {
      var meta = doc.querySelector('meta[name="color-scheme"]');
      theme = /dark/.test(getComputedStyle(doc.documentElement).colorScheme + (meta ? meta.content : "")) ? "auto" : "light";
    }
    root.textContent = ""; // the noscript link or a server-rendered fragment
    root.classList.add("voxpop", "voxpop-" + theme);
    root.lang = lang;

    ui.count = h("span", { class: "voxpop-count", "aria-live": "polite", "aria-atomic": "true", text: t("title") });
    ui.heading = h("h2", { class: "voxpop-heading", id: "voxpop-heading" }, [ui.count]);
    var sortId = uid();
    ui.sort = h("select", { id: sortId, class: "voxpop-sort-select", name: "sort" }, ["best", "new", "old"].map(function (s) {
      return h("option", { value: s, text: t("sort_" + s), selected: s === cfg.sort });
    }));
    ui.status = h("div", { class: "voxpop-sr voxpop-status", role: "status", "aria-live": "polite" });
    ui.list = h("ol", { class: "voxpop-list voxpop-thread" });
    ui.loading = h("p", { class: "voxpop-loading", text: t("loading") });
    ui.more = button("more", t("load_more"), { class: "voxpop-btn voxpop-secondary voxpop-more", hidden: true });
    ui.foot = h("div", { class: "voxpop-foot" });

    // With an article on the page, the thread gets a second tab: its inline feedback.
    ui.live = h("div", { class: "voxpop-live", "aria-live": "polite" });
    var body = [makeForm("new", null), ratingBox(), cfg.notify && subscribeBox(), ui.live, ui.list, ui.loading, ui.more, ui.foot];
    story = cfg.article && doc.querySelector(cfg.article);
    root.append(h("section", { class: "voxpop-section", "aria-labelledby": "voxpop-heading" }, [
      h("div", { class: "voxpop-header" }, [
        ui.heading,
        h("div", { class: "voxpop-sort" }, [h("label", { for: sortId, text: t("sort_label") }), ui.sort])
      ]),
      ui.status
    ].concat(story ? tabs(body) : body)));

    ui.sort.addEventListener("change", function () {
      cfg.sort = ui.sort.value;
      loadThread(false);
    });

    root.addEventListener("click", function (e) {
      var b = e.target.closest("button[data-act]");
      if (!b || !root.contains(b)) return;
      var act = b.getAttribute("data-act"), art = b.closest(".voxpop-comment"), st = art && S[art.getAttribute("data-id")];
      if (act === "more") loadThread(true);
      else if (act === "live") showNew();
      else if (act === "retry") loadThread(!!cursor && ui.list.children.length > 0);
      else if (act === "rdist") {
        b.setAttribute("aria-expanded", ui.r.dist.hidden);
        ui.r.dist.hidden = !ui.r.dist.hidden;
      } else if (act === "unrate") {
        rate(null);
        ui.r.stars.querySelector("[tabindex='0']").focus();
      } else if (act === "fbsel") feedbackForm(b.passage, null, b.getBoundingClientRect());
      else if (act === "fbclose") closePop(true);
      else if (act === "fbshow") show(b.getAttribute("data-id"));
      else if (act === "fbview") {
        closePop();
        selectTab(1);
        var item = doc.getElementById("voxpop-f" + b.getAttribute("data-id"));
        item.scrollIntoView({ block: "nearest", behavior: calm() ? "auto" : "smooth" });
        focus(item);
      } else if (!st) return;
      else if (act === "vote") vote(st, +b.getAttribute("data-value"));
      else if (act === "reply" && st.kind === "reply" && st.form) closeForm(st, true);
      else if (act === "reply") openForm(st, "reply", b);
      else if (act === "report") st.form && st.kind === act ? closeForm(st, true) : openForm(st, act, b);
      else if (act === "edit") openForm(st, "edit", b);
      else if (act === "delete") remove(st);
      else if (act === "cancel") closeForm(st, true);
    });

    root.addEventListener("keydown", function (e) {
      var form = e.target.closest && e.target.closest(".voxpop-form");
      if (!form) return;
      if (e.key === "Escape") {
        var art = form.closest(".voxpop-comment");
        if (art) { e.preventDefault(); closeForm(S[art.getAttribute("data-id")], true); }
      } else if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.target.name === "body") {
        e.preventDefault();
        form.querySelector(".voxpop-submit").click();
      }
    });

    // Keep "5 minutes ago" true, and hide Edit/Delete once the edit window has closed.
    setInterval(function () {
      if (!root.isConnected) stop();
      root.querySelectorAll("time[datetime]").forEach(function (el) { el.textContent = ago(el.getAttribute("datetime")); });
      Object.keys(S).forEach(function (id) {
        var st = S[id];
        if (until[id] && !canChange(id) && !st.form && st.act && st.act.querySelector(".voxpop-edit")) {
          st.act.replaceWith(st.act = actions(st));
        }
      });
    }, 30000);

    window.voxpop.reload = function () { loadRating(conf); if (story) loadFeedback(); return loadThread(false); };
    if (story) inline();
    loadRating(conf); // in parallel with the thread
    loadThread(false).then(function () { started = 1; live(); });
    doc.addEventListener("visibilitychange", function () {
      clearTimeout(idle);
      if (doc.hidden) idle = setTimeout(stop, 60000); else live();
    });
    addEventListener("pagehide", stop);
    addEventListener("pageshow", live);
  }

  function start() {
    lang = pick(cfg.lang) || pick(doc.documentElement.lang);
    // The site's configuration: its language (when the page names none) and its ratings.
    var conf = lang && !doc.querySelector(cfg.target) ? null :
      api("GET", "config", { site: cfg.site }).catch(function () { return {}; });
    (lang ? Promise.resolve() : conf.then(function (c) { lang = pick(c.language); })).then(function () {
      lang = lang || "en";
      plural = new Intl.PluralRules(lang);
      numbers = new Intl.NumberFormat(lang);
      decimal = new Intl.NumberFormat(lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
      relative = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
      dates = new Intl.DateTimeFormat(lang, { dateStyle: "medium" });
      counts();
      root = doc.querySelector(cfg.target);
      if (root) build(conf || {});
    });
  }

  if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", start);
  else start();
})();
