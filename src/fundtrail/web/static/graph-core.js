// fundtrail graph canvas, part 1 of 6: shared state, colours, the raw graph and where new nodes go.
//
// The canvas keeps the graph the API gave (`G.nodes`, `G.edges`: the API's node and edge documents
// by id) and draws a view of it (graph-views.js: folded, entity view, timeline, hidden nodes).
// Every part adds its functions to `ft.graph` (G); graph.js starts the page and exposes
// `window.ftGraph`. Nothing here builds HTML from strings: data reaches the page as text nodes.
(function () {
  "use strict";
  var ft = window.ft, t = ft.t;

  function readJSON(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent || "null") : null;
  }

  var G = {
    config: readJSON("graph-config") || {},
    first: readJSON("graph-first"),
    savedDoc: readJSON("graph-saved"),
    cy: null,
    nodes: new Map(),        // id -> the API's GraphNode (raw)
    edges: new Map(),        // id -> the API's GraphEdge (raw), plus member links of clusters
    paging: {},              // node id -> direction -> {cursor, total, loaded}
    placed: {},              // "node|side" -> how many nodes were placed on that side
    hidden: new Set(),       // raw node ids the user hid
    pinned: new Set(),       // node ids locked in place
    annotations: {},         // node id -> {note, colour}
    toggles: {fold: false, entity: false},
    timeline: {from: null, to: null},  // ms, null: open end
    trace: null,             // the overlaid trace: {policy, services, endpoints, seeds, warnings, truncated}
    undoStack: [],
    saved: null,             // {id, name} of the saved graph shown
    selected: null,
    listeners: {}
  };
  ft.graph = G;

  // -- colours: the palette of the .cat-* chips (app.css), saturated for nodes -------------------
  var GROUPS = [
    ["sanctioned", ["sanction", "terrorism", "child_sexual_abuse"]],
    ["illicit", ["ransomware", "scam", "phishing", "service_hack", "market", "extortion", "sextortion", "malware",
                 "money_laundering", "perpetrator", "ponzi_scheme", "investment_fraud"]],
    ["mixer", ["mixing_service", "coinjoin"]],
    ["gambling", ["gambling"]],
    ["service", ["exchange", "wallet_service", "payment_processor", "atm"]],
    ["miner", ["miner", "mining_service"]]
  ];
  var GROUP_OF = {};
  GROUPS.forEach(function (g) { g[1].forEach(function (c) { GROUP_OF[c] = g[0]; }); });
  //: most severe first: an entity takes the colour of its most severe member
  G.GROUP_RANK = ["sanctioned", "illicit", "mixer", "gambling", "service", "miner", "other", "none"];
  G.COLOURS = {service: "#1f6fd1", mixer: "#7b3fc4", illicit: "#c62828", sanctioned: "#1d2733", gambling: "#e08a00",
               miner: "#18794e", other: "#3c8d93", none: "#a3adb8", tx: "#7f8c9b"};
  G.NOTE_COLOURS = {red: "#e03131", orange: "#f08c00", yellow: "#f5c400", green: "#2f9e44", blue: "#1c7ed6",
                    purple: "#9c36b5"};
  G.groupOf = function (category) { return category ? (GROUP_OF[category] || "other") : "none"; };

  // -- small helpers -------------------------------------------------------------------------
  G.h = function (tag, attrs, children) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) { return; }
      if (k === "text") { el.textContent = String(v); } else if (k === "class") { el.className = v; } else if (typeof v === "function") { el.addEventListener(k, v); } else { el.setAttribute(k, v === true ? "" : String(v)); }
    });
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined && c !== false) { el.appendChild(typeof c === "string" ? document.createTextNode(c) : c); }
    });
    return el;
  };
  G.short = function (text, head, tail) {
    text = String(text || ""); head = head || 8; tail = tail || 6;
    return text.length <= head + tail + 1 ? text : text.slice(0, head) + "…" + text.slice(-tail);
  };
  G.cut = function (text, n) {
    text = String(text || "").replace(/\s+/g, " ").trim();
    return text.length <= n ? text : text.slice(0, n - 1) + "…";
  };
  G.symbolOf = function (e) {
    if (e.symbol) { return e.symbol; }
    return e.asset && /^0x|^T[1-9A-HJ-NP-Za-km-z]{33}$/.test(e.asset) ? G.short(e.asset, 6, 4) : (e.asset || "");
  };
  G.amount = function (value, decimals, symbol) {
    return ft.formatAmount(value === null || value === undefined ? "0" : String(value), decimals || 0, symbol);
  };
  G.edgeAmount = function (e, field) {
    return G.amount(e[field || "value"], e.decimals === null || e.decimals === undefined ? 0 : e.decimals, G.symbolOf(e));
  };
  G.int = function (n) { return Number(n || 0).toLocaleString(ft.page.lang === "zh_CN" ? "zh-CN" : "en-US"); };
  G.big = function (text) {
    try { return BigInt(text === null || text === undefined || text === "" ? 0 : String(text)); } catch (e) { return 0n; }
  };
  G.pageLink = function (kind, text) {
    var chain = encodeURIComponent(G.config.chain || "");
    if (kind === "address") { return "/" + chain + "/addresses/" + encodeURIComponent(text); }
    if (kind === "tx") { return "/" + chain + "/txs/" + encodeURIComponent(text); }
    return "/" + chain + "/clusters/" + encodeURIComponent(text);
  };
  G.categoryChip = function (category) {
    if (!category) { return null; }
    var label = ft.t("category." + category);
    return G.h("span", {"class": "cat cat-" + category, title: category, text: label.indexOf("category.") === 0 ? category : label});
  };

  // What the view draws now (its `off` class is the view's; Cytoscape's `:visible` can lag a batch).
  G.shown = function () { return G.cy.elements().not(".off"); };

  // -- events between the parts ----------------------------------------------------------------
  G.on = function (name, fn) { (G.listeners[name] = G.listeners[name] || []).push(fn); };
  G.emit = function (name, arg) { (G.listeners[name] || []).forEach(function (fn) { fn(arg); }); };

  // -- the status line: what is happening, and any error of the API (its one-line message) -------
  G.status = function (message, kind) {
    var el = document.getElementById("g-status");
    if (!el) { return; }
    el.textContent = message || "";
    el.className = "graph-status" + (kind ? " " + kind : "") + (message ? " shown" : "");
  };
  G.fail = function (error) {
    G.status((error && error.message) || String(error), "error");
    G.busy(false);
  };
  G.busy = function (on) { document.body.classList.toggle("graph-busy", !!on); };

  // -- node and edge elements --------------------------------------------------------------------
  // A node's label: a tagged address shows its tag and the address's ends, a cluster its top tag
  // (or its number) and size, then the note's start when it has one.
  G.nodeLabel = function (n) {
    var text = n.label || n.id;
    if (n.kind === "cluster") {
      text = n.tags && n.tags.length ? n.label + " (" + G.int(n.cluster_size) + ")"
        : t("cluster #{id} ({n})", {id: n.cluster_id, n: G.int(n.cluster_size)});
    }
    var note = G.annotations[n.id];
    if (note && note.note) { return G.cut(text, 32) + "\n✎ " + G.cut(note.note, 24); }  // two lines at most
    if (n.kind === "address" && n.address && n.tags && n.tags.length) {
      text = G.cut(n.label, 32) + "\n" + G.short(n.address, 6, 4);
    }
    return text;
  };
  G.nodeData = function (n) {
    var group = n.kind === "tx" ? "tx" : G.groupOf(n.category);
    var d = Object.assign({}, n, {group: group, color: G.COLOURS[group], display: G.nodeLabel(n)});
    var note = G.annotations[n.id];
    d.anno = note && note.colour ? G.NOTE_COLOURS[note.colour] || "#e03131" : "#e03131";
    if (n.kind === "cluster") { d.size = Math.min(70, 28 + 6 * Math.log10(1 + (n.cluster_size || 1))); }
    return d;
  };
  G.edgeData = function (e) {
    var d = Object.assign({}, e);
    d.w = G.widthOf(e.tainted);
    return d;
  };
  G.widthOf = function (tainted) {
    if (!tainted || !G.taintMax) { return 1.3; }
    var v = Number(tainted), max = Number(G.taintMax);
    if (!(v > 0)) { return 1.3; }
    return 1.5 + 4.5 * Math.log(1 + v) / Math.log(1 + Math.max(max, v));
  };
  G.nodeClasses = function (id) {
    var cls = [];
    if (G.annotations[id] && (G.annotations[id].note || G.annotations[id].colour)) { cls.push("annotated"); }
    if (G.pinned.has(id)) { cls.push("pinned"); }
    return cls.join(" ");
  };
  G.refreshNode = function (id) {
    var n = G.nodes.get(id), el = G.cy.getElementById(id);
    if (!n || el.empty()) { return; }
    el.data("display", G.nodeLabel(n));
    var note = G.annotations[id];
    el.data("anno", note && note.colour ? G.NOTE_COLOURS[note.colour] || "#e03131" : "#e03131");
    el.toggleClass("annotated", !!(note && (note.note || note.colour)));
  };

  // -- merging what the API gave into the canvas -------------------------------------------------
  // `page` holds `nodes` and `edges` (a GraphPage or a TraceGraph); `positions` (id -> {x, y}) says
  // where new nodes go. Returns the ids of what was new, for undo.
  G.merge = function (page, positions) {
    var newNodes = [], newEdges = [];
    (page.nodes || []).forEach(function (n) {
      if (!n || !n.id) { return; }
      var known = G.nodes.get(n.id);
      if (known) {
        Object.keys(n).forEach(function (k) { if (known[k] === null || known[k] === undefined) { known[k] = n[k]; } });
      } else {
        G.nodes.set(n.id, n);
        newNodes.push(n);
      }
    });
    (page.edges || []).forEach(function (e) {
      if (!e || !e.id || !G.nodes.has(e.source) || !G.nodes.has(e.target)) { return; }
      var known = G.edges.get(e.id);
      if (known) {
        if (e.tainted !== null && e.tainted !== undefined) { known.tainted = e.tainted; }
      } else {
        G.edges.set(e.id, e);
        newEdges.push(e);
      }
    });
    positions = positions || {};
    G.cy.batch(function () {
      G.cy.add(newNodes.map(function (n) {
        return {group: "nodes", data: G.nodeData(n), position: positions[n.id] || {x: 0, y: 0}, classes: G.nodeClasses(n.id)};
      }));
      G.cy.add(newEdges.map(function (e) {
        return {group: "edges", data: G.edgeData(e), classes: e.kind === "member" ? "member" : ""};
      }));
    });
    return {nodes: newNodes.map(function (n) { return n.id; }), edges: newEdges.map(function (e) { return e.id; })};
  };

  // Remove raw nodes and edges (undo of an expansion or an overlay): from the canvas and the data.
  G.removeRaw = function (nodeIds, edgeIds) {
    var gone = new Set(nodeIds || []);
    (edgeIds || []).forEach(function (id) { G.edges.delete(id); });
    G.edges.forEach(function (e, id) { if (gone.has(e.source) || gone.has(e.target)) { G.edges.delete(id); } });
    gone.forEach(function (id) {
      G.nodes.delete(id); G.hidden.delete(id); delete G.annotations[id]; delete G.paging[id];
      G.pinned.delete(id);
    });
    G.cy.batch(function () {
      (edgeIds || []).forEach(function (id) { G.cy.getElementById(id).remove(); });
      gone.forEach(function (id) { G.cy.getElementById(id).remove(); });
    });
    if (G.selected && gone.has(G.selected)) { G.select(null); }
  };

  // -- where new nodes go: beside the node they were expanded from --------------------------------
  // Senders to the left, receivers to the right, in columns of PER_COLUMN; cluster members in rows
  // below. Each page continues where the last one of that side ended (no overlap when paging).
  var PER_COLUMN = 20, COLUMN_GAP = 150, ROW_GAP = 46, FIRST_GAP = 180;
  G.placeAround = function (centerId, page) {
    var c = G.cy.getElementById(centerId);
    var p = c.nonempty() ? c.position() : {x: 0, y: 0};
    var side = {};
    (page.edges || []).forEach(function (e) {
      if (e.target === centerId) { side[e.source] = side[e.source] || -1; } else if (e.source === centerId) { side[e.target] = side[e.target] || 1; } else {
        if (side[e.source] === undefined) { side[e.source] = -1; }
        if (side[e.target] === undefined) { side[e.target] = 1; }
      }
    });
    var fresh = (page.nodes || []).filter(function (n) { return n.id !== centerId && !G.nodes.has(n.id); });
    var bySide = {"-1": [], "1": [], "0": []};
    fresh.forEach(function (n) { bySide[String(side[n.id] || 0)].push(n.id); });
    var positions = {}, taken = occupied();
    function free(pos) { return !taken.has(cell(pos.x, pos.y)); }
    ["-1", "1"].forEach(function (s) {
      var ids = bySide[s], key = centerId + "|" + s, j = G.placed[key] || 0, sign = Number(s), first = j === 0;
      ids.forEach(function (id) {
        for (;;) {  // the next slot no other node sits on
          var col = Math.floor(j / PER_COLUMN), row = j % PER_COLUMN;
          var rows = first ? Math.min(PER_COLUMN, ids.length - col * PER_COLUMN) : PER_COLUMN;
          var pos = {x: p.x + sign * (FIRST_GAP + col * COLUMN_GAP), y: p.y + (row - (rows - 1) / 2) * ROW_GAP};
          j += 1;
          if (free(pos)) { positions[id] = pos; take(taken, pos); break; }
        }
      });
      G.placed[key] = j;
    });
    var key0 = centerId + "|0", k = G.placed[key0] || 0, perRow = 10;
    bySide["0"].forEach(function (id) {
      for (;;) {
        var pos = {x: p.x + (k % perRow - (perRow - 1) / 2) * 130, y: p.y + 90 + Math.floor(k / perRow) * 60};
        k += 1;
        if (free(pos)) { positions[id] = pos; take(taken, pos); break; }
      }
    });
    G.placed[key0] = k;
    return positions;
  };
  // Cells of a coarse grid that hold a node now (a new node is not put on top of another).
  // A node and its label take about 120 x 40: a cell of 60 x 40 and its left and right neighbours.
  function cell(x, y) { return Math.round(x / 60) + ":" + Math.round(y / 40); }
  function take(taken, pos) {
    var cx = Math.round(pos.x / 60), cy = Math.round(pos.y / 40);
    taken.add((cx - 1) + ":" + cy).add(cx + ":" + cy).add((cx + 1) + ":" + cy);
  }
  function occupied() {
    var taken = new Set();
    G.cy.nodes().forEach(function (n) {
      var q = n.position(), cx = Math.round(q.x / 60), cy = Math.round(q.y / 40);
      taken.add((cx - 1) + ":" + cy).add(cx + ":" + cy).add((cx + 1) + ":" + cy);
    });
    return taken;
  }

  // Columns by distance from `roots` along `edges` ([source, target] pairs), left to right from
  // `anchor`: the positions of `ids`. A column of more than PER_COLUMN nodes wraps into several,
  // each node near its predecessor's height. Nodes no root reaches start columns of their own.
  // `avoid`: grid cells (`occupied`) of nodes that stay, which new ones move down from.
  G.layered = function (ids, edges, roots, anchor, avoid) {
    var out = {}, depth = {}, parent = {}, queue = [], placing = new Set(ids);
    edges.forEach(function (e) { (out[e[0]] = out[e[0]] || []).push(e[1]); });
    function walk(from) {
      for (var q = from; q < queue.length; q++) {
        (out[queue[q]] || []).forEach(function (n) {
          if (depth[n] === undefined) { depth[n] = depth[queue[q]] + 1; parent[n] = queue[q]; queue.push(n); }
        });
      }
    }
    roots.forEach(function (r) { if (depth[r] === undefined) { depth[r] = 0; queue.push(r); } });
    walk(0);
    ids.forEach(function (id) {
      if (depth[id] === undefined) { var at = queue.length; depth[id] = roots.length ? 1 : 0; queue.push(id); walk(at); }
    });
    var columns = {}, positions = {};
    ids.forEach(function (id) { (columns[depth[id]] = columns[depth[id]] || []).push(id); });
    function yOf(id) {
      if (id === undefined) { return anchor.y; }
      if (positions[id]) { return positions[id].y; }
      var el = G.cy.getElementById(id);
      return el.nonempty() && !placing.has(id) ? el.position("y") : anchor.y;
    }
    var x = anchor.x - 150;
    Object.keys(columns).map(Number).sort(function (a, b) { return a - b; }).forEach(function (d) {
      var col = columns[d].slice().sort(function (a, b) { return yOf(parent[a]) - yOf(parent[b]); });
      var wraps = Math.ceil(col.length / PER_COLUMN), rows = Math.ceil(col.length / wraps);
      x += 150;
      col.forEach(function (id, i) {  // round robin: neighbours in the order stay neighbours
        var w = i % wraps, row = Math.floor(i / wraps);
        var pos = {x: x + w * 70, y: anchor.y + (row - (rows - 1) / 2) * ROW_GAP + (w % 2) * ROW_GAP / 2};
        while (avoid && avoid.has(cell(pos.x, pos.y))) { pos.y += ROW_GAP; }
        positions[id] = pos;
      });
      x += (wraps - 1) * 70;
    });
    return positions;
  };

  // Where a trace's new nodes go: in columns to the right of the seeds.
  G.placeLayered = function (seedIds, page) {
    var fresh = (page.nodes || []).filter(function (n) { return !G.nodes.has(n.id); }).map(function (n) { return n.id; });
    var seedEl = seedIds.length ? G.cy.getElementById(seedIds[0]) : null;
    var anchor = seedEl && seedEl.nonempty() ? seedEl.position() : {x: 0, y: 0};
    var edges = (page.edges || []).map(function (e) { return [e.source, e.target]; });
    var onCanvas = seedIds.filter(function (s) { return G.nodes.has(s); });
    var positions = G.layered(fresh, edges, onCanvas.length ? onCanvas : seedIds, {x: anchor.x + 150, y: anchor.y},
                              occupied());
    return positions;
  };

  // -- undo: every change pushes how to take it back -------------------------------------------
  var UNDO_DEPTH = 200;
  G.pushUndo = function (label, undo) {
    G.undoStack.push({label: label, undo: undo});
    if (G.undoStack.length > UNDO_DEPTH) { G.undoStack.shift(); }
    G.emit("undo-changed");
  };
  G.undo = function () {
    var entry = G.undoStack.pop();
    if (!entry) { return false; }
    entry.undo();
    G.refresh();
    G.emit("undo-changed");
    G.emit("changed");
    G.status(t("Undone: {what}", {what: entry.label}), "info");
    return true;
  };

  // Resolves once the canvas has drawn what was just changed (two animation frames).
  G.rendered = function () {
    return new Promise(function (resolve) {
      window.requestAnimationFrame(function () { window.requestAnimationFrame(function () { resolve(); }); });
    });
  };
})();
