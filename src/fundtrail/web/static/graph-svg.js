// fundtrail workbench: the canvas as an SVG document, drawn from Cytoscape's own layout and styles.
// Our own exporter (no third-party SVG plug-in): nodes as circles, rectangles or diamonds with their
// colour, border and label; edges as straight or curved paths with their width, colour and an arrow;
// edge labels (amounts) at their middle; hidden elements left out. window.ftSvg(cy, shown) returns the SVG text of `shown` (default: all drawn).
(function () {
  "use strict";
  function esc(text) {
    return String(text == null ? "" : text).replace(/&/g, "&amp;").replace(/</g, "&lt;")
      .replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }
  function num(v) { return Math.round(v * 100) / 100; }
  function colour(ele, prop, fallback) {
    var v = ele.style(prop);
    return v && v !== "none" ? v : fallback;
  }
  function px(ele, prop, fallback) {
    var v = parseFloat(ele.style(prop));
    return isNaN(v) ? fallback : v;
  }
  function visible(ele) {
    return ele.visible() && ele.style("display") !== "none" && parseFloat(ele.style("opacity")) > 0;
  }
  function nodeShape(node) {
    var p = node.position(), w = node.width(), h = node.height();
    var fill = colour(node, "background-color", "#999");
    var stroke = colour(node, "border-color", "none"), sw = px(node, "border-width", 0);
    var paint = ' fill="' + esc(fill) + '" stroke="' + esc(sw > 0 ? stroke : "none") + '" stroke-width="' + num(sw) + '"';
    var shape = node.style("shape");
    if (shape === "rectangle" || shape === "square" || shape === "round-rectangle" || shape === "roundrectangle") {
      var r = shape.indexOf("round") === 0 ? Math.min(w, h) / 6 : 0;
      return '<rect x="' + num(p.x - w / 2) + '" y="' + num(p.y - h / 2) + '" width="' + num(w) + '" height="' +
        num(h) + '" rx="' + num(r) + '"' + paint + "/>";
    }
    if (shape === "diamond") {
      return '<polygon points="' + [[p.x, p.y - h / 2], [p.x + w / 2, p.y], [p.x, p.y + h / 2], [p.x - w / 2, p.y]]
        .map(function (q) { return num(q[0]) + "," + num(q[1]); }).join(" ") + '"' + paint + "/>";
    }
    return '<ellipse cx="' + num(p.x) + '" cy="' + num(p.y) + '" rx="' + num(w / 2) + '" ry="' + num(h / 2) + '"' + paint + "/>";
  }
  // A label of one or more lines (Cytoscape wraps at "\n"; SVG text does not: one tspan per line).
  function label(text, x, y, size, fill, weight) {
    var lines = String(text).split("\n");
    var out = '<text x="' + num(x) + '" y="' + num(y) + '" font-size="' + num(size) + '" text-anchor="middle" fill="' +
      esc(fill) + '"' + (weight ? ' font-weight="' + esc(weight) + '"' : "") + ">";
    lines.forEach(function (line, i) {
      out += '<tspan x="' + num(x) + '" dy="' + (i ? num(size * 1.2) : 0) + '">' + esc(line) + "</tspan>";
    });
    return out + "</text>";
  }
  function nodeLabel(node) {
    var text = node.style("label");
    if (!text) { return ""; }
    var p = node.position(), size = px(node, "font-size", 10);
    var below = node.style("text-valign") !== "center";
    var y = below ? p.y + node.height() / 2 + size + 2 : p.y + size / 3;
    return label(text, p.x, y, size, colour(node, "color", "#1d2733"), node.style("font-weight"));
  }
  function edgeLabel(edge) {
    var text = edge.style("label");
    if (!text) { return ""; }
    var m = edge.midpoint ? edge.midpoint() : null;
    if (!m) {
      var s = edge.sourceEndpoint(), t = edge.targetEndpoint();
      m = {x: (s.x + t.x) / 2, y: (s.y + t.y) / 2};
    }
    var size = px(edge, "font-size", 9);
    return label(text, m.x, m.y - 3, size, colour(edge, "color", "#3b4a5c"), null);
  }
  function edgePath(edge) {
    var s = edge.sourceEndpoint(), t = edge.targetEndpoint();
    var d = "M" + num(s.x) + "," + num(s.y);
    var cps = edge.controlPoints && edge.controlPoints();
    if (cps && cps.length) {
      d += " Q" + num(cps[0].x) + "," + num(cps[0].y) + " " + num(t.x) + "," + num(t.y);
    } else {
      d += " L" + num(t.x) + "," + num(t.y);
    }
    var c = colour(edge, "line-color", "#8795a8");
    return '<path d="' + d + '" fill="none" stroke="' + esc(c) + '" stroke-width="' + num(px(edge, "width", 1)) +
      '" stroke-opacity="' + num(parseFloat(edge.style("opacity")) || 1) + '" marker-end="url(#arrow)"/>';
  }
  window.ftSvg = function (cy, shown) {
    var els = (shown || cy.elements()).filter(visible);
    var box = els.boundingBox({includeLabels: true});
    var pad = 20, w = Math.max(1, box.w + 2 * pad), h = Math.max(1, box.h + 2 * pad);
    var out = ['<?xml version="1.0" encoding="UTF-8"?>',
      '<svg xmlns="http://www.w3.org/2000/svg" width="' + num(w) + '" height="' + num(h) + '" viewBox="' +
        num(box.x1 - pad) + " " + num(box.y1 - pad) + " " + num(w) + " " + num(h) +
        '" font-family="system-ui, \'Noto Sans CJK SC\', \'WenQuanYi Micro Hei\', sans-serif">',
      '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" ' +
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#8795a8"/></marker></defs>',
      '<rect x="' + num(box.x1 - pad) + '" y="' + num(box.y1 - pad) + '" width="' + num(w) + '" height="' + num(h) +
        '" fill="#ffffff"/>'];
    els.edges().forEach(function (e) { out.push(edgePath(e)); });
    els.edges().forEach(function (e) { out.push(edgeLabel(e)); });
    els.nodes().forEach(function (n) { out.push(nodeShape(n)); out.push(nodeLabel(n)); });
    out.push("</svg>");
    return out.join("\n");
  };
})();
