// fundtrail graph canvas, part 6 of 6: starting the page, wiring the controls, `window.ftGraph`.
//
// Cytoscape.js is set up to stay interactive at a few thousand elements: textures while panning
// and zooming, edges hidden during viewport moves, no motion blur, labels only above a zoom level
// (`min-zoomed-font-size`), and no global layout after an expansion (new nodes are placed beside
// the node they came from; "Arrange" lays out on request).
(function () {
  "use strict";
  var ft = window.ft, t = ft.t, G = ft.graph;
  var ARRANGE_FORCE_MAX = 300;

  var countsDue = false;
  function counts() {
    if (countsDue) { return; }
    countsDue = true;
    window.requestAnimationFrame(showCounts);
  }
  function showCounts() {
    countsDue = false;
    var el = document.getElementById("g-counts");
    var text = t("{n} nodes, {m} edges shown", {n: G.int(G.shown().nodes().length), m: G.int(G.shown().edges().length)});
    if (el) { el.textContent = text; }
    var hiddenCount = document.getElementById("g-hidden-count"), unhide = document.getElementById("g-unhide");
    if (hiddenCount) { hiddenCount.textContent = G.int(G.hidden.size); }
    if (unhide) { unhide.disabled = G.hidden.size === 0; }
  }

  function makeCanvas() {
    G.cy = window.cytoscape({
      container: document.getElementById("cy"),
      style: G.style(),
      layout: {name: "preset"},
      textureOnViewport: true,
      hideEdgesOnViewport: true,
      motionBlur: false,
      pixelRatio: 1,
      minZoom: 0.02,
      maxZoom: 4,
      boxSelectionEnabled: true,
      selectionType: "single"
    });
    var cy = G.cy;
    cy.on("tap", "node, edge", function (evt) { G.select(evt.target.id()); });
    cy.on("tap", function (evt) { if (evt.target === cy) { G.select(null); } });
    cy.on("dbltap", "node", function (evt) {
      var id = evt.target.id();
      G.expand(id, "both").catch(function () { return null; });
    });
    // layout moves: where the dragged nodes were, for undo
    var grabbed = new Map(), flush = null;
    cy.on("grab", "node", function (evt) {
      evt.target.union(cy.nodes(":selected")).forEach(function (n) {
        if (!grabbed.has(n.id())) { grabbed.set(n.id(), Object.assign({}, n.position())); }
      });
    });
    cy.on("free", "node", function () {
      if (flush) { return; }
      flush = window.setTimeout(function () {
        flush = null;
        var moved = [];
        grabbed.forEach(function (p, id) {
          var el = cy.getElementById(id);
          if (el.nonempty() && (el.position("x") !== p.x || el.position("y") !== p.y)) { moved.push([id, p]); }
        });
        grabbed = new Map();
        if (moved.length) {
          G.pushUndo(t("move"), function () {
            moved.forEach(function (m) { var el = cy.getElementById(m[0]); if (el.nonempty()) { el.position(m[1]); } });
          });
        }
      }, 0);
    });
  }

  // Lay out what is shown (pinned nodes stay); undoable. Up to ARRANGE_FORCE_MAX nodes a force
  // layout (cose: O(n^2) per iteration, seconds beyond that), more in columns by distance from
  // the start node and the trace's seeds (linear time).
  G.arrange = function () {
    var cy = G.cy, shown = G.shown(), nodes = shown.nodes(), before = [];
    nodes.forEach(function (n) { before.push([n.id(), Object.assign({}, n.position())]); });
    function done() {
      G.pushUndo(t("arrange"), function () {
        before.forEach(function (b) { var el = cy.getElementById(b[0]); if (el.nonempty()) { el.position(b[1]); } });
      });
      G.busy(false);
    }
    G.busy(true);
    if (nodes.length > ARRANGE_FORCE_MAX) {
      var free = nodes.filter(function (n) { return !n.locked(); });
      var roots = free.filter(function (n) { return n.id() === G.config.start || n.hasClass("seed"); }).map(function (n) { return n.id(); });
      var edges = shown.edges().map(function (e) { return [e.source().id(), e.target().id()]; });
      var positions = G.layered(free.map(function (n) { return n.id(); }), edges, roots, {x: 0, y: 0});
      cy.batch(function () { free.forEach(function (n) { n.position(positions[n.id()]); }); });
      cy.fit(shown, 40);
      done();
      return G.rendered();
    }
    return new Promise(function (resolve) {
      var layout = shown.layout({name: "cose", animate: false, randomize: false, fit: true, padding: 40, numIter: 500,
                                 nodeRepulsion: function () { return 9000; }, idealEdgeLength: function () { return 70; }});
      layout.one("layoutstop", function () { done(); resolve(); });
      layout.run();
    });
  };

  G.showTab = function (name) {
    var tabs = {details: ["g-tab-details", "g-panel"], trace: ["g-tab-trace", "g-trace"]};
    Object.keys(tabs).forEach(function (k) {
      var button = document.getElementById(tabs[k][0]), panel = document.getElementById(tabs[k][1]);
      if (!button || !panel) { return; }
      button.classList.toggle("current", k === name);
      button.setAttribute("aria-selected", k === name ? "true" : "false");
      panel.hidden = k !== name;
    });
  };

  function wireToolbar() {
    function on(id, type, fn) {
      var el = document.getElementById(id);
      if (el) { el.addEventListener(type, fn); }
    }
    on("g-fold", "change", function (e) { G.setToggle("fold", e.target.checked); });
    on("g-entity", "change", function (e) { G.setToggle("entity", e.target.checked); });
    on("g-layout", "click", function () { G.arrange(); });
    on("g-fit", "click", function () { G.cy.fit(G.shown(), 40); });
    on("g-undo", "click", function () { G.undo(); });
    on("g-unhide", "click", function () { G.unhideAll(); });
    on("g-tab-details", "click", function () { G.showTab("details"); });
    on("g-tab-trace", "click", function () { G.showTab("trace"); });
    document.addEventListener("keydown", function (e) {
      var tag = (e.target && e.target.tagName) || "";
      if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") { return; }
      if ((e.ctrlKey || e.metaKey) && !e.shiftKey && (e.key === "z" || e.key === "Z")) { e.preventDefault(); G.undo(); }
      if ((e.key === "Delete" || e.key === "Backspace") && G.selected && G.cy.getElementById(G.selected).isNode()) { e.preventDefault(); G.hide(G.selected); }
    });
    G.on("undo-changed", function () {
      var undo = document.getElementById("g-undo");
      if (undo) {
        undo.disabled = G.undoStack.length === 0;
        undo.title = G.undoStack.length ? t("Undo: {what}", {what: G.undoStack[G.undoStack.length - 1].label}) : t("Nothing to undo");
      }
    });
    G.on("refreshed", counts);
    G.on("merged", function () {
      var empty = document.getElementById("g-empty");
      if (empty && G.nodes.size) { empty.hidden = true; }
    });
    G.wireTimeline();
    G.wireTrace();
    G.wireIO();
  }

  function start() {
    var status = document.getElementById("g-status");
    if (!status) { return null; }  // the page says which npm package is missing
    if (typeof window.cytoscape !== "function") {
      G.status(t("The graph library did not load: install the npm packages with npm ci in the checkout."), "error");
      return null;
    }
    var bar = document.createElement("div");
    bar.id = "g-counts";
    bar.className = "graph-counts";
    status.parentNode.appendChild(bar);
    makeCanvas();
    wireToolbar();
    var ready = Promise.resolve();
    if (G.savedDoc) {
      try {
        G.applyDocument(G.savedDoc.document);
        G.saved = {id: G.savedDoc.id, name: G.savedDoc.name};
        document.getElementById("g-name").value = G.savedDoc.name;
        G.status(t("Loaded “{name}”.", {name: G.savedDoc.name}), "info");
      } catch (e) { G.fail(e); }
    } else if (G.first) {
      G.mergePage(G.first, G.first.center.indexOf("c:") === 0 ? "members" : "both");
      G.refresh();
      G.syncTimeline();
      G.cy.fit(G.cy.elements(), 60);
      if (G.cy.zoom() > 1.4) { G.cy.zoom(1.4); G.cy.center(); }
      G.select(G.first.center);
    }
    if (G.config.trace && !G.savedDoc) {  // a trace link (the trace page's "show on the graph")
      ready = G.overlayTrace(G.config.trace.policy, G.config.trace).catch(function () { return null; });
    }
    G.listSaved();
    return ready.then(function () { return G.rendered(); });
  }

  var ready = start();
  window.ftGraph = {
    get cy() { return G.cy; },
    ready: ready || Promise.resolve(),
    state: G,
    open: function (chain, nodeId) { return G.open(chain, nodeId); },
    // expand(nodeId, "in" | "out" | "both" | "more", limit) or expand(nodeId, {direction, limit})
    expand: function (nodeId, direction, limit) {
      if (direction && typeof direction === "object") { limit = direction.limit; direction = direction.direction; }
      return G.expand(nodeId, direction || "both", limit);
    },
    overlayTrace: function (policy, options) { return G.overlayTrace(policy, options); },
    clearTrace: function () { G.clearTrace(); },
    save: function (name) { return G.save(name); },
    load: function (id) { return G.load(id); },
    exportPNG: function (download) { return G.exportPNG(download); },
    exportSVG: function () { return G.exportSVG(false); },
    exportJSON: function () { return G.documentOf(); },
    annotate: function (nodeId, note, colour) { G.annotate(nodeId, note, colour); return G.rendered(); },
    select: function (id) { G.select(id); },
    hide: function (id) { G.hide(id); },
    unhideAll: function () { G.unhideAll(); },
    pin: function (id, on) { G.pin(id, on === undefined ? true : on); },
    undo: function () { return G.undo(); },
    fold: function (on) { G.setToggle("fold", on); return G.rendered(); },
    entityView: function (on) { G.setToggle("entity", on); return G.rendered(); },
    setTimeline: function (from, to) { G.setTimeline(from, to); return G.rendered(); },
    arrange: function () { return G.arrange(); }
  };
  if (ready) { ready.then(function () { document.body.setAttribute("data-graph-ready", "1"); }); }
})();
