/*!
 * userdeck SDK — collects user profiles from a customer's web app.
 *
 * Install on the customer's page:
 *
 *   <script>
 *     window.userdeck = window.userdeck || [];
 *     window.USERDECK_KEY = "<sdk_key>";
 *   </script>
 *   <script async src="https://YOUR-USERDECK/sdk.js"></script>
 *
 * Then push commands, before or after this script has loaded:
 *
 *   userdeck.push(["do", "identify", [userId, callback?, {userHash}?]]);
 *   userdeck.push(["set", "user:attributes", [{plan: "Pro"}, {removeUnspecified: true}]]);
 *   userdeck.push(["set", "user:name" | "user:email" | "user:language", [value]]);
 *   userdeck.push(["get", "user:attributes" | "user:id" | "user:segments", [callback]]);
 *   userdeck.push(["do", "personalize", [template, callback | element | "css selector"]]);
 *   userdeck.push(["do", "reset", []]);
 *
 * Plain ES2017, no dependencies, no build step: this file is served as is.
 * It never writes into the page (no DOM, no innerHTML), so nothing the
 * server answers can inject markup.
 */
(function () {
  "use strict";

  if (typeof window === "undefined") return;

  // Loaded twice (two snippets on one page)? The first copy owns the queue;
  // a second one would send a second visit and run nothing new.
  if (window.userdeck && window.userdeck.__userdeck === true) return;

  var VERSION = "1";
  var STORAGE_KEY = "userdeck:jimer_id";
  var JIMER_ID_RE = /^j_[A-Za-z0-9]{8,64}$/;
  var ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  var MAX_RETRIES = 3; // for 429 answers
  // Browsers refuse keepalive requests whose bodies add up to more than 64 KiB;
  // bigger bodies go without keepalive rather than fail.
  var KEEPALIVE_LIMIT = 60000;

  var COMMANDS = [
    "do identify",
    "do reset",
    "do personalize",
    "set user:attributes",
    "set user:name",
    "set user:email",
    "set user:language",
    "get user:attributes",
    "get user:id",
    "get user:segments",
  ];

  // --- where the server is -------------------------------------------------

  // document.currentScript is only set while this file first runs, so the
  // base URL is worked out now, not inside a later callback.
  function baseUrl() {
    if (typeof window.USERDECK_URL === "string" && window.USERDECK_URL) {
      return window.USERDECK_URL.replace(/\/+$/, "");
    }
    var script = document.currentScript;
    var src = script && script.src;
    if (!src) {
      // Fallback for odd loaders that run us without currentScript: the last
      // script tag whose src ends in /sdk.js.
      var tags = document.getElementsByTagName("script");
      for (var i = tags.length - 1; i >= 0; i--) {
        if (/\/sdk\.js(?:[?#].*)?$/.test(tags[i].src || "")) {
          src = tags[i].src;
          break;
        }
      }
    }
    try {
      return new URL(src, window.location.href).origin;
    } catch (e) {
      // Same origin as the page: the best guess when nothing else is known.
      return "";
    }
  }
  var BASE = baseUrl();

  // --- logging ---------------------------------------------------------------

  function warn() {
    if (window.console && console.warn) {
      console.warn.apply(console, ["[userdeck]"].concat([].slice.call(arguments)));
    }
  }
  function logError() {
    if (window.console && console.error) {
      console.error.apply(console, ["[userdeck]"].concat([].slice.call(arguments)));
    }
  }

  // --- the anonymous visitor id ("jimer id") --------------------------------

  // localStorage can throw (Safari private mode, storage disabled, sandboxed
  // iframes); then the id lives in memory for this page view only.
  var memoryJimerId = null;

  function storageGet() {
    try {
      return window.localStorage.getItem(STORAGE_KEY);
    } catch (e) {
      return memoryJimerId;
    }
  }
  function storageSet(value) {
    memoryJimerId = value;
    try {
      if (value === null) window.localStorage.removeItem(STORAGE_KEY);
      else window.localStorage.setItem(STORAGE_KEY, value);
    } catch (e) {
      /* memory fallback already holds it */
    }
  }

  // "j_" + 22 characters of [A-Za-z0-9] from the browser's CSPRNG: 22 * log2(62)
  // ≈ 131 bits, so ids never collide in practice and cannot be guessed.
  function newJimerId() {
    var out = "j_";
    var bytes = new Uint8Array(32);
    while (out.length < 24) {
      window.crypto.getRandomValues(bytes);
      for (var i = 0; i < bytes.length && out.length < 24; i++) {
        // 248 = 4 * 62: dropping bytes at or above it keeps every character
        // equally likely (no modulo bias).
        if (bytes[i] < 248) out += ALPHABET.charAt(bytes[i] % 62);
      }
    }
    return out;
  }

  var jimerId = storageGet();
  if (!jimerId || !JIMER_ID_RE.test(jimerId)) {
    // Missing or tampered with: start a fresh anonymous visitor.
    jimerId = newJimerId();
    storageSet(jimerId);
  } else {
    memoryJimerId = jimerId;
  }
  // The customer's own id for this visitor, learnt from visit and identify.
  var userId = null;

  function adoptJimerId(id) {
    // The server may answer with another jimer id than we sent (identify of a
    // user who already has a profile folds this visitor into it); from then on
    // that one is ours.
    if (typeof id === "string" && JIMER_ID_RE.test(id) && id !== jimerId) {
      jimerId = id;
      storageSet(id);
    }
  }

  // --- HTTP ------------------------------------------------------------------

  function sleep(ms) {
    return new Promise(function (resolve) {
      setTimeout(resolve, ms);
    });
  }

  // Retry-After is seconds or an HTTP date; anything else means 1 second.
  // The server must list it in Access-Control-Expose-Headers for a
  // cross-origin page to see it; without that we also wait 1 second.
  function retryAfterMs(response) {
    var value = response.headers.get("Retry-After");
    var ms = 1000;
    if (value) {
      var seconds = Number(value);
      if (isFinite(seconds) && seconds >= 0) ms = seconds * 1000;
      else if (!isNaN(Date.parse(value))) ms = Math.max(0, Date.parse(value) - Date.now());
    }
    return Math.min(ms, 60000);
  }

  function byteLength(text) {
    return typeof TextEncoder === "function" ? new TextEncoder().encode(text).length : text.length * 3;
  }

  function apiError(code, message, status) {
    var error = new Error(message);
    error.code = code;
    if (status) error.status = status;
    return error;
  }

  // POST a JSON body to the server and resolve with the parsed answer, or
  // reject with an Error carrying the server's message and `.code`.
  async function post(path, body) {
    var key = window.USERDECK_KEY;
    if (typeof key !== "string" || !key) {
      throw apiError("missing_key", "window.USERDECK_KEY is not set: set it to your workspace's SDK key before loading sdk.js");
    }
    var payload = JSON.stringify(Object.assign({}, body, { key: key, jimer_id: jimerId }));
    var init = {
      method: "POST",
      body: payload,
      // text/plain keeps the request a CORS "simple request": no preflight
      // round trip before each call. The server parses the body as JSON anyway.
      headers: { "Content-Type": "text/plain;charset=UTF-8" },
      // keepalive lets the last update of a page still arrive when the user
      // navigates away right after it.
      keepalive: byteLength(payload) <= KEEPALIVE_LIMIT,
      // The key in the body identifies the workspace; cookies of the
      // userdeck origin have nothing to add and would need stricter CORS.
      credentials: "omit",
    };

    for (var attempt = 0; ; attempt++) {
      var response;
      try {
        response = await fetch(BASE + path, init);
      } catch (e) {
        throw apiError("network_error", "userdeck could not be reached at " + BASE + path + ": " + (e && e.message ? e.message : e));
      }
      if (response.status === 429 && attempt < MAX_RETRIES) {
        await sleep(retryAfterMs(response));
        continue;
      }
      var data = null;
      try {
        data = await response.json();
      } catch (e) {
        data = null;
      }
      if (response.ok) return data || {};
      var err = data && data.error;
      if (err && typeof err.message === "string") {
        throw apiError(err.code || "http_" + response.status, err.message, response.status);
      }
      throw apiError("http_" + response.status, "userdeck answered HTTP " + response.status + " to " + path, response.status);
    }
  }

  // --- commands --------------------------------------------------------------

  // A customer's callback must never break the queue: call it, catch, report.
  function callBack(fn, args, name) {
    if (typeof fn !== "function") return;
    try {
      fn.apply(null, args);
    } catch (e) {
      logError("the callback of " + name + " threw:", e);
    }
  }

  function isPlainObject(v) {
    return v !== null && typeof v === "object" && !Array.isArray(v);
  }

  // Every failed request is reported once on the console (warn: it is the
  // customer's data or setup, not a bug in their page) and handed to the
  // callback, if any, as the second argument.
  function failed(name, error, callback, args) {
    warn(name + " failed: " + error.message + (error.code ? " (" + error.code + ")" : ""));
    callBack(callback, args || [null, error], name);
  }

  async function visit() {
    try {
      var data = await post("/sdk/v1/visit", {});
      adoptJimerId(data.jimer_id);
      userId = typeof data.user_id === "string" ? data.user_id : null;
    } catch (e) {
      failed("visit", e);
    }
  }

  async function identify(args) {
    var id = args[0];
    var callback = null;
    var options = {};
    // [userId, callback?, options?] or [userId, options]
    if (typeof args[1] === "function") {
      callback = args[1];
      if (isPlainObject(args[2])) options = args[2];
    } else if (isPlainObject(args[1])) {
      options = args[1];
    }
    if (typeof id === "number" && isFinite(id)) id = String(id);
    if (typeof id !== "string" || !id) {
      return failed("identify", apiError("invalid_user_id", "identify needs a user id (a non-empty string), got " + JSON.stringify(id)), callback);
    }
    var body = { user_id: id };
    if (options.userHash !== undefined && options.userHash !== null) body.user_hash = String(options.userHash);
    try {
      var data = await post("/sdk/v1/identify", body);
      adoptJimerId(data.jimer_id);
      userId = typeof data.user_id === "string" ? data.user_id : id;
      callBack(callback, [{ jimer_id: jimerId, user_id: userId }, null], "identify");
    } catch (e) {
      failed("identify", e, callback);
    }
  }

  async function setAttributes(args) {
    var attrs = args[0];
    var removeUnspecified = false;
    // refetchBoosted is accepted in both forms and ignored: it asks to reload
    // content targeted by attributes ("boosted" experiences), and this version
    // serves no such content yet. Accepting it keeps installs written for
    // tools with that option working unchanged.
    if (isPlainObject(args[1])) {
      removeUnspecified = args[1].removeUnspecified === true;
    } else {
      removeUnspecified = args[2] === true; // [attrs, refetchBoosted, removeUnspecified]
    }
    if (!isPlainObject(attrs)) {
      return failed("set user:attributes", apiError("invalid_attributes", "user:attributes needs an object of {name: value}, got " + JSON.stringify(attrs)));
    }
    var body = { attributes: attrs };
    if (removeUnspecified) body.remove_unspecified = true;
    try {
      await post("/sdk/v1/update", body);
    } catch (e) {
      failed("set user:attributes", e);
    }
  }

  async function setNative(field, args) {
    var body = {};
    body[field] = args[0];
    try {
      await post("/sdk/v1/update", body);
    } catch (e) {
      failed("set user:" + field, e);
    }
  }

  async function getAttributes(args) {
    var callback = args[0];
    try {
      var data = await post("/sdk/v1/me", {});
      adoptJimerId(data.jimer_id);
      if (data.user_id !== undefined) userId = typeof data.user_id === "string" ? data.user_id : null;
      callBack(callback, [data.attributes || {}, null], "get user:attributes");
    } catch (e) {
      failed("get user:attributes", e, callback);
    }
  }

  // The callback gets [{id, name}, ...]: the segments the visitor is in now.
  async function getSegments(args) {
    var callback = args[0];
    try {
      var data = await post("/sdk/v1/segments", {});
      callBack(callback, [Array.isArray(data.segments) ? data.segments : data, null], "get user:segments");
    } catch (e) {
      failed("get user:segments", e, callback);
    }
  }

  // `target` is a callback (gets {text, missing, unknown}), or an element or
  // a CSS selector whose text becomes the result. The result is text, never
  // markup: it is inserted with textContent, so a value holding "<script>"
  // shows as those characters.
  async function personalize(args) {
    var template = args[0];
    var target = args[1];
    var callback = typeof target === "function" ? target : null;
    if (typeof template !== "string") {
      return failed("personalize", apiError("invalid_template", "personalize needs a template string, got " + JSON.stringify(template)), callback);
    }
    try {
      var data = await post("/sdk/v1/personalize", { template: template });
      var el = typeof target === "string" ? document.querySelector(target) : target;
      if (el && typeof el === "object" && "textContent" in el) el.textContent = data.text;
      callBack(callback, [data, null], "personalize");
    } catch (e) {
      failed("personalize", e, callback);
    }
  }

  async function reset() {
    // Logout: the next visitor on this browser must not inherit this profile.
    userId = null;
    jimerId = newJimerId();
    storageSet(jimerId);
    await visit();
  }

  async function run(command) {
    if (!Array.isArray(command) || typeof command[0] !== "string" || typeof command[1] !== "string") {
      warn("ignored a command that is not [verb, name, args]:", command, "Valid commands: " + COMMANDS.join(", "));
      return;
    }
    var args = Array.isArray(command[2]) ? command[2] : command[2] === undefined ? [] : [command[2]];
    var name = command[0] + " " + command[1];
    switch (name) {
      case "do identify":
        return identify(args);
      case "do reset":
        return reset();
      case "do personalize":
        return personalize(args);
      case "set user:attributes":
        return setAttributes(args);
      case "set user:name":
        return setNative("name", args);
      case "set user:email":
        return setNative("email", args);
      case "set user:language":
        return setNative("language", args);
      case "get user:attributes":
        return getAttributes(args);
      case "get user:segments":
        return getSegments(args);
      case "get user:id":
        // Known from the last visit or identify, which ran before this command.
        return callBack(args[0], [userId], "get user:id");
      default:
        warn('unknown command "' + name + '" ignored. Valid commands: ' + COMMANDS.join(", "));
    }
  }

  // --- the queue -------------------------------------------------------------

  // One promise chain: each command starts when the previous one (and its
  // request) has finished, so "identify then set attributes" always lands on
  // the identified profile. Errors are caught per command, so one bad command
  // never stops the ones after it.
  var chain = Promise.resolve();
  function enqueue(command) {
    chain = chain
      .then(function () {
        return run(command);
      })
      .catch(function (e) {
        logError("command failed unexpectedly:", e);
      });
  }

  var queued = Array.isArray(window.userdeck) ? window.userdeck.slice() : [];

  window.userdeck = {
    __userdeck: true,
    version: VERSION,
    // Same shape as Array.prototype.push so the install snippet's
    // `userdeck.push(...)` works before and after load.
    push: function () {
      for (var i = 0; i < arguments.length; i++) enqueue(arguments[i]);
    },
  };

  // Every page load reports a visit first; the server turns it into a new
  // session only after 30 minutes of inactivity.
  chain = chain.then(visit);
  for (var i = 0; i < queued.length; i++) enqueue(queued[i]);
})();
