// fundtrail graph canvas, part 5 of 6: saving and loading canvases, and exporting PNG, SVG, JSON.
//
// A saved canvas is one JSON document (`POST /api/v1/graphs`): the raw nodes and edges as the API
// gave them, positions, notes, hidden and pinned nodes, the toggles, the timeline window, the
// paging cursors (so "load more" goes on after a reload) and the overlaid trace. Loading it
// draws exactly that again, positions preset. Saving under the name of the loaded canvas
// overwrites it; another name saves a new one.
(function () {
  "use strict";
  var ft = window.ft, t = ft.t, G = ft.graph;
  var FORMAT = "fundtrail-graph", VERSION = 1;

  G.documentOf = function () {
    var positions = {};
    G.cy.nodes().forEach(function (n) {
      var p = n.position();
      positions[n.id()] = [Math.round(p.x * 10) / 10, Math.round(p.y * 10) / 10];
    });
    var trace = G.trace ? Object.assign({}, G.trace) : null;
    if (trace) { delete trace.byNode; }
    return {format: FORMAT, version: VERSION, chain: G.config.chain, family: G.config.family, start: G.config.start,
            nodes: Array.from(G.nodes.values()), edges: Array.from(G.edges.values()), positions: positions,
            annotations: G.annotations, hidden: Array.from(G.hidden), pinned: Array.from(G.pinned),
            toggles: Object.assign({}, G.toggles), timeline: Object.assign({}, G.timeline), paging: G.paging,
            placed: G.placed, trace: trace, viewport: {zoom: G.cy.zoom(), pan: G.cy.pan()}};
  };

  G.clearCanvas = clearCanvas;
  function clearCanvas() {
    G.cy.elements().remove();
    G.nodes = new Map(); G.edges = new Map(); G.paging = {}; G.placed = {}; G.hidden = new Set(); G.pinned = new Set();
    G.annotations = {}; G.trace = null; G.taintMax = null; G.derived = new Map(); G.selected = null; G.undoStack = [];
    G.timeline = {from: null, to: null};
  }

  // Draw a saved canvas (the `document` of a SavedGraphDocument).
  G.applyDocument = function (doc) {
    if (!doc || doc.format !== FORMAT || !Array.isArray(doc.nodes) || !Array.isArray(doc.edges)) {
      throw new Error(t("This saved graph is not a canvas of the workbench."));
    }
    clearCanvas();
    if (doc.chain) { G.config.chain = doc.chain; }
    if (doc.family) { G.config.family = doc.family; }
    G.config.start = doc.start || null;
    G.annotations = doc.annotations || {};
    G.pinned = new Set(doc.pinned || []);
    var positions = {};
    Object.keys(doc.positions || {}).forEach(function (id) {
      var p = doc.positions[id];
      positions[id] = {x: Number(p[0]) || 0, y: Number(p[1]) || 0};
    });
    G.entityPositions = positions;
    G.merge({nodes: doc.nodes, edges: doc.edges}, positions);
    G.hidden = new Set((doc.hidden || []).filter(function (id) { return G.nodes.has(id); }));
    G.paging = doc.paging || {};
    G.placed = doc.placed || {};
    G.toggles = {fold: !!(doc.toggles && doc.toggles.fold), entity: !!(doc.toggles && doc.toggles.entity)};
    ["fold", "entity"].forEach(function (name) {
      var box = document.getElementById("g-" + name);
      if (box) { box.checked = G.toggles[name]; }
    });
    G.timeline = {from: doc.timeline ? doc.timeline.from : null, to: doc.timeline ? doc.timeline.to : null};
    G.trace = doc.trace || null;
    if (G.trace) {
      var byNode = {};
      (G.trace.endpoints || []).forEach(function (ep) { if (ep.node) { (byNode[ep.node] = byNode[ep.node] || []).push(ep); } });
      G.trace.byNode = byNode;
      var max = 0n;
      G.edges.forEach(function (e) { if (e.tainted) { var v = G.big(e.tainted); if (v > max) { max = v; } } });
      G.taintMax = max > 0n ? max.toString() : null;
    }
    G.pinned.forEach(function (id) { G.cy.getElementById(id).lock().addClass("pinned"); });
    G.refresh();
    G.entityPositions = null;
    G.applyTraceMarks();
    G.syncTimeline();
    if (doc.viewport && doc.viewport.zoom) {
      G.cy.viewport({zoom: doc.viewport.zoom, pan: doc.viewport.pan});
    } else {
      G.cy.fit(G.shown(), 40);
    }
    G.renderPanel();
    G.emit("undo-changed");
    G.emit("changed");
  };

  function showSaved(saved) {
    G.saved = {id: saved.id, name: saved.name};
    var name = document.getElementById("g-name");
    if (name) { name.value = saved.name; }
    var url = "/graph?chain=" + encodeURIComponent(G.config.chain) + "&saved=" + encodeURIComponent(saved.id);
    window.history.replaceState(null, "", url);
  }

  G.save = function (name) {
    name = String(name || "").trim();
    if (!name) { return Promise.reject(new Error(t("Give the graph a name to save it."))); }
    var body = {name: name, chain: G.config.chain, document: G.documentOf()};
    if (G.saved && G.saved.name === name) { body.id = G.saved.id; }
    G.busy(true);
    G.status(t("Saving…"), "busy");
    return ft.api("/api/v1/graphs", {method: "POST", body: body}).then(function (saved) {
      showSaved(saved);
      G.busy(false);
      G.status(t("Saved as “{name}”.", {name: saved.name}), "info");
      G.listSaved();
      return saved;
    }, function (error) { G.fail(error); throw error; });
  };

  G.load = function (id) {
    G.busy(true);
    G.status(t("Loading…"), "busy");
    return ft.api("/api/v1/graphs/" + encodeURIComponent(id)).then(function (saved) {
      G.applyDocument(saved.document);
      showSaved(saved);
      G.busy(false);
      G.status(t("Loaded “{name}”.", {name: saved.name}), "info");
      var empty = document.getElementById("g-empty");
      if (empty) { empty.hidden = true; }
      return G.rendered().then(function () { return saved; });
    }, function (error) { G.fail(error); throw error; });
  };

  // Show one node of `chain` alone on a cleared canvas (`a:`, `t:` or `c:` id), e.g. to expand it next.
  G.open = function (chain, nodeId) {
    var kind = String(nodeId).slice(0, 2), text = String(nodeId).slice(2);
    var paths = {"a:": "addresses", "t:": "txs", "c:": "clusters"};
    if (!paths[kind] || !text) { return Promise.reject(new Error(t("There is no node {id} on the canvas.", {id: nodeId}))); }
    var path = "/api/v1/" + encodeURIComponent(chain) + "/graph/" + paths[kind] + "/" + encodeURIComponent(text) + "?limit=1";
    return ft.api(path).then(function (page) {
      clearCanvas();
      G.config.chain = chain;
      G.config.family = /^0x|^T[1-9A-HJ-NP-Za-km-z]{33}$/.test(text) ? "account" : G.config.family || "utxo";
      G.config.start = page.center;
      var at = {};
      at[page.center] = {x: 0, y: 0};
      G.merge({nodes: page.nodes.filter(function (n) { return n.id === page.center; }), edges: []}, at);
      G.refresh();
      G.cy.fit(G.shown(), 60);
      G.cy.zoom(1);
      G.cy.center();
      G.select(page.center);
      window.history.replaceState(null, "", "/graph?chain=" + encodeURIComponent(chain) + "&start=" + encodeURIComponent(page.center));
      G.emit("undo-changed");
      return G.rendered();
    }, function (error) { G.fail(error); throw error; });
  };

  G.listSaved = function () {
    var select = document.getElementById("g-saved");
    if (!select) { return Promise.resolve([]); }
    return ft.api("/api/v1/graphs").then(function (list) {
      while (select.options.length > 1) { select.remove(1); }
      list.graphs.forEach(function (g) {
        var label = g.name + " · " + g.chain + " · " + ft.formatTime(g.updated_at);
        select.appendChild(G.h("option", {value: g.id, text: label}));
      });
      return list.graphs;
    }, function (error) { G.fail(error); return []; });
  };

  // -- exports ---------------------------------------------------------------------------------
  function fileName(ext) {
    var base = (G.saved && G.saved.name) || (G.config.start ? G.config.start.replace(/^[atc]:/, "") : "graph");
    return "fundtrail-" + base.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 60) + "." + ext;
  }
  G.download = function (blob, name) {
    var url = URL.createObjectURL(blob), a = G.h("a", {href: url, download: name});
    document.body.appendChild(a);
    a.click();
    a.remove();
    window.setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  };
  // The whole graph as a PNG (white background); `download` also saves it as a file.
  G.exportPNG = function (download) {
    return G.cy.png({output: "blob-promise", full: true, bg: "#ffffff", scale: 1.5, maxWidth: 4096, maxHeight: 4096})
      .then(function (blob) {
        if (download) { G.download(blob, fileName("png")); }
        return blob;
      });
  };
  G.exportSVG = function (download) {
    var blob = new Blob([window.ftSvg(G.cy, G.shown())], {type: "image/svg+xml"});
    if (download) { G.download(blob, fileName("svg")); }
    return blob;
  };
  G.exportJSON = function (download) {
    var blob = new Blob([JSON.stringify(G.documentOf(), null, 1)], {type: "application/json"});
    if (download) { G.download(blob, fileName("json")); }
    return blob;
  };

  G.wireIO = function () {
    function on(id, fn) {
      var el = document.getElementById(id);
      if (el) { el.addEventListener("click", fn); }
    }
    on("g-save", function () { G.save(document.getElementById("g-name").value).catch(function () { return null; }); });
    on("g-load", function () {
      var id = document.getElementById("g-saved").value;
      if (!id) { G.status(t("Choose a saved graph first."), "error"); return; }
      G.load(id).catch(function () { return null; });
    });
    on("g-png", function () { G.exportPNG(true).catch(G.fail); });
    on("g-svg", function () { try { G.exportSVG(true); } catch (e) { G.fail(e); } });
    on("g-json", function () { G.exportJSON(true); });
  };
})();
