// The Embedding page's scatter maps (app/map_canvas.py): points drawn on a 2-D canvas, recoloured in place.
// Streamlit calls the default export again with new data on every change (a recolour, a cohort), on the same
// element, so one ScatterMap lives on that element and keeps its view, its selection and its decoded points.

const HIT_PX = 7; // a click or hover picks the nearest point within this many CSS pixels
const RADIUS = 2.5; // a point's radius in CSS pixels (plotly's marker size 5)
const PAD = 12; // CSS pixels kept free around the points when the whole map is shown

function decode(b64, Type) {
  const s = atob(b64);
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return new Type(bytes.buffer);
}

const TYPES = { f32: Float32Array, i32: Int32Array, u8: Uint8Array, u16: Uint16Array }; // as map_canvas.py sends them
const decodeColumn = (col) => (col == null ? null : Array.isArray(col) ? col : decode(col.b64, TYPES[col.type]));

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

// ray casting: is (x, y) inside the closed polygon [[x, y], ...]?
function inside(poly, x, y) {
  let odd = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) odd = !odd;
  }
  return odd;
}

class ScatterMap {
  constructor(parent) {
    this.root = el("div", "dsrsd-map");
    const head = el("div", "dsrsd-map-head");
    this.title = el("div", "dsrsd-map-title");
    this.tools = el("div", "dsrsd-map-tools");
    this.mode = "pan";
    for (const [mode, label, tip] of [
      ["pan", "Pan", "Drag to move the map; Ctrl + wheel zooms"],
      ["zoom", "Zoom", "Drag a box to zoom into it"],
      ["box", "Box select", "Drag a box to select the learners in it"],
      ["lasso", "Lasso select", "Draw around the learners to select them"],
    ]) {
      const b = el("button", "dsrsd-map-tool", label);
      b.type = "button";
      b.title = tip;
      b.dataset.mode = mode;
      b.onclick = () => this.setMode(mode);
      this.tools.appendChild(b);
    }
    const reset = el("button", "dsrsd-map-tool", "Reset");
    reset.type = "button";
    reset.title = "Show the whole map (or double-click it)";
    reset.onclick = () => this.resetView();
    this.clearButton = el("button", "dsrsd-map-tool", "Clear selection");
    this.clearButton.type = "button";
    this.clearButton.onclick = () => this.select([]);
    this.tools.append(reset, this.clearButton);
    head.append(this.title, this.tools);
    this.legend = el("div", "dsrsd-map-legend");
    this.plot = el("div", "dsrsd-map-plot");
    this.canvas = el("canvas", "dsrsd-map-points");
    this.canvas.setAttribute("role", "img");
    this.overlay = el("canvas", "dsrsd-map-overlay");
    this.tip = el("div", "dsrsd-map-tip");
    this.tip.hidden = true;
    this.plot.append(this.canvas, this.overlay, this.tip);
    this.root.append(head, this.legend, this.plot);
    parent.appendChild(this.root);
    this.hidden = new Set();
    this.selected = null; // Uint8Array over the points, or null when nothing is selected
    this.width = 0;
    this.listen();
    this.resizer = new ResizeObserver(() => this.resize());
    this.resizer.observe(this.plot);
  }

  destroy() {
    this.resizer.disconnect();
    this.root.remove();
  }

  update(data, setStateValue) {
    this.setStateValue = setStateValue;
    const src = data.points;
    // the same points (another run keeps this element when its map has the same name): decoded once
    const text = (col) => (col == null ? "" : Array.isArray(col) ? col.join("\n") : col.b64);
    const same = this.src && ["x", "y", "sample", "student", "risk"].every((c) => text(this.src[c]) === text(src[c]));
    if (!same) {
      // a new cohort: the learners still shown stay selected (the page lists the selection's learners in it)
      const kept = this.selected ? new Set(this.sample.filter((s, i) => this.selected[i])) : null;
      this.src = src;
      this.x = decodeColumn(src.x);
      this.y = decodeColumn(src.y);
      this.sample = decodeColumn(src.sample);
      this.student = decodeColumn(src.student);
      this.risk = decodeColumn(src.risk);
      this.n = this.x.length;
      this.selected = null;
      if (kept) {
        const sel = this.sample.map((s) => (kept.has(s) ? 1 : 0));
        if (sel.some((v) => v)) this.selected = Uint8Array.from(sel);
      }
      this.fitBounds();
    }
    this.groups = data.groups;
    this.code = decodeColumn(data.codes);
    // the points of each group, in drawing order (first drawn first, under the later groups)
    const members = this.groups.map(() => []);
    for (let i = 0; i < this.n; i++) members[this.code[i]].push(i);
    this.members = members.map((m) => Int32Array.from(m));
    if (data.colour !== this.colourBy) this.hidden.clear(); // hidden groups belong to one colouring
    this.title.textContent = data.title || "";
    this.plot.style.height = `${data.height}px`;
    this.colourBy = data.colour;
    this.colourLabel = data.colour_label;
    this.drawLegend();
    this.resize(true);
  }

  fitBounds() {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < this.n; i++) {
      const x = this.x[i], y = this.y[i];
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
    if (!(x1 >= x0)) [x0, x1, y0, y1] = [0, 1, 0, 1];
    this.bounds = { x0, x1, y0, y1 };
    this.view = null; // the whole map, once the size is known
  }

  resetView() {
    const { x0, x1, y0, y1 } = this.bounds;
    const w = Math.max(this.width - 2 * PAD, 1), h = Math.max(this.height - 2 * PAD, 1);
    const k = Math.min(w / Math.max(x1 - x0, 1e-9), h / Math.max(y1 - y0, 1e-9));
    this.view = { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, k };
    this.draw();
  }

  resize(force) {
    const w = this.plot.clientWidth, h = this.plot.clientHeight;
    if (!w || !h) return;
    if (!force && w === this.width && h === this.height) return;
    const dpr = window.devicePixelRatio || 1;
    const fit = !this.view || w !== this.width || h !== this.height;
    this.width = w;
    this.height = h;
    this.dpr = dpr;
    for (const c of [this.canvas, this.overlay]) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    if (fit) this.resetView();
    else this.draw();
  }

  // screen (CSS pixels within the plot) of point i
  sx(i) { return this.width / 2 + (this.x[i] - this.view.cx) * this.view.k; }
  sy(i) { return this.height / 2 - (this.y[i] - this.view.cy) * this.view.k; }

  // the pixels a point covers, around its centre, with how much of each it covers (an anti-aliased disk)
  stamp() {
    const r = RADIUS * this.dpr, R = Math.ceil(r + 0.5), dx = [], dy = [], cover = [];
    for (let y = -R; y <= R; y++) {
      for (let x = -R; x <= R; x++) {
        const c = Math.min(1, r + 0.5 - Math.hypot(x, y));
        if (c > 0) { dx.push(x); dy.push(y); cover.push(c); }
      }
    }
    return { R, dx: Int32Array.from(dx), dy: Int32Array.from(dy), cover: Float32Array.from(cover) };
  }

  // the colour behind the map (the page's, so a dark theme stays dark), as [r, g, b]
  background() {
    for (let e = this.plot; e; e = e.parentElement) {
      const m = getComputedStyle(e).backgroundColor.match(/[\d.]+/g);
      if (m && (m.length < 4 || Number(m[3]) > 0)) return m.slice(0, 3).map(Number);
    }
    return [255, 255, 255];
  }

  // Points are blended straight into an ImageData: drawImage or arc() per point took ~250 ms for 76,000
  // points in a browser drawing on the CPU, this ~20 ms.
  draw() {
    if (!this.view || !this.members) return;
    const ctx = this.canvas.getContext("2d");
    const dpr = this.dpr, W = this.canvas.width, H = this.canvas.height;
    if (!W || !H) return;
    if (!this.image || this.image.width !== W || this.image.height !== H) this.image = ctx.createImageData(W, H);
    if (!this.disk || this.disk.dpr !== dpr) this.disk = { dpr, ...this.stamp() };
    const px = this.image.data, { R, dx, dy, cover } = this.disk;
    const [br, bg, bb] = this.background();
    new Uint32Array(px.buffer).fill(((255 << 24) | (bb << 16) | (bg << 8) | br) >>> 0); // RGBA bytes, little-endian
    const sel = this.selected;
    const cx = this.view.cx, cy = this.view.cy, k = this.view.k * dpr, w2 = W / 2, h2 = H / 2;
    let drawn = 0;
    // with a selection, every group is drawn faded first and the selected points on top of all of them
    for (const pass of sel ? [0, 1] : [1]) {
      this.groups.forEach((g, gi) => {
        if (this.hidden.has(g.value)) return;
        const hex = parseInt(g.colour.slice(1), 16), r = hex >> 16, gr = (hex >> 8) & 255, b = hex & 255;
        const alpha = pass === 0 ? 0.12 : g.opacity;
        for (const i of this.members[gi]) {
          if (sel && (sel[i] === 1) !== (pass === 1)) continue;
          const x0 = Math.round(w2 + (this.x[i] - cx) * k), y0 = Math.round(h2 - (this.y[i] - cy) * k);
          if (x0 < -R || y0 < -R || x0 >= W + R || y0 >= H + R) continue;
          drawn++;
          for (let j = 0; j < cover.length; j++) {
            const x = x0 + dx[j], y = y0 + dy[j];
            if (x < 0 || y < 0 || x >= W || y >= H) continue;
            const p = (y * W + x) * 4, a = cover[j] * alpha;
            px[p] += (r - px[p]) * a;
            px[p + 1] += (gr - px[p + 1]) * a;
            px[p + 2] += (b - px[p + 2]) * a;
          }
        }
      });
    }
    ctx.putImageData(this.image, 0, 0);
    const nSel = sel ? sel.reduce((a, b) => a + b, 0) : 0;
    this.canvas.setAttribute("aria-label", `${this.title.textContent}: ${this.n.toLocaleString()} points coloured by ` +
      `${this.colourLabel}` + (nSel ? `, ${nSel.toLocaleString()} selected` : ""));
    this.clearButton.classList.toggle("idle", !sel); // kept in the layout, so the maps stay level
    // what a test or a benchmark can wait for: the draw is done
    this.canvas.dataset.drawn = String(drawn);
    this.canvas.dataset.colour = this.colourBy;
  }

  drawLegend() {
    this.legend.replaceChildren();
    if (this.groups.length < 2 && !this.hidden.size) return;
    for (const g of this.groups) {
      const b = el("button", "dsrsd-map-key");
      b.type = "button";
      b.title = "Click to hide or show these points";
      const sw = el("span", "dsrsd-map-swatch");
      sw.style.background = g.colour;
      b.append(sw, el("span", null, `${g.value} (${g.count.toLocaleString()})`));
      b.classList.toggle("off", this.hidden.has(g.value));
      b.onclick = () => {
        if (this.hidden.has(g.value)) this.hidden.delete(g.value);
        else this.hidden.add(g.value);
        b.classList.toggle("off", this.hidden.has(g.value));
        this.draw();
      };
      this.legend.appendChild(b);
    }
  }

  shown(i) { return !this.hidden.has(this.groups[this.code[i]].value); }

  nearest(px, py) {
    let best = -1, bestD = HIT_PX * HIT_PX;
    for (let i = 0; i < this.n; i++) {
      const dx = this.sx(i) - px, dy = this.sy(i) - py, d = dx * dx + dy * dy;
      if (d <= bestD && this.shown(i)) { best = i; bestD = d; }
    }
    return best;
  }

  select(indices) {
    if (indices.length) {
      this.selected = new Uint8Array(this.n);
      for (const i of indices) this.selected[i] = 1;
    } else this.selected = null;
    this.draw();
    const samples = [...new Set(indices.map((i) => this.sample[i]))];
    this.setStateValue("selected", samples);
  }

  setMode(mode) {
    this.mode = mode;
    for (const b of this.tools.querySelectorAll("[data-mode]")) b.classList.toggle("on", b.dataset.mode === mode);
    this.plot.dataset.mode = mode;
  }

  showTip(i, px, py) {
    if (i < 0) { this.tip.hidden = true; return; }
    const g = this.groups[this.code[i]];
    const lines = [`sample ${this.sample[i]}`];
    if (this.student) lines.push(`student ${this.student[i]}`);
    if (this.risk && Number.isFinite(this.risk[i])) lines.push(`chance at risk ${Math.round(this.risk[i] * 100)}%`);
    this.tip.replaceChildren(el("b", null, g.value), ...lines.map((l) => el("div", null, l)));
    this.tip.style.borderColor = g.colour;
    this.tip.hidden = false;
    const left = px + 14 + this.tip.offsetWidth > this.width ? px - 14 - this.tip.offsetWidth : px + 14;
    this.tip.style.left = `${Math.max(left, 0)}px`;
    this.tip.style.top = `${Math.max(Math.min(py - 10, this.height - this.tip.offsetHeight), 0)}px`;
  }

  outline(shape) {
    const ctx = this.overlay.getContext("2d");
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    if (!shape || shape.length < 2) return;
    ctx.beginPath();
    ctx.moveTo(shape[0][0], shape[0][1]);
    for (const [x, y] of shape.slice(1)) ctx.lineTo(x, y);
    ctx.closePath();
    ctx.fillStyle = "rgba(60, 100, 200, 0.08)";
    ctx.strokeStyle = "rgba(60, 100, 200, 0.9)";
    ctx.setLineDash([4, 3]);
    ctx.fill();
    ctx.stroke();
  }

  listen() {
    const at = (e) => {
      const r = this.plot.getBoundingClientRect();
      return [e.clientX - r.left, e.clientY - r.top];
    };
    const rectOf = ([ax, ay], [bx, by]) => [[ax, ay], [bx, ay], [bx, by], [ax, by]];
    let drag = null, frame = 0;
    this.plot.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      this.plot.setPointerCapture(e.pointerId);
      drag = { start: at(e), path: [at(e)], view: { ...this.view }, moved: false };
      this.tip.hidden = true;
    });
    this.plot.addEventListener("pointermove", (e) => {
      const p = at(e);
      if (!drag) {
        if (frame) return;
        frame = requestAnimationFrame(() => { frame = 0; this.showTip(this.nearest(...p), ...p); });
        return;
      }
      const [dx, dy] = [p[0] - drag.start[0], p[1] - drag.start[1]];
      drag.moved = drag.moved || Math.hypot(dx, dy) > 3;
      if (!drag.moved) return;
      if (this.mode === "pan") {
        this.view = { ...drag.view, cx: drag.view.cx - dx / drag.view.k, cy: drag.view.cy + dy / drag.view.k };
        if (!frame) frame = requestAnimationFrame(() => { frame = 0; this.draw(); });
      } else if (this.mode === "lasso") {
        drag.path.push(p);
        this.outline(drag.path);
      } else this.outline(rectOf(drag.start, p));
    });
    this.plot.addEventListener("pointerup", (e) => {
      if (!drag) return;
      const d = drag, p = at(e);
      drag = null;
      this.outline(null);
      if (!d.moved) { // a click: that point alone
        const i = this.nearest(...p);
        if (i >= 0) this.select([i]);
        return;
      }
      if (this.mode === "zoom") {
        const [ax, ay] = d.start, w = Math.abs(p[0] - ax), h = Math.abs(p[1] - ay);
        if (w < 4 || h < 4) return;
        const v = this.view, mx = (ax + p[0]) / 2, my = (ay + p[1]) / 2;
        this.view = { cx: v.cx + (mx - this.width / 2) / v.k, cy: v.cy - (my - this.height / 2) / v.k,
                      k: v.k * Math.min(this.width / w, this.height / h) };
        this.draw();
      } else if (this.mode === "box" || this.mode === "lasso") {
        const poly = this.mode === "box" ? rectOf(d.start, p) : d.path;
        const xs = poly.map((q) => q[0]), ys = poly.map((q) => q[1]);
        const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
        const hits = [];
        for (let i = 0; i < this.n; i++) {
          const x = this.sx(i), y = this.sy(i);
          if (x < x0 || x > x1 || y < y0 || y > y1 || !this.shown(i)) continue;
          if (this.mode === "box" || inside(poly, x, y)) hits.push(i);
        }
        this.select(hits);
      }
    });
    this.plot.addEventListener("pointercancel", () => { drag = null; this.outline(null); });
    this.plot.addEventListener("pointerleave", () => { this.tip.hidden = true; });
    this.plot.addEventListener("dblclick", () => this.resetView());
    this.plot.addEventListener("wheel", (e) => {
      if (!e.ctrlKey && !e.metaKey) return; // a plain wheel scrolls the page, as elsewhere in the app
      e.preventDefault();
      const [px, py] = at(e), v = this.view, f = Math.exp(-e.deltaY / 300);
      const x = v.cx + (px - this.width / 2) / v.k, y = v.cy - (py - this.height / 2) / v.k;
      const k = v.k * f;
      this.view = { k, cx: x - (px - this.width / 2) / k, cy: y + (py - this.height / 2) / k };
      if (!frame) frame = requestAnimationFrame(() => { frame = 0; this.draw(); });
    }, { passive: false });
    this.setMode("pan");
  }

  // for tests and benchmarks: where point i is on the page, and its sample
  pointOnPage(i) {
    const r = this.plot.getBoundingClientRect();
    return { x: r.left + this.sx(i), y: r.top + this.sy(i), sample: this.sample[i] };
  }
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let map = parentElement.__dsrsdMap;
  if (!map) {
    map = new ScatterMap(parentElement);
    parentElement.__dsrsdMap = map;
    map.root.__dsrsdMap = map;
  }
  map.update(data, setStateValue);
  return () => {
    map.destroy();
    delete parentElement.__dsrsdMap;
  };
}
