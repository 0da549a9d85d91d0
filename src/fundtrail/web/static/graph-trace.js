// fundtrail graph canvas, part 4 of 6: the trace overlay (investigators).
//
// `G.overlayTrace(policy)` runs `POST /api/v1/graph/trace` from the selected address or
// transaction (else the start node), merges the flows the trace followed into the canvas (new
// nodes in columns by distance from the seed), draws each edge's width by the traced amount (log
// scale), marks the endpoints by why the trace stopped and lists the services reached: where to
// send a freeze request, with the exact traced amount. Removing the overlay keeps the nodes.
(function () {
  "use strict";
  var ft = window.ft, t = ft.t, G = ft.graph, h = G.h;

  var GROUP = {service: "service", unspent: "unspent", hop_limit: "limit", threshold: "limit", time_limit: "limit",
               truncated: "limit", coinbase: "other", unresolved: "other"};
  var PRIORITY = ["service", "limit", "unspent", "other"];
  G.reasonGroup = function (reason) { return GROUP[reason] || "other"; };
  G.reasonLabel = function (reason) {
    var labels = {service: t("stopped at a service"), unspent: t("still unspent"), hop_limit: t("hop limit reached"),
                  threshold: t("below the minimum value"), time_limit: t("outside the time window"),
                  truncated: t("trace cut at its size limit"), coinbase: t("reached a coinbase"),
                  unresolved: t("funded from outside the store")};
    return labels[reason] || reason;
  };

  function seedsOfSelection() {
    var pick = function (id) {
      var n = id ? G.nodes.get(id) : null;
      if (!n) { return null; }
      return n.kind === "address" ? n.address : n.kind === "tx" ? n.txid : null;
    };
    var seed = pick(G.selected) || pick(G.config.start);
    return seed ? [seed] : [];
  }

  G.applyTraceMarks = function () {
    var cy = G.cy, legend = document.getElementById("g-legend-trace"), clear = document.getElementById("g-clear-trace");
    cy.batch(function () {
      cy.nodes().removeClass("ep-service ep-unspent ep-limit ep-other seed");
      if (!G.trace) { return; }
      Object.keys(G.trace.byNode || {}).forEach(function (id) {
        var groups = G.trace.byNode[id].map(function (ep) { return G.reasonGroup(ep.reason); });
        var best = PRIORITY.filter(function (g) { return groups.indexOf(g) >= 0; })[0] || "other";
        cy.getElementById(id).addClass("ep-" + best);
      });
      (G.trace.seeds || []).forEach(function (id) { cy.getElementById(id).addClass("seed"); });
    });
    if (legend) { legend.hidden = !G.trace; }
    if (clear) { clear.disabled = !G.trace; }
    G.renderTrace();
  };

  function byNode(endpoints) {
    var out = {};
    endpoints.forEach(function (ep) { if (ep.node) { (out[ep.node] = out[ep.node] || []).push(ep); } });
    return out;
  }

  function taintMaxOf() {
    var max = 0n;
    G.edges.forEach(function (e) { if (e.tainted) { var v = G.big(e.tainted); if (v > max) { max = v; } } });
    return max > 0n ? max.toString() : null;
  }

  // The trace graph `tg` onto the canvas (replacing any earlier overlay); undoable.
  G.applyTrace = function (tg) {
    var before = {trace: G.trace, tainted: new Map(), max: G.taintMax};
    G.edges.forEach(function (e, id) { if (e.tainted) { before.tainted.set(id, e.tainted); e.tainted = null; } });
    var onCanvas = tg.seeds.filter(function (s) { return G.nodes.has(s); });
    var added = G.merge(tg, G.placeLayered(onCanvas.length ? onCanvas : tg.seeds, tg));
    var endpoints = tg.endpoints.map(function (ep) {
      return {node: ep.node, address: ep.address, reason: ep.reason, label: ep.label, category: ep.category,
              tainted: ep.tainted, asset: ep.asset, decimals: ep.decimals, hops: ep.hops};
    });
    G.trace = {policy: tg.policy, direction: tg.direction, seeds: tg.seeds, services: tg.services, endpoints: endpoints,
               byNode: byNode(endpoints), warnings: tg.warnings, truncated: tg.truncated};
    G.taintMax = taintMaxOf();
    G.pushUndo(t("trace overlay"), function () {
      G.removeRaw(added.nodes, added.edges);
      G.edges.forEach(function (e, id) { e.tainted = before.tainted.has(id) ? before.tainted.get(id) : null; });
      G.trace = before.trace;
      G.taintMax = before.max;
      G.applyTraceMarks();
    });
    G.refresh();
    G.applyTraceMarks();
    G.emit("merged");
    G.emit("changed");
    return added;
  };

  // Remove the overlay's widths, marks and list (the nodes it brought stay); undoable.
  G.clearTrace = function () {
    if (!G.trace) { return; }
    var before = {trace: G.trace, tainted: new Map(), max: G.taintMax};
    G.edges.forEach(function (e, id) { if (e.tainted) { before.tainted.set(id, e.tainted); e.tainted = null; } });
    G.trace = null;
    G.taintMax = null;
    G.pushUndo(t("remove the trace overlay"), function () {
      before.tainted.forEach(function (v, id) { if (G.edges.has(id)) { G.edges.get(id).tainted = v; } });
      G.trace = before.trace;
      G.taintMax = before.max;
      G.applyTraceMarks();
    });
    G.refresh();
    G.applyTraceMarks();
    G.emit("changed");
  };

  // Run a trace (`options`: more fields of the trace request, e.g. from a trace link) and overlay it.
  G.overlayTrace = function (policy, options) {
    options = Object.assign({}, options || {});
    if (!G.config.canTrace) { return Promise.reject(new Error(t("Your role may not run traces."))); }
    var seeds = options.seeds && options.seeds.length ? options.seeds : seedsOfSelection();
    if (!seeds.length) { return Promise.reject(new Error(t("Select an address or a transaction to trace from."))); }
    var body = Object.assign(options, {seeds: seeds, policy: policy || options.policy || "haircut", chain: G.config.chain});
    var select = document.getElementById("g-policy");
    if (select) { select.value = body.policy; }
    G.busy(true);
    G.status(t("Tracing ({policy})…", {policy: body.policy}), "busy");
    return ft.api("/api/v1/graph/trace", {method: "POST", body: body}).then(function (tg) {
      G.applyTrace(tg);
      if (G.showTab) { G.showTab("trace"); }
      G.busy(false);
      G.status(t("Trace overlaid: {n} flows, {s} services reached", {n: G.int(tg.edges.length), s: G.int(tg.services.length)}), "info");
      G.revealNew();
      return G.rendered().then(function () { return tg; });
    }, function (error) {
      G.fail(error);
      throw error;
    });
  };

  // -- the list beside the canvas ------------------------------------------------------------------
  function focusNode(id) {
    var el = G.cy.getElementById(id);
    if (el.empty()) { return; }
    G.select(id);
    if (!el.hasClass("off")) { G.cy.animate({center: {eles: el}, zoom: Math.max(G.cy.zoom(), 1)}, {duration: 250}); }
  }

  function serviceItem(s) {
    var symbol = G.symbolOf(s), shown = s.addresses.slice(0, 5);
    var addrs = h("ul", {"class": "addresses"}, shown.map(function (a) {
      return h("li", {}, [h("button", {type: "button", "class": "link-button", title: a, text: G.short(a, 12, 8), click: function () { focusNode("a:" + a); }})]);
    }));
    var more = null;
    if (s.addresses.length > shown.length) {
      more = h("details", {}, [h("summary", {text: t("and {n} more", {n: G.int(s.addresses.length - shown.length)})}),
        h("ul", {"class": "addresses"}, s.addresses.slice(shown.length).map(function (a) {
          return h("li", {}, [h("button", {type: "button", "class": "link-button", title: a, text: G.short(a, 12, 8), click: function () { focusNode("a:" + a); }})]);
        }))]);
    }
    return h("li", {"class": "service"}, [
      h("div", {"class": "service-head"}, [h("strong", {"class": "service-label", text: s.label}), " ", G.categoryChip(s.category),
        h("span", {"class": "num amount", text: G.amount(s.tainted, s.decimals, symbol)})]),
      s.actor ? h("div", {"class": "muted small", text: t("Actor") + ": " + s.actor}) : null,
      h("div", {"class": "muted small", text: t("{n} deposit addresses", {n: G.int(s.addresses.length)})}),
      addrs, more]);
  }

  G.renderTrace = function () {
    var box = document.getElementById("g-trace-result");
    if (!box) { return; }
    box.textContent = "";
    var tr = G.trace;
    if (!tr) { return; }
    var counts = {service: 0, unspent: 0, limit: 0, other: 0};
    tr.endpoints.forEach(function (ep) { counts[G.reasonGroup(ep.reason)] += 1; });
    var policy = tr.policy, select = document.getElementById("g-policy");
    Array.prototype.forEach.call(select ? select.options : [], function (o) { if (o.value === tr.policy) { policy = o.textContent; } });
    box.appendChild(h("p", {"class": "summary"}, [h("strong", {text: t("Policy") + ": " + policy}), " · ",
      t("{n} endpoints: {s} at services, {u} unspent, {l} at limits", {n: G.int(tr.endpoints.length), s: G.int(counts.service),
        u: G.int(counts.unspent), l: G.int(counts.limit + counts.other)})]));
    if (tr.warnings && tr.warnings.length) {
      box.appendChild(h("ul", {"class": "warn trace-warnings"}, tr.warnings.map(function (w) { return h("li", {text: w}); })));
    }
    box.appendChild(h("h3", {text: t("Services to ask for a freeze")}));
    if (!tr.services.length) {
      box.appendChild(h("p", {"class": "muted", text: t("The trace reached no tagged service.")}));
    } else {
      box.appendChild(h("ol", {"class": "services", id: "g-services"}, tr.services.map(serviceItem)));
    }
  };

  G.wireTrace = function () {
    var run = document.getElementById("g-run-trace"), clear = document.getElementById("g-clear-trace");
    if (run) {
      run.addEventListener("click", function () {
        G.overlayTrace(document.getElementById("g-policy").value).catch(function () { return null; });
      });
    }
    if (clear) { clear.addEventListener("click", function () { G.clearTrace(); }); }
  };
})();
