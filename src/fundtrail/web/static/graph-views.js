// fundtrail graph canvas, part 2 of 6: what is drawn of the raw graph (G.refresh).
//
// The raw graph stays on the canvas; a view hides raw elements (class `off`) and adds derived
// ones (class `derived`), recomputed from the raw graph on every change, in this order:
//  1. hidden nodes and the timeline window: edges outside the window go, and nodes left without
//     any edge in it ("orphans") with them;
//  2. fold: UTXO paths address -> tx -> address become one edge address -> address per pair
//     (count: the transactions, total: what the receiving address got from them); account-chain
//     transfers per (from, to, asset) become one edge. A transaction whose inputs x outputs pairs
//     outnumber its edges and FOLD_PAIRS (a CoinJoin, a batch) stays drawn: folding it would add
//     more edges than it removes;
//  3. entity view: addresses of one cluster become one node `e:<cluster id>`, edges between
//     entities are summed per (from, to, asset); flows inside an entity are left out.
(function () {
  "use strict";
  var ft = window.ft, t = ft.t, G = ft.graph;
  var FOLD_PAIRS = 16;

  G.style = function () {
    return [
      {selector: "node", style: {
        "background-color": G.COLOURS.none, "font-size": 10, "color": "#1d2733",
        "text-valign": "bottom", "text-halign": "center", "text-margin-y": 3, "text-wrap": "wrap",
        "text-max-width": 170, "width": 22, "height": 22, "min-zoomed-font-size": 8, "border-width": 1.5,
        "border-color": "#ffffff", "text-background-color": "#ffffff", "text-background-opacity": 0.75,
        "text-background-padding": 1}},
      {selector: "node[color]", style: {"background-color": "data(color)"}},
      {selector: "node[display]", style: {"label": "data(display)"}},
      {selector: "node[kind = 'tx']", style: {"shape": "square", "width": 10, "height": 10, "font-size": 8,
        "min-zoomed-font-size": 11, "border-width": 0, "color": "#556270"}},
      {selector: "node[kind = 'cluster'][size]", style: {"shape": "round-rectangle", "width": "data(size)", "height": "data(size)",
        "font-weight": "bold"}},
      {selector: "node.entity[size]", style: {"shape": "hexagon", "width": "data(size)", "height": "data(size)",
        "font-weight": "bold", "border-width": 2, "border-color": "#1d2733"}},
      {selector: "edge", style: {
        "width": 1.3, "line-color": "#b4bfcc", "target-arrow-color": "#b4bfcc", "target-arrow-shape": "triangle",
        "arrow-scale": 0.8, "curve-style": "bezier", "font-size": 8, "color": "#3a4654", "min-zoomed-font-size": 9,
        "text-background-color": "#ffffff", "text-background-opacity": 0.8, "text-rotation": "autorotate"}},
      {selector: "edge[w]", style: {"width": "data(w)"}},
      {selector: "edge.member", style: {"line-style": "dashed", "target-arrow-shape": "none", "line-color": "#d3dae2",
        "width": 1}},
      {selector: "edge.derived[elabel]", style: {"label": "data(elabel)", "line-color": "#8a9aae", "target-arrow-color": "#8a9aae"}},
      {selector: "edge.tainted", style: {"line-color": "#e8590c", "target-arrow-color": "#e8590c", "z-index": 5}},
      {selector: "node.seed", style: {"border-width": 4, "border-color": "#e8590c"}},
      {selector: "node.ep-service", style: {"border-width": 5, "border-style": "double", "border-color": "#0b3d91"}},
      {selector: "node.ep-unspent", style: {"border-width": 3, "border-style": "dashed", "border-color": "#e8590c"}},
      {selector: "node.ep-limit", style: {"border-width": 3, "border-style": "dotted", "border-color": "#1d2733"}},
      {selector: "node.ep-other", style: {"border-width": 3, "border-style": "solid", "border-color": "#868e96"}},
      {selector: "node.annotated[anno]", style: {"outline-width": 4, "outline-color": "data(anno)", "outline-offset": 2,
        "outline-opacity": 0.9}},
      {selector: "node.pinned", style: {"underlay-color": "#f2b134", "underlay-padding": 5, "underlay-opacity": 0.55,
        "underlay-shape": "ellipse"}},
      {selector: "node:selected", style: {"overlay-color": "#2b6cb0", "overlay-opacity": 0.22, "overlay-padding": 7}},
      {selector: "edge:selected", style: {"overlay-color": "#2b6cb0", "overlay-opacity": 0.25, "overlay-padding": 4}},
      {selector: ".off", style: {"display": "none"}}
    ];
  };

  // -- 1. what the timeline and the hidden set leave ---------------------------------------------
  G.timeBounds = function () {
    var lo = null, hi = null;
    G.edges.forEach(function (e) {
      if (!e.time) { return; }
      var ms = Date.parse(e.time);
      if (lo === null || ms < lo) { lo = ms; }
      if (hi === null || ms > hi) { hi = ms; }
    });
    return lo === null ? null : [lo, hi];
  };
  G.timeWindow = function () {
    var tl = G.timeline;
    if (tl.from === null && tl.to === null) { return null; }
    return [tl.from === null ? -Infinity : tl.from, tl.to === null ? Infinity : tl.to];
  };

  function baseVisibility() {
    var win = G.timeWindow(), nodeOn = new Map(), edgeOn = new Map(), hasEdge = new Set(), hasOn = new Set();
    G.nodes.forEach(function (n, id) { nodeOn.set(id, !G.hidden.has(id)); });
    G.edges.forEach(function (e, id) {
      var on = nodeOn.get(e.source) && nodeOn.get(e.target);
      if (e.kind !== "member") { hasEdge.add(e.source); hasEdge.add(e.target); }
      if (on && win && e.kind !== "member") {
        var ms = e.time ? Date.parse(e.time) : null;
        on = ms === null || (ms >= win[0] && ms <= win[1]);
      }
      edgeOn.set(id, !!on);
      if (on && e.kind !== "member") { hasOn.add(e.source); hasOn.add(e.target); }
    });
    if (win) {
      nodeOn.forEach(function (on, id) {
        if (on && hasEdge.has(id) && !hasOn.has(id) && id !== G.config.start) { nodeOn.set(id, false); }
      });
      G.edges.forEach(function (e, id) { if (!nodeOn.get(e.source) || !nodeOn.get(e.target)) { edgeOn.set(id, false); } });
    }
    return {nodeOn: nodeOn, edgeOn: edgeOn};
  }

  // -- 2. fold -----------------------------------------------------------------------------------
  function flowOf(id, source, target, e, kind) {
    return {id: id, source: source, target: target, kind: kind, asset: e.asset, symbol: e.symbol, decimals: e.decimals,
            count: 0, total: 0n, tainted: 0n, time: null, time_last: null, txids: [], members: []};
  }
  function addTo(f, e, count, txid) {
    f.count += count;
    f.total += G.big(e.value);
    if (e.tainted) { f.tainted += G.big(e.tainted); }
    if (e.time && (!f.time || e.time < f.time)) { f.time = e.time; }
    if (e.time && (!f.time_last || e.time > f.time_last)) { f.time_last = e.time; }
    if (txid && f.txids.length < 50 && f.txids.indexOf(txid) < 0) { f.txids.push(txid); }
  }

  function fold(vis) {
    var flows = new Map(), goneEdges = new Set(), goneNodes = new Set();
    if (G.config.family === "utxo") {
      var ins = {}, outs = {};
      G.edges.forEach(function (e, id) {
        if (!vis.edgeOn.get(id)) { return; }
        if (e.kind === "input") { (ins[e.target] = ins[e.target] || []).push(e); } else if (e.kind === "output") { (outs[e.source] = outs[e.source] || []).push(e); }
      });
      Object.keys(ins).forEach(function (tx) {
        var a = ins[tx], b = outs[tx];
        if (!b || !vis.nodeOn.get(tx) || a.length * b.length > Math.max(a.length + b.length, FOLD_PAIRS)) { return; }
        var made = 0;
        a.forEach(function (ei) {
          b.forEach(function (eo) {
            if (ei.source === eo.target) { return; }
            var key = ei.source + ">" + eo.target + ">" + eo.asset, f = flows.get(key);
            if (!f) { flows.set(key, f = flowOf("f:" + key, ei.source, eo.target, eo, "folded")); }
            addTo(f, eo, 1, eo.txid);
            f.members.push(ei.id, eo.id);
            made += 1;
          });
        });
        if (made) {
          goneNodes.add(tx);
          a.forEach(function (e) { goneEdges.add(e.id); });
          b.forEach(function (e) { goneEdges.add(e.id); });
        }
      });
    } else {
      var groups = new Map();
      G.edges.forEach(function (e, id) {
        if (!vis.edgeOn.get(id) || e.kind !== "transfer") { return; }
        var key = e.source + ">" + e.target + ">" + e.asset;
        (groups.get(key) || groups.set(key, []).get(key)).push(e);
      });
      groups.forEach(function (list, key) {
        if (list.length < 2) { return; }
        var f = flowOf("f:" + key, list[0].source, list[0].target, list[0], "folded");
        list.forEach(function (e) { addTo(f, e, e.count || 1, e.txid); f.members.push(e.id); goneEdges.add(e.id); });
        flows.set(key, f);
      });
    }
    return {flows: Array.from(flows.values()), goneEdges: goneEdges, goneNodes: goneNodes};
  }

  // -- 3. entity view ---------------------------------------------------------------------------
  G.entityOf = function (id) {
    var n = G.nodes.get(id);
    if (!n) { return id; }
    if (n.kind === "cluster" || (n.kind === "address" && n.cluster_id !== null && n.cluster_id !== undefined && (n.cluster_size || 0) > 1)) {
      return "e:" + n.cluster_id;
    }
    return id;
  };

  function entities(vis, folded, shownEdges) {
    var ents = new Map(), mapped = new Set();
    vis.nodeOn.forEach(function (on, id) {
      if (!on || folded.goneNodes.has(id)) { return; }
      var e = G.entityOf(id);
      if (e === id) { return; }
      mapped.add(id);
      var n = G.nodes.get(id), ent = ents.get(e);
      if (!ent) { ents.set(e, ent = {id: e, kind: "entity", cluster_id: n.cluster_id, cluster_size: n.cluster_size, members: [], tags: []}); }
      if (n.kind === "address") { ent.members.push(id); }
      (n.tags || []).forEach(function (tag) {  // members share the cluster's tags: each once
        var same = ent.tags.some(function (x) { return x.label === tag.label && x.category === tag.category; });
        if (!same && ent.tags.length < 12) { ent.tags.push(Object.assign({}, tag, {inherited: false})); }
      });
    });
    ents.forEach(function (ent) {
      var best = null;
      ent.tags.forEach(function (tag) {
        var rank = G.GROUP_RANK.indexOf(G.groupOf(tag.category));
        if (best === null || rank < best.rank) { best = {rank: rank, tag: tag}; }
      });
      ent.category = best ? best.tag.category : null;
      ent.label = best && best.tag.label ? best.tag.label + " (" + G.int(ent.cluster_size) + ")"
        : t("cluster #{id} ({n})", {id: ent.cluster_id, n: G.int(ent.cluster_size)});
    });
    var flows = new Map(), kept = [];
    shownEdges.forEach(function (e) {
      var s = G.entityOf(e.source), d = G.entityOf(e.target);
      if (s === e.source && d === e.target) { kept.push(e); return; }
      if (s === d) { return; }
      var kind = e.kind === "input" || e.kind === "output" ? e.kind : "flow";
      var key = s + ">" + d + ">" + e.asset + ">" + kind, f = flows.get(key);
      if (!f) { flows.set(key, f = flowOf("g:" + key, s, d, e, "entity")); }
      addTo(f, e, e.count || 1, e.txid);
      (e.txids || []).forEach(function (x) { if (f.txids.length < 50 && f.txids.indexOf(x) < 0) { f.txids.push(x); } });
      f.members.push(e.id);
    });
    return {nodes: Array.from(ents.values()), mapped: mapped, flows: Array.from(flows.values()), kept: kept};
  }

  // -- putting it on the canvas --------------------------------------------------------------------
  function derivedEdge(f) {
    var tainted = f.tainted > 0n ? f.tainted.toString() : null;
    var total = f.total.toString();
    var label = f.kind === "folded" ? t("{n} tx", {n: G.int(f.count)}) + " · " : f.count > 1 ? "×" + G.int(f.count) + " · " : "";
    return {id: f.id, source: f.source, target: f.target, kind: f.kind, count: f.count, value: total, asset: f.asset,
            symbol: f.symbol, decimals: f.decimals, tainted: tainted, time: f.time, time_last: f.time_last,
            txids: f.txids, members: f.members, w: G.widthOf(tainted),
            elabel: label + G.amount(total, f.decimals, G.symbolOf(f))};
  }

  G.derived = new Map();  // id -> data of the derived elements drawn now (entity nodes, folded edges)

  G.refresh = function () {
    var cy = G.cy;
    if (!cy) { return; }
    var vis = baseVisibility();
    var folded = G.toggles.fold ? fold(vis) : {flows: [], goneEdges: new Set(), goneNodes: new Set()};
    var shown = [];
    G.edges.forEach(function (e, id) { if (vis.edgeOn.get(id) && !folded.goneEdges.has(id)) { shown.push(e); } });
    var foldEdges = folded.flows.map(derivedEdge);
    var ent = G.toggles.entity ? entities(vis, folded, shown.concat(foldEdges)) : null;
    var derivedNodes = [], derivedEdges = foldEdges, rawEdgeShown = new Set(shown.map(function (e) { return e.id; }));
    if (ent) {
      var keptIds = new Set(ent.kept.map(function (e) { return e.id; }));
      rawEdgeShown = new Set(shown.filter(function (e) { return keptIds.has(e.id); }).map(function (e) { return e.id; }));
      derivedEdges = foldEdges.filter(function (e) { return keptIds.has(e.id); }).concat(ent.flows.map(derivedEdge));
      derivedNodes = ent.nodes.map(function (n) {
        var group = G.groupOf(n.category);
        return Object.assign({}, n, {group: group, color: G.COLOURS[group], display: n.label,
          size: Math.min(80, 30 + 8 * Math.log10(1 + (n.cluster_size || 1))), anno: "#e03131"});
      });
    }
    var want = new Map();
    derivedNodes.forEach(function (d) { want.set(d.id, d); });
    derivedEdges.forEach(function (d) { want.set(d.id, d); });
    cy.batch(function () {
      G.nodes.forEach(function (n, id) {
        var on = vis.nodeOn.get(id) && !folded.goneNodes.has(id) && !(ent && ent.mapped.has(id));
        var el = cy.getElementById(id);
        if (el.hasClass("off") === on) { el.toggleClass("off", !on); }
      });
      G.edges.forEach(function (e, id) {
        var el = cy.getElementById(id), on = rawEdgeShown.has(id);
        if (el.hasClass("off") === on) { el.toggleClass("off", !on); }
        var w = G.widthOf(e.tainted), tainted = e.tainted || null;
        if (el.data("w") !== w || el.data("tainted") !== tainted) { el.data({w: w, tainted: tainted}); }
        el.toggleClass("tainted", !!tainted);
      });
      cy.elements(".derived").forEach(function (el) {
        var d = want.get(el.id());
        if (!d || (el.isEdge() && (el.data("source") !== d.source || el.data("target") !== d.target))) { el.remove(); }
      });
      derivedNodes.forEach(function (d) {
        var el = cy.getElementById(d.id);
        if (el.nonempty()) { el.data(d); return; }
        var xs = 0, ys = 0, k = 0;
        d.members.concat(["c:" + d.cluster_id]).forEach(function (m) {
          var me = cy.getElementById(m);
          if (me.nonempty()) { xs += me.position("x"); ys += me.position("y"); k += 1; }
        });
        var pos = G.entityPositions && G.entityPositions[d.id] ? G.entityPositions[d.id] : {x: k ? xs / k : 0, y: k ? ys / k : 0};
        cy.add({group: "nodes", data: d, position: pos, classes: "derived entity"});
      });
      derivedEdges.forEach(function (d) {
        var el = cy.getElementById(d.id);
        if (el.nonempty()) { el.data(d); } else { cy.add({group: "edges", data: d, classes: "derived"}); }
        cy.getElementById(d.id).toggleClass("tainted", !!d.tainted);
      });
    });
    G.derived = want;
    G.emit("refreshed", {nodes: G.shown().nodes().length, edges: G.shown().edges().length});
  };

  // -- toggles, each undoable ---------------------------------------------------------------------
  G.setToggle = function (name, on, silent) {
    var before = G.toggles[name];
    if (before === !!on) { return; }
    G.toggles[name] = !!on;
    var box = document.getElementById(name === "fold" ? "g-fold" : "g-entity");
    if (box) { box.checked = !!on; }
    if (!silent) {
      G.pushUndo(name === "fold" ? t("fold") : t("entity view"), function () {
        G.toggles[name] = before;
        if (box) { box.checked = before; }
      });
    }
    G.refresh();
    G.emit("changed");
  };

  // -- the timeline: a range over the edges' times ---------------------------------------------------
  var SCALE = 1000;
  G.syncTimeline = function () {
    var bar = document.getElementById("g-timeline"), bounds = G.timeBounds();
    if (!bar) { return; }
    bar.hidden = !bounds || bounds[0] === bounds[1];
    if (bar.hidden) { return; }
    var span = bounds[1] - bounds[0], from = document.getElementById("g-tl-from"), to = document.getElementById("g-tl-to");
    from.value = G.timeline.from === null ? 0 : Math.round(SCALE * (G.timeline.from - bounds[0]) / span);
    to.value = G.timeline.to === null ? SCALE : Math.round(SCALE * (G.timeline.to - bounds[0]) / span);
    labelTimeline(bounds);
  };
  function labelTimeline(bounds) {
    var lo = G.timeline.from === null ? bounds[0] : G.timeline.from, hi = G.timeline.to === null ? bounds[1] : G.timeline.to;
    var label = document.getElementById("g-tl-label");
    label.textContent = ft.formatTime(new Date(lo).toISOString()) + " – " + ft.formatTime(new Date(hi).toISOString());
    label.classList.toggle("narrowed", G.timeline.from !== null || G.timeline.to !== null);
  }
  G.setTimeline = function (from, to) {
    G.timeline = {from: from, to: to};
    G.syncTimeline();
    G.refresh();
  };
  G.wireTimeline = function () {
    var from = document.getElementById("g-tl-from"), to = document.getElementById("g-tl-to");
    if (!from) { return; }
    var pending = false;
    function read() {
      pending = false;
      var bounds = G.timeBounds();
      if (!bounds) { return; }
      var a = Number(from.value), b = Number(to.value), span = bounds[1] - bounds[0];
      if (a > b) { var c = a; a = b; b = c; }
      G.timeline = {from: a <= 0 ? null : bounds[0] + span * a / SCALE, to: b >= SCALE ? null : bounds[0] + span * b / SCALE};
      labelTimeline(bounds);
      G.refresh();
    }
    function later() { if (!pending) { pending = true; window.requestAnimationFrame(read); } }
    from.addEventListener("input", later);
    to.addEventListener("input", later);
    document.getElementById("g-tl-reset").addEventListener("click", function () { G.setTimeline(null, null); });
    G.on("merged", G.syncTimeline);
  };
})();
