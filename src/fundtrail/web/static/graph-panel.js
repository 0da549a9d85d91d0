// fundtrail graph canvas, part 3 of 6: expanding nodes a page at a time, and the side panel of the
// selected node or edge (details, expand, note and colour, pin, hide).
//
// An expansion asks the graph API for one hop in one direction, `G.config.pageSize` edges at a
// time; the API's `next_cursor` is kept per node and direction, so "load 100 more (n left)" goes on
// where the last page ended. A transaction with 5,000 outputs therefore arrives a hundred at a time.
(function () {
  "use strict";
  var ft = window.ft, t = ft.t, G = ft.graph, h = G.h;

  // -- expanding -----------------------------------------------------------------------------
  function apiPath(n, direction, cursor, limit) {
    var what = {address: ["addresses", n.address], tx: ["txs", n.txid]}[n.kind] || ["clusters", String(n.cluster_id)];
    var path = "/api/v1/" + encodeURIComponent(G.config.chain) + "/graph/" + what[0] + "/" + encodeURIComponent(what[1]) +
      "?limit=" + (limit || G.config.pageSize || 100) + (n.kind === "cluster" ? "" : "&direction=" + direction);
    return cursor ? path + "&cursor=" + encodeURIComponent(cursor) : path;
  }

  // Members of a cluster page hang on the cluster node by dashed links (no flow: no time, no value).
  function memberLinks(page) {
    if (!page.center || page.center.indexOf("c:") !== 0) { return page; }
    var links = page.nodes.filter(function (n) { return n.id !== page.center; }).map(function (n) {
      return {id: "m:" + page.center.slice(2) + ":" + n.id.slice(2), source: page.center, target: n.id, kind: "member",
              txid: null, value: "0", asset: "", decimals: 0, time: null, height: null, count: 1, tainted: null};
    });
    return Object.assign({}, page, {edges: (page.edges || []).concat(links)});
  }

  // Put a GraphPage on the canvas beside its centre; returns what was new and how to undo it.
  G.mergePage = function (page, direction, anchor) {
    page = memberLinks(page);
    var center = page.center, placedBefore = {};
    ["-1", "1", "0"].forEach(function (s) { placedBefore[s] = G.placed[center + "|" + s]; });
    var centerAdded = [];
    if (!G.nodes.has(center)) {
      var at = {};
      at[center] = anchor || {x: 0, y: 0};
      centerAdded = G.merge({nodes: page.nodes.filter(function (n) { return n.id === center; }), edges: []}, at).nodes;
    }
    var added = G.merge(page, G.placeAround(center, page));
    added.nodes = centerAdded.concat(added.nodes);
    var before = G.paging[center] ? JSON.parse(JSON.stringify(G.paging[center])) : null;
    var last = before && before[direction], real = page.edges.filter(function (e) { return e.kind !== "member"; });
    var count = center.indexOf("c:") === 0 ? page.nodes.length - 1 : real.length;
    var paging = G.paging[center] = G.paging[center] || {};
    paging[direction] = {cursor: page.next_cursor, total: page.total, loaded: (last ? last.loaded : 0) + count};
    if (direction === "both" && !page.next_cursor && !last) {  // the whole neighbourhood: both ways done
      var ins = real.filter(function (e) { return e.target === center; }).length;
      paging["in"] = {cursor: null, total: ins, loaded: ins};
      paging.out = {cursor: null, total: real.length - ins, loaded: real.length - ins};
    }
    return {nodes: added.nodes, edges: added.edges, undo: function () {
      G.removeRaw(added.nodes, added.edges);
      if (before) { G.paging[center] = before; } else { delete G.paging[center]; }
      ["-1", "1", "0"].forEach(function (s) {
        if (placedBefore[s] === undefined) { delete G.placed[center + "|" + s]; } else { G.placed[center + "|" + s] = placedBefore[s]; }
      });
    }};
  };

  function fetchPage(n, direction, limit) {
    var state = G.paging[n.id] && G.paging[n.id][direction];
    if (state && !state.cursor) { return Promise.resolve(null); }  // every page of it is on the canvas
    return ft.api(apiPath(n, direction, state ? state.cursor : null, limit));
  }

  // Expand `nodeId` one hop: "in", "out", "both" (a cluster: its members); a second call loads the
  // next page. "more" goes on with the first page's paging (both ways) while it has pages left.
  // `limit`: edges per page (default the page size, 100). Resolves when the canvas has drawn it.
  var inflight = {};
  G.expand = function (nodeId, direction, limit) {
    if (inflight[nodeId]) { return inflight[nodeId]; }  // a second click while a page is on its way
    var running = expandNow(nodeId, direction, limit);
    inflight[nodeId] = running;
    G.renderPanel();
    function settle() { delete inflight[nodeId]; G.renderPanel(); }
    running.then(settle, settle);
    return running;
  };
  function expandNow(nodeId, direction, limit) {
    var n = G.nodes.get(nodeId), entity = G.derived.get(nodeId);
    if (!n && entity && entity.kind === "entity") { nodeId = "c:" + entity.cluster_id; }  // its cluster's members
    if (!n && /^c:\d+$/.test(nodeId)) {  // a cluster known by its entity only
      n = G.nodes.get(nodeId) || {kind: "cluster", id: nodeId, cluster_id: Number(nodeId.slice(2))};
    }
    if (!n) { return Promise.reject(new Error(t("There is no node {id} on the canvas.", {id: nodeId}))); }
    var paging = G.paging[n.id] || {};
    var dirs = n.kind === "cluster" ? ["members"] : direction === "more" ? ["both"] : direction === "both" ? ["in", "out"]
      : [direction === "in" ? "in" : "out"];
    if (direction === "both" && paging.both && paging.both.cursor) { dirs = ["both"]; }
    var anchorEl = G.cy.getElementById(nodeId);
    if (anchorEl.empty() && n.kind === "cluster") { anchorEl = G.cy.getElementById("e:" + n.cluster_id); }
    var anchor = anchorEl.nonempty() ? anchorEl.position() : null;
    var undos = [], added = 0, addedEdges = 0, fresh = [];
    G.busy(true);
    G.status(t("Loading…"), "busy");
    var chain = Promise.resolve();
    dirs.forEach(function (d) {
      chain = chain.then(function () {
        return fetchPage(n, d, limit).then(function (page) {
          if (!page) { return; }
          var got = G.mergePage(page, d, anchor);
          undos.push(got.undo);
          added += got.nodes.length;
          addedEdges += got.edges.length;
          fresh = fresh.concat(got.nodes);
        });
      });
    });
    return chain.then(function () {
      if (undos.length) {
        G.pushUndo(t("expand"), function () { undos.slice().reverse().forEach(function (u) { u(); }); });
      }
      G.refresh();
      G.emit("merged");
      G.emit("changed");
      G.busy(false);
      G.status(added || addedEdges ? t("{n} new nodes, {m} new edges", {n: G.int(added), m: G.int(addedEdges)})
        : t("Nothing new: every neighbour is already on the canvas."), "info");
      G.revealNew(fresh.concat([n.id]));
      return G.rendered();
    }, function (error) {
      undos.slice().reverse().forEach(function (u) { u(); });
      G.refresh();
      G.fail(error);
      throw error;
    });
  }
  G.expanding = function (nodeId) { return !!inflight[nodeId]; };

  // Keep the new part in view: fit again when it (labels included) reaches outside the viewport.
  G.revealNew = function (ids) {
    var cy = G.cy, wanted = ids ? new Set(ids) : null;
    var part = wanted ? G.shown().nodes().filter(function (n) { return wanted.has(n.id()); }) : G.shown();
    if (part.empty()) { return; }
    var box = part.renderedBoundingBox({includeLabels: true}), w = cy.width(), h = cy.height();
    if (box.x1 < 0 || box.y1 < 0 || box.x2 > w || box.y2 > h) {
      cy.fit(G.shown(), 50);
      if (cy.zoom() > 1.6) { cy.zoom(1.6); cy.center(); }
    }
  };

  // -- pin, hide, annotate (each undoable) ---------------------------------------------------------
  G.pin = function (id, on) {
    var el = G.cy.getElementById(id), was = G.pinned.has(id);
    if (el.empty() || was === !!on) { return; }
    function set(v) {
      if (v) { G.pinned.add(id); el.lock(); } else { G.pinned.delete(id); el.unlock(); }
      el.toggleClass("pinned", v);
    }
    set(!!on);
    G.pushUndo(on ? t("pin") : t("unpin"), function () { set(was); });
    G.emit("changed");
  };

  G.membersOf = function (id) {
    var d = G.derived.get(id);
    if (d && d.kind === "entity") { return d.members.concat(G.nodes.has("c:" + d.cluster_id) ? ["c:" + d.cluster_id] : []); }
    return G.nodes.has(id) ? [id] : [];
  };
  G.hide = function (ids) {
    var fresh = [];
    (Array.isArray(ids) ? ids : [ids]).forEach(function (id) {
      G.membersOf(id).forEach(function (m) { if (!G.hidden.has(m)) { G.hidden.add(m); fresh.push(m); } });
    });
    if (!fresh.length) { return; }
    if (G.selected && (fresh.indexOf(G.selected) >= 0 || !G.nodes.has(G.selected))) { G.select(null); }
    G.pushUndo(t("hide"), function () { fresh.forEach(function (m) { G.hidden.delete(m); }); });
    G.refresh();
    G.emit("changed");
  };
  G.unhideAll = function () {
    var back = Array.from(G.hidden);
    if (!back.length) { return; }
    G.hidden.clear();
    G.pushUndo(t("show hidden"), function () { back.forEach(function (m) { G.hidden.add(m); }); });
    G.refresh();
    G.emit("changed");
  };

  G.annotate = function (id, note, colour) {
    if (!G.nodes.has(id)) { throw new Error(t("Notes go on addresses, transactions and clusters, not on entities.")); }
    var before = G.annotations[id] ? Object.assign({}, G.annotations[id]) : null;
    note = String(note || "").slice(0, 1000);
    colour = colour && G.NOTE_COLOURS[colour] ? colour : null;
    function set(value) {
      if (value && (value.note || value.colour)) { G.annotations[id] = value; } else { delete G.annotations[id]; }
      G.refreshNode(id);
    }
    set({note: note, colour: colour});
    G.pushUndo(t("note"), function () { set(before); });
    G.emit("changed");
  };

  // -- selection and the side panel -----------------------------------------------------------------
  G.select = function (id) {
    G.selected = id;
    G.cy.elements(":selected").unselect();
    if (id) { G.cy.getElementById(id).select(); }
    if (id && G.showTab) { G.showTab("details"); }
    G.renderPanel();
  };

  function kindLabel(n) {
    return {address: t("Address"), tx: t("Transaction"), cluster: t("Cluster"), entity: t("Entity (cluster)")}[n.kind] || n.kind;
  }
  function dirLabel(n, d) {
    if (d === "members") { return t("Load members"); }
    if (d === "both") { return t("Expand both ways"); }
    if (G.config.family === "account") { return d === "in" ? t("Expand senders") : t("Expand receivers"); }
    return d === "in" ? t("Expand inputs") : t("Expand outputs");
  }
  function fact(label, value) {
    return h("div", {}, [h("dt", {text: label}), h("dd", {}, Array.isArray(value) ? value : [value])]);
  }
  function link(href, text) { return h("a", {href: href, text: text}); }

  function expandRows(n) {
    var box = h("div", {"class": "expand"}, [h("h3", {text: t("Expand")})]);
    var paging = G.paging[n.id] || {};
    var dirs = n.kind === "cluster" ? ["members"] : paging.both ? ["both"] : ["in", "out"];
    dirs.forEach(function (d) {
      var state = paging[d], degree = d === "in" ? n.degree_in : d === "out" ? n.degree_out : n.cluster_size;
      var label, info = null, done = false;
      if (!state) {
        label = dirLabel(n, d) + (degree !== null && degree !== undefined ? " (" + G.int(degree) + ")" : "");
      } else if (state.cursor) {
        var left = Math.max(0, state.total - state.loaded);
        label = t("Load {n} more ({left} left)", {n: G.int(Math.min(G.config.pageSize || 100, left)), left: G.int(left)});
        info = t("{loaded} of {total} loaded", {loaded: G.int(state.loaded), total: G.int(state.total)});
      } else {
        label = dirLabel(n, d);
        info = t("all {total} loaded", {total: G.int(state.total)});
        done = true;
      }
      var button = h("button", {type: "button", "class": "expand-" + d, disabled: done || G.expanding(n.id), text: label, click: function () {
        G.expand(n.id, d === "both" ? "more" : d).catch(function () { return null; });
      }});
      box.appendChild(h("div", {"class": "row"}, [button, info ? h("span", {"class": "muted small pageinfo", text: info}) : null]));
    });
    if (n.kind !== "cluster") { box.appendChild(h("p", {"class": "muted small", text: t("Double-click a node to expand both ways.")})); }
    return box;
  }

  function noteEditor(n) {
    var current = G.annotations[n.id] || {note: "", colour: null}, chosen = current.colour;
    var area = h("textarea", {id: "g-note", rows: 3, maxlength: 1000, placeholder: t("A note for this node (saved with the graph)")});
    area.value = current.note || "";
    var swatches = h("div", {"class": "swatches", role: "radiogroup", "aria-label": t("Colour")});
    var names = {red: t("red"), orange: t("orange"), yellow: t("yellow"), green: t("green"), blue: t("blue"), purple: t("purple")};
    Object.keys(G.NOTE_COLOURS).forEach(function (c) {
      var b = h("button", {type: "button", "class": "swatch note-" + c + (c === chosen ? " chosen" : ""), title: names[c],
                           "aria-label": names[c], "data-colour": c, click: function () {
        chosen = chosen === c ? null : c;
        Array.prototype.forEach.call(swatches.children, function (x) { x.classList.toggle("chosen", x.getAttribute("data-colour") === chosen); });
      }});
      swatches.appendChild(b);
    });
    var save = h("button", {type: "button", id: "g-note-save", "class": "primary", text: t("Save note"), click: function () {
      G.annotate(n.id, area.value, chosen);
      G.status(t("Note saved on the canvas; save the graph to keep it."), "info");
    }});
    var clear = h("button", {type: "button", id: "g-note-clear", text: t("Remove note"), disabled: !G.annotations[n.id], click: function () {
      G.annotate(n.id, "", null);
    }});
    var shown = current.note ? h("p", {"class": "note-text", id: "g-note-text", text: current.note}) : null;
    var box = h("details", {"class": "note", open: !!G.annotations[n.id]}, [h("summary", {}, [h("h3", {text: t("Note and colour")})]),
      area, swatches, h("div", {"class": "row"}, [save, clear])]);
    return h("div", {}, [shown, box]);
  }

  function tagList(tags) {
    if (!tags || !tags.length) { return h("p", {"class": "muted small", text: t("No tag")}); }
    var seen = new Set();
    tags = tags.filter(function (tag) {  // a cluster's members carry the same tag: list it once
      var key = [tag.label, tag.category, tag.source, tag.actor, tag.inherited].join("\u0000");
      return seen.has(key) ? false : (seen.add(key), true);
    });
    return h("ul", {"class": "tags"}, tags.map(function (tag) {
      return h("li", {}, [G.categoryChip(tag.category), " ", h("strong", {text: tag.label}),
        tag.inherited ? h("span", {"class": "muted small", text: " · " + t("through its cluster")}) : null,
        tag.actor ? h("span", {"class": "muted small", text: " · " + tag.actor}) : null,
        tag.source ? h("div", {"class": "muted small", text: tag.source}) : null]);
    }));
  }

  function traceFacts(id) {
    var eps = G.trace && G.trace.byNode ? G.trace.byNode[id] : null;
    if (!eps || !eps.length) { return null; }
    return h("div", {"class": "trace-facts"}, eps.map(function (ep) {
      return h("p", {}, [h("strong", {text: G.reasonLabel(ep.reason)}), " · ",
        G.amount(ep.tainted, ep.decimals, ep.asset), ep.label ? " · " + ep.label : ""]);
    }));
  }

  function nodePanel(n) {
    var out = [h("h2", {}, [kindLabel(n), " ", G.categoryChip(n.category)])];
    var facts = h("dl", {"class": "facts"});
    if (n.kind === "address") {
      out.push(h("p", {}, [h("strong", {text: n.label})]));
      out.push(h("p", {}, [h("code", {"class": "addr", text: n.address})]));
      out.push(h("p", {}, [link(G.pageLink("address", n.address), t("Open the address page"))]));
      facts.appendChild(fact(t("Balance"), G.amount(n.balance, G.config.decimals, G.config.symbol)));
      facts.appendChild(fact(t("Cluster"), n.cluster_id === null || n.cluster_id === undefined ? h("span", {"class": "muted", text: t("not clustered")})
        : [link(G.pageLink("cluster", n.cluster_id), "#" + n.cluster_id), " ", h("span", {"class": "muted", text: t("{n} addresses", {n: G.int(n.cluster_size)})})]));
    } else if (n.kind === "tx") {
      out.push(h("p", {}, [h("code", {"class": "txid", text: n.txid})]));
      out.push(h("p", {}, [link(G.pageLink("tx", n.txid), t("Open the transaction page"))]));
      facts.appendChild(fact(t("Time"), ft.formatTime(n.time)));
      facts.appendChild(fact(t("Block"), n.height === null || n.height === undefined ? "" : G.int(n.height)));
    } else {
      out.push(h("p", {}, [h("strong", {text: G.nodeLabel(n).split("\n")[0]})]));
      out.push(h("p", {}, [link(G.pageLink("cluster", n.cluster_id), t("Open the cluster page")), " · ",
        h("span", {"class": "muted", text: t("{n} addresses", {n: G.int(n.cluster_size)})})]));
    }
    if (n.kind !== "cluster") {
      facts.appendChild(fact(G.config.family === "account" ? t("Transfers in / out") : t("Inputs / outputs"),
        G.int(n.degree_in) + " / " + G.int(n.degree_out)));
    }
    out.push(facts);
    if (n.kind !== "tx") { out.push(h("h3", {text: t("Tags")}), tagList(n.tags)); }
    out.push(traceFacts(n.id));
    out.push(expandRows(n));
    out.push(noteEditor(n));
    out.push(h("div", {"class": "row actions"}, [
      h("button", {type: "button", id: "g-pin", text: G.pinned.has(n.id) ? t("Unpin") : t("Pin"), click: function () { G.pin(n.id, !G.pinned.has(n.id)); }}),
      h("button", {type: "button", id: "g-hide", text: t("Hide"), click: function () { G.hide(n.id); }})]));
    return out;
  }

  function entityPanel(d) {
    var out = [h("h2", {}, [t("Entity (cluster)"), " ", G.categoryChip(d.category)]),
      h("p", {}, [h("strong", {text: d.label})]),
      h("p", {}, [link(G.pageLink("cluster", d.cluster_id), t("Open the cluster page")), " · ",
        h("span", {"class": "muted", text: t("{shown} of its {n} addresses on the canvas", {shown: G.int(d.members.length), n: G.int(d.cluster_size)})})])];
    out.push(h("h3", {text: t("Tags")}), tagList(d.tags.slice(0, 5)));
    out.push(h("h3", {text: t("Addresses")}));
    out.push(h("ul", {"class": "members"}, d.members.slice(0, 15).map(function (m) {
      var n = G.nodes.get(m);
      return h("li", {}, [link(G.pageLink("address", n.address), G.short(n.address, 12, 8))]);
    })));
    if (d.members.length > 15) { out.push(h("p", {"class": "muted small", text: t("and {n} more", {n: G.int(d.members.length - 15)})})); }
    var cluster = G.nodes.get("c:" + d.cluster_id) || {kind: "cluster", id: "c:" + d.cluster_id, cluster_id: d.cluster_id, cluster_size: d.cluster_size};
    out.push(expandRows(cluster));
    out.push(h("div", {"class": "row actions"}, [h("button", {type: "button", id: "g-hide", text: t("Hide"), click: function () { G.hide(d.id); }})]));
    return out;
  }

  function edgeTitle(e) {
    return {input: t("Input"), output: t("Output"), transfer: t("Transfer"), folded: t("Folded flow"), entity: t("Flow between entities"),
            member: t("Cluster member")}[e.kind] || e.kind;
  }
  function endLabel(id) {
    var n = G.nodes.get(id) || G.derived.get(id);
    return n ? (n.label || id) : id;
  }
  function edgePanel(e) {
    var out = [h("h2", {text: edgeTitle(e)}), h("p", {}, [h("strong", {text: endLabel(e.source)}), " → ", h("strong", {text: endLabel(e.target)})])];
    var facts = h("dl", {"class": "facts"});
    if (e.kind !== "member") {
      facts.appendChild(fact(t("Amount"), G.edgeAmount(e)));
      if (e.tainted) { facts.appendChild(fact(t("Traced amount"), G.edgeAmount(e, "tainted"))); }
      if (e.count > 1 || e.kind === "folded" || e.kind === "entity") { facts.appendChild(fact(e.kind === "folded" ? t("Transactions") : t("Flows"), G.int(e.count))); }
      if (e.time) { facts.appendChild(fact(t("Time"), ft.formatTime(e.time) + (e.time_last && e.time_last !== e.time ? " – " + ft.formatTime(e.time_last) : ""))); }
      if (e.transfer_kind) { facts.appendChild(fact(t("Kind"), e.transfer_kind)); }
    }
    out.push(facts);
    var txids = e.txids || (e.txid ? [e.txid] : []);
    if (txids.length) {
      out.push(h("h3", {text: t("Transactions")}));
      out.push(h("ul", {"class": "members"}, txids.slice(0, 20).map(function (x) { return h("li", {}, [link(G.pageLink("tx", x), G.short(x, 14, 10))]); })));
    }
    return out;
  }

  G.renderPanel = function () {
    var panel = document.getElementById("g-panel");
    if (!panel) { return; }
    var id = G.selected, content;
    var el = id ? G.cy.getElementById(id) : null;
    if (!id || !el || el.empty()) {
      content = [h("p", {"class": "muted", text: t("Click a node to see its details; double-click expands it.")})];
    } else if (el.isEdge() && (G.edges.has(id) || G.derived.has(id))) {
      content = edgePanel(G.edges.get(id) || G.derived.get(id));
    } else if (G.nodes.has(id)) {
      content = nodePanel(G.nodes.get(id));
    } else if (G.derived.has(id) && G.derived.get(id).kind === "entity") {
      content = entityPanel(G.derived.get(id));
    } else {  // an element a script put on the canvas without its data
      content = [h("p", {"class": "muted", text: id})];
    }
    var keepNote = document.getElementById("g-note");
    var typing = keepNote && document.activeElement === keepNote ? keepNote.value : null;
    panel.textContent = "";
    content.forEach(function (c) { if (c) { panel.appendChild(c); } });
    if (typing !== null && document.getElementById("g-note")) { document.getElementById("g-note").value = typing; }
  };
  G.on("changed", function () { G.renderPanel(); });
})();
