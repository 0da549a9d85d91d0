// fundtrail workbench: what every page's scripts share (no inline script anywhere: the CSP forbids it).
// window.ft.t(id, values) translates a message id with the page's catalogue (the same catalogue the
// server renders with); window.ft.api(path, options) calls the REST API with the session cookie and
// the CSRF header, and throws an Error carrying the API's one-line message.
(function () {
  "use strict";
  function readJSON(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : {};
  }
  var messages = readJSON("ft-messages");
  var page = readJSON("ft-page");
  function t(id, values) {
    var text = Object.prototype.hasOwnProperty.call(messages, id) ? messages[id] : id;
    if (values) {
      Object.keys(values).forEach(function (k) { text = text.split("{" + k + "}").join(String(values[k])); });
    }
    return text;
  }
  function api(path, options) {
    options = options || {};
    var headers = Object.assign({"Accept": "application/json"}, options.headers || {});
    var method = (options.method || "GET").toUpperCase();
    if (method !== "GET" && method !== "HEAD") {
      headers["X-CSRF-Token"] = page.csrf;
      if (options.body !== undefined && typeof options.body !== "string") {
        headers["Content-Type"] = "application/json";
        options = Object.assign({}, options, {body: JSON.stringify(options.body)});
      }
    }
    return fetch(path, Object.assign({}, options, {method: method, headers: headers, credentials: "same-origin"}))
      .then(function (response) {
        return response.text().then(function (text) {
          var doc = null;
          try { doc = text ? JSON.parse(text) : null; } catch (e) { doc = null; }
          if (!response.ok) {
            var err = doc && doc.error ? doc.error : {message: response.status + " " + response.statusText};
            var error = new Error(err.message || String(response.status));
            error.status = response.status;
            error.field = err.field || null;
            error.code = err.code || null;
            throw error;
          }
          return doc;
        });
      });
  }
  function formatAmount(baseUnits, decimals, symbol) {
    // exact: a decimal string of base units shifted by `decimals`, grouped by the page's locale
    var s = String(baseUnits || "0"), neg = s.charAt(0) === "-";
    if (neg) { s = s.slice(1); }
    decimals = decimals || 0;
    while (s.length <= decimals) { s = "0" + s; }
    var whole = s.slice(0, s.length - decimals), frac = decimals ? s.slice(s.length - decimals) : "";
    frac = frac.replace(/0+$/, "");
    while (frac.length < Math.min(2, decimals)) { frac += "0"; }
    var grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (neg ? "-" : "") + grouped + (frac ? "." + frac : "") + (symbol ? " " + symbol : "");
  }
  function formatTime(iso) {
    if (!iso) { return ""; }
    var d = new Date(iso);
    try {
      var parts = new Intl.DateTimeFormat(page.lang === "zh_CN" ? "zh-CN" : "en-GB", {
        timeZone: page.tz || "UTC", year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
      }).formatToParts(d);
      var get = function (type) { var p = parts.find(function (x) { return x.type === type; }); return p ? p.value : ""; };
      return get("year") + "-" + get("month") + "-" + get("day") + " " + get("hour") + ":" + get("minute") + ":" +
        get("second") + " " + (page.tz || "UTC");
    } catch (e) {
      return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
    }
  }
  // Times are shown in the browser's time zone: on the first visit the zone is remembered in a cookie
  // (`ft_tz`, read by the server), and a page already rendered in another zone is shown again once.
  function rememberTimeZone() {
    var zone;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { zone = null; }
    if (!zone || /(^|;\s*)ft_tz=/.test(document.cookie)) { return; }
    document.cookie = "ft_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=strict" +
      (location.protocol === "https:" ? "; secure" : "");
    if (page.tz && page.tz !== zone && !document.body.classList.contains("login")) { location.reload(); }
  }
  rememberTimeZone();
  window.ft = {t: t, api: api, page: page, formatAmount: formatAmount, formatTime: formatTime};
})();
