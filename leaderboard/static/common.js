// Shared helpers: every value from the API is inserted as text (never as HTML).
"use strict";
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "href" || k === "src") e.setAttribute(k, v);
    else e.dataset[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}
function fmt(x, digits = 3) {
  if (x === null || x === undefined) return "–";
  return typeof x === "number" ? (Number.isInteger(x) ? String(x) : x.toFixed(digits)) : String(x);
}
async function getJSON(url) {
  const r = await fetch(url);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}
function param(name) { return new URLSearchParams(location.search).get(name); }
function sortable(table) {  // click a header to sort by that column
  table.querySelectorAll("th").forEach((th, i) => th.addEventListener("click", () => {
    const body = table.tBodies[0], rows = [...body.rows], asc = th.dataset.asc !== "1";
    th.dataset.asc = asc ? "1" : "0";
    rows.sort((a, b) => {
      const x = a.cells[i].dataset.v ?? a.cells[i].textContent, y = b.cells[i].dataset.v ?? b.cells[i].textContent;
      const nx = parseFloat(x), ny = parseFloat(y);
      const c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return asc ? c : -c;
    });
    rows.forEach(r => body.append(r));
  }));
}
function fail(e) { document.getElementById("status").textContent = "error: " + e.message; }
function mark(status) {  // the reproduction mark of a row
  return {"reproduced": "✓ reproduced", "not reproduced": "✗ not reproduced"}[status] || "self-reported";
}
