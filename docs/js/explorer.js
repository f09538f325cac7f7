// The latent-space explorer of the Explore page (docs/explore.md): the decoders of notebook 08's
// export (src/vaelab/explore.py writes assets/explore/), run in the reader's browser.
//
// Why a few lines of JavaScript and not a library such as onnxruntime-web: the decoders are
// MLPs (Linear, ReLU, SiLU, and a sigmoid at the end), so a decode is three matrix-vector
// products: 1.3 million multiply-adds for the best VAE, about a millisecond here. ONNX Runtime
// Web would add megabytes of WebAssembly (more than the decoders themselves), an ONNX export
// step and a second format to keep in line with PyTorch, for no gain in speed at this size.
// Here the weights are read straight from the exported files: float16, or int8 with a float16
// scale per group of inputs, turned into float32 once, at load time. Every file comes from this
// site; no request leaves it.
(function () {
  "use strict";

  const BASE = new URL("../assets/explore/", document.currentScript.src);
  const TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  const SIDE = 28;
  const loaded = new Map();  // dataset -> Promise of its models (loaded once, kept across pages)

  // --- Reading the export -------------------------------------------------------------------

  function halfToFloat(h) {
    const sign = h & 0x8000 ? -1 : 1, exponent = (h >> 10) & 0x1f, fraction = h & 0x3ff;
    if (exponent === 0) return sign * Math.pow(2, -14) * (fraction / 1024);
    if (exponent === 31) return fraction ? NaN : sign * Infinity;
    return sign * Math.pow(2, exponent - 15) * (1 + fraction / 1024);
  }

  function readArray(buffer, meta, name) {
    if (!meta) throw new Error(`the export has no array ${name}`);
    const count = meta.shape.reduce((a, b) => a * b, 1);
    const view = new DataView(buffer, meta.offset);
    switch (meta.dtype) {
      case "float16": {
        const out = new Float32Array(count);
        for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
        return out;
      }
      case "float32": {
        const out = new Float32Array(count);
        for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
        return out;
      }
      case "int8": return new Int8Array(buffer, meta.offset, count);
      case "uint8": return new Uint8Array(buffer, meta.offset, count);
      default: throw new Error(`${name}: unknown dtype ${meta.dtype}`);
    }
  }

  // The decoder as a list of steps; each Linear's weights in float32, row by row (out x in).
  function buildDecoder(entry, buffer) {
    const array = name => readArray(buffer, entry.arrays[name], name);
    const steps = entry.layers.map(layer => {
      if (layer.op !== "linear") return {op: layer.op};
      let weight = array(layer.weight);
      if (layer.scale) {  // int8 with a scale per group of `group` inputs
        const q = weight, scale = array(layer.scale), groups = Math.ceil(layer.in / layer.group);
        weight = new Float32Array(layer.out * layer.in);
        for (let r = 0; r < layer.out; r++)
          for (let c = 0; c < layer.in; c++)
            weight[r * layer.in + c] = q[r * layer.in + c] * scale[r * groups + Math.floor(c / layer.group)];
      }
      return {op: "linear", in: layer.in, out: layer.out, weight, bias: array(layer.bias)};
    });
    return function decode(z) {  // z: latent_dim numbers -> 784 pixel probabilities
      let x = Float32Array.from(z);
      for (const step of steps) {
        if (step.op === "relu") x = x.map(v => (v > 0 ? v : 0));
        else if (step.op === "silu") x = x.map(v => v / (1 + Math.exp(-v)));
        else {
          const y = new Float32Array(step.out), w = step.weight, n = step.in;
          for (let r = 0; r < step.out; r++) {
            let sum = step.bias[r];
            for (let c = 0, o = r * n; c < n; c++) sum += w[o + c] * x[c];
            y[r] = sum;
          }
          x = y;
        }
      }
      return x.map(v => 1 / (1 + Math.exp(-v)));
    };
  }

  async function fetchOk(url, kind) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url.pathname}: ${response.status} ${response.statusText}`);
    return kind === "json" ? response.json() : response.arrayBuffer();
  }

  function load(dataset) {
    if (!loaded.has(dataset)) {
      loaded.set(dataset, (async () => {
        const manifest = await fetchOk(new URL(`${dataset}.json`, BASE), "json");
        const entries = Object.entries(manifest.models);
        const buffers = await Promise.all(entries.map(([, entry]) => fetchOk(new URL(entry.file, BASE), "binary")));
        const models = {};
        entries.forEach(([name, entry], i) => {
          const buffer = buffers[i];
          if (buffer.byteLength !== entry.bytes)
            throw new Error(`${entry.file}: ${buffer.byteLength} bytes, the manifest says ${entry.bytes}`);
          const array = key => readArray(buffer, entry.arrays[key], key);
          models[name] = {entry, decode: buildDecoder(entry, buffer), array};
        });
        return {manifest, models};
      })());
      loaded.get(dataset).catch(() => loaded.delete(dataset));  // a failed load is tried again next time
    }
    return loaded.get(dataset);
  }

  // --- Drawing --------------------------------------------------------------------------------

  function element(tag, attributes = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes)) {
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  function imageCanvas(label, size) {  // size: "big", "small" or "thumb" (docs/css/explorer.css)
    return element("canvas", {width: SIDE, height: SIDE, class: `vx-image vx-${size}`, role: "img", "aria-label": label});
  }

  function drawPixels(canvas, pixels, scale = 255) {  // white on black, as the notebooks' figures
    const context = canvas.getContext("2d");
    const image = context.createImageData(SIDE, SIDE);
    for (let i = 0; i < SIDE * SIDE; i++) {
      const v = Math.round(pixels[i] * scale);
      image.data.set([v, v, v, 255], 4 * i);
    }
    context.putImageData(image, 0, 0);
  }

  function className(manifest, label) {
    return manifest.classes[label];
  }

  // --- 1. The 2-D VAE's plane -----------------------------------------------------------------

  function planeSection(manifest, plane) {
    const extent = plane.entry.extent, size = 480;
    const points = plane.array(plane.entry.points), labels = plane.array(plane.entry.point_labels);
    const canvas = element("canvas", {width: size, height: size, class: "vx-plane", tabindex: "0",
      role: "application", "aria-roledescription": "latent plane",
      "aria-label": "latent plane of the 2-D VAE: arrow keys move the point, Shift for bigger steps, Home for the origin"});
    const out = imageCanvas("the image the decoder draws at the chosen point", "big");
    const readout = element("p", {class: "vx-readout"});
    const spoken = element("span", {class: "vx-sr-only", "aria-live": "polite"});  // keyboard moves only
    const legend = element("ul", {class: "vx-legend"}, manifest.classes.map((name, c) =>
      element("li", {}, [element("span", {class: "vx-swatch", style: `background:${TAB10[c % 10]}`}), name])));
    const toPixel = v => ((v + extent) / (2 * extent)) * size;
    const background = document.createElement("canvas");
    background.width = background.height = size;
    const bg = background.getContext("2d");
    bg.fillStyle = "#fff";
    bg.fillRect(0, 0, size, size);
    bg.strokeStyle = "#ddd";
    for (let v = -extent; v <= extent; v++) {
      bg.beginPath(); bg.moveTo(toPixel(v), 0); bg.lineTo(toPixel(v), size); bg.stroke();
      bg.beginPath(); bg.moveTo(0, toPixel(v)); bg.lineTo(size, toPixel(v)); bg.stroke();
    }
    bg.globalAlpha = 0.6;
    for (let i = 0; i < labels.length; i++) {
      bg.fillStyle = TAB10[labels[i] % 10];
      bg.fillRect(toPixel(points[2 * i]) - 1.5, size - toPixel(points[2 * i + 1]) - 1.5, 3, 3);
    }
    const z = [0, 0];
    let pending = false, speak = false;
    function show() {
      pending = false;
      drawPixels(out, plane.decode(z));
      const context = canvas.getContext("2d");
      context.drawImage(background, 0, 0);
      const x = toPixel(z[0]), y = size - toPixel(z[1]);
      context.strokeStyle = "#000";
      context.lineWidth = 2;
      context.beginPath(); context.arc(x, y, 8, 0, 2 * Math.PI); context.stroke();
      readout.textContent = `z = (${z[0].toFixed(2)}, ${z[1].toFixed(2)})`;
      if (speak) spoken.textContent = readout.textContent;
      speak = false;
    }
    function moveTo(zx, zy) {
      z[0] = Math.max(-extent, Math.min(extent, zx));
      z[1] = Math.max(-extent, Math.min(extent, zy));
      if (!pending) { pending = true; requestAnimationFrame(show); }
    }
    function fromEvent(event) {
      const box = canvas.getBoundingClientRect();
      moveTo(((event.clientX - box.left) / box.width) * 2 * extent - extent,
             extent - ((event.clientY - box.top) / box.height) * 2 * extent);
    }
    canvas.addEventListener("pointermove", fromEvent);
    canvas.addEventListener("pointerdown", event => {
      if (event.pointerType !== "touch") canvas.focus();  // keys work after a click; no focus ring after a tap
      fromEvent(event);
    });
    canvas.addEventListener("keydown", event => {
      const step = event.shiftKey ? 0.5 : 0.1;
      const moves = {ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step]};
      if (event.key === "Home") { speak = true; moveTo(0, 0); event.preventDefault(); return; }
      if (!moves[event.key]) return;
      event.preventDefault();
      speak = true;
      moveTo(z[0] + moves[event.key][0], z[1] + moves[event.key][1]);
    });
    show();
    return element("section", {class: "vx-section"}, [
      element("h3", {text: "The 2-D VAE's latent plane"}),
      element("p", {text: `${labels.length.toLocaleString("en")} test images at their codes μ(x), coloured by class. ` +
        "Point anywhere (mouse, finger, or the arrow keys once the plane has focus; Shift for bigger steps, " +
        "Home for the origin): the decoder draws the image of that code."}),
      element("div", {class: "vx-row"}, [
        element("div", {class: "vx-plane-wrap"}, [canvas, legend]),
        element("figure", {class: "vx-out"}, [out, readout, spoken])])]);
  }

  // --- 2. The best VAE's sliders, and 3. interpolation -----------------------------------------

  function gallerySelect(manifest, best, chosen) {  // its name comes from the <label> around it
    const select = element("select"), seen = {};
    best.entry.gallery_labels.forEach((c, i) => {
      seen[c] = (seen[c] || 0) + 1;  // "Dress (2)": the class's second test image in the list
      const option = element("option", {value: String(i), text: `${className(manifest, c)} (${seen[c]})`});
      if (i === chosen) option.selected = true;
      select.append(option);
    });
    return select;
  }

  function slidersSection(manifest, best) {
    const entry = best.entry, d = entry.latent_dim;
    const codes = best.array("gallery_codes"), images = best.array("gallery");
    const prior = {logW: best.array(entry.prior.log_weights), means: best.array(entry.prior.means),
                   logvars: best.array(entry.prior.logvars)};
    const z = new Float32Array(d);
    const out = imageCanvas("the image the best VAE decodes from the code", "big");
    const original = imageCanvas("the chosen test image", "small");
    const select = gallerySelect(manifest, best, 0);
    const sliders = entry.sliders.map(j => {
      const [low, high] = entry.ranges[j];
      const input = element("input", {type: "range", min: low.toFixed(3), max: high.toFixed(3), step: "0.01"});
      const value = element("output");
      input.addEventListener("input", () => { z[j] = Number(input.value); update(); });
      return {j, input, value, row: element("label", {class: "vx-slider"}, [
        element("span", {text: `z${j + 1} · KL ${entry.kl[j].toFixed(2)}`}), input, value])};
    });
    function update() {
      for (const s of sliders) { s.input.value = z[s.j]; s.value.textContent = z[s.j].toFixed(2); }
      drawPixels(out, best.decode(z));
    }
    function startFrom(i) {
      z.set(codes.subarray(i * d, (i + 1) * d));
      drawPixels(original, images.subarray(i * SIDE * SIDE, (i + 1) * SIDE * SIDE), 1);
      update();
    }
    function gaussian() {  // Box-Muller
      return Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
    }
    function samplePrior() {  // a component k with probability w_k, then z = m_k + s_k * eps
      const weights = Array.from(prior.logW, Math.exp), total = weights.reduce((a, b) => a + b, 0);
      let u = Math.random() * total, k = 0;
      while (k < weights.length - 1 && u > weights[k]) u -= weights[k++];
      for (let j = 0; j < d; j++) z[j] = prior.means[k * d + j] + Math.exp(0.5 * prior.logvars[k * d + j]) * gaussian();
      update();
    }
    select.addEventListener("change", () => startFrom(Number(select.value)));
    const sample = element("button", {type: "button", class: "md-button", text: "Sample from the prior"});
    sample.addEventListener("click", samplePrior);
    const reset = element("button", {type: "button", class: "md-button", text: "Back to the image's code"});
    reset.addEventListener("click", () => startFrom(Number(select.value)));
    startFrom(0);
    const others = d - sliders.length;
    return element("section", {class: "vx-section"}, [
      element("h3", {text: "The best VAE's most informative dimensions"}),
      element("p", {text: `The ${sliders.length} of its ${d} latent dimensions with the highest KL (nats per image, ` +
        `on the test set), starting from a test image's code μ(x); the other ${others} stay where that code puts them.`}),
      element("div", {class: "vx-controls"}, [element("label", {}, ["Start from ", select]), sample, reset]),
      element("div", {class: "vx-row"}, [
        element("div", {class: "vx-sliders"}, sliders.map(s => s.row)),
        element("figure", {class: "vx-out"}, [out, element("figcaption", {text: "decoded"})]),
        element("figure", {class: "vx-out"}, [original, element("figcaption", {text: "the test image"})])])]);
  }

  function interpolationSection(manifest, best) {
    const entry = best.entry, d = entry.latent_dim, steps = 8;
    const codes = best.array("gallery_codes"), images = best.array("gallery");
    const count = entry.gallery_labels.length;
    const first = gallerySelect(manifest, best, 0);
    const second = gallerySelect(manifest, best, count - 1);
    const ends = [imageCanvas("first test image", "thumb"), imageCanvas("second test image", "thumb")];
    const row = Array.from({length: steps}, (_, t) => imageCanvas(`point ${t + 1} of ${steps}`, "thumb"));
    function update() {
      const a = Number(first.value), b = Number(second.value);
      drawPixels(ends[0], images.subarray(a * SIDE * SIDE, (a + 1) * SIDE * SIDE), 1);
      drawPixels(ends[1], images.subarray(b * SIDE * SIDE, (b + 1) * SIDE * SIDE), 1);
      row.forEach((canvas, t) => {
        const s = t / (steps - 1), z = new Float32Array(d);
        for (let j = 0; j < d; j++) z[j] = (1 - s) * codes[a * d + j] + s * codes[b * d + j];
        drawPixels(canvas, best.decode(z));
      });
    }
    first.addEventListener("change", update);
    second.addEventListener("change", update);
    update();
    return element("section", {class: "vx-section"}, [
      element("h3", {text: "From one test image to another"}),
      element("p", {text: `The best VAE's decoder at ${steps} evenly spaced points of the straight line between the two ` +
        "codes μ(x), both ends included; the test images themselves outside them."}),
      element("div", {class: "vx-controls"}, [element("label", {}, ["From ", first]), element("label", {}, ["to ", second])]),
      element("div", {class: "vx-strip"}, [ends[0], ...row, ends[1]])]);
  }

  // --- Start-up: on the first load, and after every instant navigation or Back ------------------

  async function start(root) {
    if (root.dataset.state) return;
    root.dataset.state = "loading";
    const status = element("p", {class: "vx-status", text: "Loading the decoders…"});
    root.replaceChildren(status);
    try {
      const {manifest, models} = await load(root.dataset.dataset);
      root.replaceChildren(planeSection(manifest, models.plane), slidersSection(manifest, models.best),
                           interpolationSection(manifest, models.best));
      root.dataset.state = "ready";
    } catch (error) {
      status.textContent = `The explorer could not start: ${error.message}. `;
      const retry = element("button", {type: "button", class: "md-button", text: "Try again"});
      retry.addEventListener("click", () => { delete root.dataset.state; start(root); });
      status.append(retry);
      root.dataset.state = "failed";
      console.error("explorer:", error);
    }
  }

  function startAll() {
    document.querySelectorAll(".vaelab-explorer[data-dataset]").forEach(start);
  }

  // For the browser test and the curious: decode codes with a dataset's exported model.
  window.vaelabExplorer = {
    load,
    async decode(dataset, model, codes) {
      const {models} = await load(dataset);
      return codes.map(z => Array.from(models[model].decode(z)));
    },
  };

  if (window.document$) window.document$.subscribe(startAll);  // Material: every page, instant or not
  else if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", startAll);
  else startAll();
})();
