// latentviz explorer: draws an embedding written by `latentviz explore`, with no network access.
// The data is the JSON in #latentviz-data (arrays as base64 little-endian typed arrays). Points
// are drawn with WebGL2 (Canvas 2D where it is missing, or with ?renderer=canvas); the view maps
// data (x right, y up) to CSS pixels: screen = centre + (data - view.c) * view.scale.
// One file of ~800 lines: a page opened from file:// cannot import modules, and the binary inlines
// it whole.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);

  // ---- data ----------------------------------------------------------------------------------
  function bytes(b64) {
    const s = atob(b64);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  const raw = JSON.parse($('latentviz-data').textContent);
  const n = raw.n;
  const finalPos = new Float32Array(bytes(raw.positions).buffer);
  const labels = raw.labels ? bytes(raw.labels) : null;
  const k = raw.k || 0;
  const neighbours = raw.neighbours ? new Uint32Array(bytes(raw.neighbours).buffer) : null;
  const thumbs = raw.thumbs || null;

  // Frames of the timeline: the snapshots, then the final positions (unless the last snapshot is them).
  const frames = [];
  for (const f of raw.frames || []) {
    const q = new Uint16Array(bytes(f.q).buffer);
    const p = new Float32Array(2 * n);
    for (let i = 0; i < 2 * n; i++) {
      const a = i & 1;
      p[i] = f.lo[a] + (q[i] / 65535) * (f.hi[a] - f.lo[a]);
    }
    frames.push({ iteration: f.iteration, kl: f.kl, pos: p });
  }
  if (frames.length) {
    const fin = raw.final;
    const last = frames[frames.length - 1];
    if (fin && fin[0] === last.iteration) last.pos = finalPos;
    else frames.push({ iteration: fin ? fin[0] : null, kl: fin ? fin[1] : null, pos: finalPos });
  }

  // Classes and their colours: tab10 for 0-9, then evenly spread hues.
  const classes = [];
  const counts = new Map();
  if (labels) for (let i = 0; i < n; i++) counts.set(labels[i], (counts.get(labels[i]) || 0) + 1);
  for (const c of [...counts.keys()].sort((a, b) => a - b)) classes.push(c);
  function classColour(c) {
    if (c < 10) return raw.tab10[c];
    const h = (c * 137.508) % 360, s = 0.65, l = 0.45;
    const f = (m) => {
      const t = (m + h / 30) % 12;
      return Math.round(255 * (l - s * Math.min(l, 1 - l) * Math.max(-1, Math.min(t - 3, 9 - t, 1))));
    };
    return [f(0), f(8), f(4)];
  }
  const UNLABELLED = [70, 70, 70];
  const colourOf = (i) => (labels ? classColour(labels[i]) : UNLABELLED);
  const css = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;

  // ---- state ---------------------------------------------------------------------------------
  const pos = new Float32Array(finalPos); // the positions drawn now
  const hidden = new Set(); // hidden classes
  let selection = []; // selected indices, ascending
  let clicked = -1; // the point whose neighbours are shown
  let hover = -1;
  let time = frames.length ? frames.length - 1 : 0;
  let playing = false;
  const view = { cx: 0, cy: 0, scale: 1 };
  let fitScale = 1; // the scale that fits the whole frame
  let spreadNow = 1; // the current frame's spread against the final one (early ones are small)
  let width = 1, height = 1;
  let frameCount = 0;
  let readyAt = null; // ms from navigation to the first frame with every thumbnail atlas
  const complete = () => !thumbs || atlasesLoaded === thumbs.pages.length;
  const frameWaiters = [];

  const canvas = $('view');
  const wantCanvas = /[?&]renderer=canvas\b/.test(location.search);
  const renderer = (!wantCanvas && makeWebGL(canvas)) || makeCanvas2D(canvas);

  // The thumbnail atlases, as images (Canvas 2D draws from them; WebGL uploads them).
  const atlasImages = [];
  let atlasesLoaded = 0;
  if (thumbs) {
    thumbs.pages.forEach((src, p) => {
      const img = new Image();
      img.onload = () => {
        atlasesLoaded++;
        renderer.atlasLoaded(p, img);
        redraw();
      };
      img.src = src;
      atlasImages.push(img);
    });
  }

  // ---- view ----------------------------------------------------------------------------------
  function bounds(p) {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < n; i++) {
      if (labels && hidden.has(labels[i])) continue;
      const x = p[2 * i], y = p[2 * i + 1];
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
    if (x0 > x1) return [-1, 1, -1, 1];
    return [x0, x1, y0, y1];
  }
  function fit(p) {
    const [x0, x1, y0, y1] = bounds(p);
    view.cx = (x0 + x1) / 2;
    view.cy = (y0 + y1) / 2;
    const span = Math.max(x1 - x0, y1 - y0, 1e-12);
    const bottom = frames.length ? 44 : 0;
    view.scale = fitScale = (0.92 * Math.min(width, height - bottom)) / span;
  }
  const toScreen = (x, y) => [width / 2 + (x - view.cx) * view.scale, height / 2 - (y - view.cy) * view.scale];
  const toData = (sx, sy) => [view.cx + (sx - width / 2) / view.scale, view.cy - (sy - height / 2) / view.scale];
  const visible = (i) => !(labels && hidden.has(labels[i]));

  // Dot and thumbnail sizes in CSS pixels.
  const finalBounds = bounds(finalPos);
  const spacing = Math.max(finalBounds[1] - finalBounds[0], finalBounds[3] - finalBounds[2], 1e-12) / Math.sqrt(n);
  function dotSize() {
    return Math.max(2, Math.min(8, 1.6 * Math.sqrt((view.scale * spacing))));
  }
  // Thumbnails replace the dots once zoomed in past the fitted view and at least 14 px wide.
  function thumbSize() {
    if (!thumbs || atlasesLoaded < thumbs.pages.length || view.scale < 1.5 * fitScale) return 0;
    const s = 0.9 * spacing * view.scale * spreadNow;
    return s >= 14 ? Math.min(s, 3 * Math.max(thumbs.w, thumbs.h), renderer.maxPoint) : 0;
  }

  // ---- timeline ------------------------------------------------------------------------------
  function setTime(t) {
    time = Math.max(0, Math.min(frames.length - 1, t));
    const i = Math.min(Math.floor(time), frames.length - 2);
    const f = time - i;
    if (frames.length === 1) pos.set(frames[0].pos);
    else {
      const a = frames[i].pos, b = frames[i + 1].pos;
      for (let j = 0; j < 2 * n; j++) pos[j] = a[j] + (b[j] - a[j]) * f;
    }
    const [x0, x1, y0, y1] = bounds(pos);
    spreadNow = Math.max(x1 - x0, y1 - y0) / Math.max(finalBounds[1] - finalBounds[0], finalBounds[3] - finalBounds[2], 1e-12);
    if ($('follow').checked) fit(pos);
    const near = frames[Math.round(time)];
    const it = frames.length > 1 ? Math.round(frames[i].iteration + (frames[i + 1].iteration - frames[i].iteration) * f) : near.iteration;
    $('time').value = String(time);
    $('time-info').textContent = `iteration ${it == null ? '?' : it}` + (near.kl != null ? ` · KL ${near.kl.toFixed(3)}` : '');
    renderer.positionsChanged();
    redraw();
  }
  if (frames.length) {
    $('timeline').hidden = false;
    const slider = $('time');
    slider.max = String(frames.length - 1);
    slider.addEventListener('input', () => setTime(parseFloat(slider.value)));
    let last = 0;
    function step(ts) {
      if (!playing) return;
      const dt = last ? (ts - last) / 1000 : 0;
      last = ts;
      const t = time + dt * 2; // two snapshots a second
      setTime(t);
      if (t >= frames.length - 1) stop();
      else requestAnimationFrame(step);
    }
    function stop() {
      playing = false;
      $('play').textContent = 'Play';
    }
    $('play').addEventListener('click', () => {
      if (playing) return stop();
      if (time >= frames.length - 1) setTime(0);
      playing = true;
      last = 0;
      $('play').textContent = 'Pause';
      requestAnimationFrame(step);
    });
  }

  // ---- drawing -------------------------------------------------------------------------------
  let pending = false;
  function redraw() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      renderer.draw();
      frameCount++;
      if (readyAt === null && complete()) readyAt = performance.now();
      while (frameWaiters.length) frameWaiters.shift()();
    });
  }
  function resize() {
    const r = canvas.getBoundingClientRect();
    const first = width === 1;
    width = Math.max(1, r.width);
    height = Math.max(1, r.height);
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    if (first) fit(pos);
    redraw();
  }
  // Points drawn with a ring: the clicked one, its neighbours, the selection, the hovered one.
  function highlighted() {
    const out = [];
    for (const i of selection) out.push([i, 0]);
    if (clicked >= 0) {
      out.push([clicked, 1]);
      if (neighbours) for (let j = 0; j < k; j++) out.push([neighbours[clicked * k + j], 2]);
    }
    if (hover >= 0) out.push([hover, 1]);
    return out.filter(([i]) => visible(i));
  }
  const RING = [[20, 20, 20], [230, 0, 0], [255, 140, 0]];

  function makeWebGL(cv) {
    const gl = cv.getContext('webgl2', { antialias: false, premultipliedAlpha: false });
    if (!gl) return null;
    const vs = `#version 300 es
      in vec2 a_pos; in float a_label;
      uniform vec4 u_view; // centre x, y; scale to clip x, y
      uniform float u_size; uniform sampler2D u_palette; uniform int u_first;
      uniform int u_cols; uniform int u_ring; uniform vec3 u_ring_colour;
      out vec4 v_colour; out vec2 v_tile;
      void main() {
        vec4 c = texelFetch(u_palette, ivec2(int(a_label), 0), 0);
        v_colour = u_ring == 1 ? vec4(u_ring_colour, 1.0) : c;
        int t = gl_VertexID - u_first;
        v_tile = vec2(float(t % u_cols), float(t / u_cols));
        gl_Position = vec4((a_pos - u_view.xy) * u_view.zw, 0.0, 1.0);
        gl_PointSize = c.a == 0.0 ? 0.0 : u_size;
        if (c.a == 0.0) gl_Position = vec4(2.0, 2.0, 2.0, 1.0);
      }`;
    const fs = `#version 300 es
      precision mediump float;
      in vec4 v_colour; in vec2 v_tile;
      uniform int u_mode; // 0 dots, 1 thumbnails, 2 rings
      uniform sampler2D u_atlas; uniform vec2 u_tile_uv; uniform int u_grey;
      out vec4 o;
      void main() {
        vec2 d = gl_PointCoord - 0.5;
        float r2 = dot(d, d);
        if (u_mode == 0) { if (r2 > 0.25) discard; o = vec4(v_colour.rgb, 1.0); }
        else if (u_mode == 2) { if (r2 > 0.25 || r2 < 0.12) discard; o = vec4(v_colour.rgb, 1.0); }
        else {
          vec4 t = texture(u_atlas, (v_tile + gl_PointCoord) * u_tile_uv);
          o = u_grey == 1 ? vec4(v_colour.rgb, t.r) : vec4(t.rgb, 1.0);
        }
      }`;
    function shader(type, src) {
      const s = gl.createShader(type);
      gl.shaderSource(s, src);
      gl.compileShader(s);
      if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
      return s;
    }
    const prog = gl.createProgram();
    gl.attachShader(prog, shader(gl.VERTEX_SHADER, vs));
    gl.attachShader(prog, shader(gl.FRAGMENT_SHADER, fs));
    gl.bindAttribLocation(prog, 0, 'a_pos');
    gl.bindAttribLocation(prog, 1, 'a_label');
    gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(prog));
    const u = {};
    for (const name of ['u_view', 'u_size', 'u_palette', 'u_first', 'u_cols', 'u_ring', 'u_ring_colour', 'u_mode', 'u_atlas', 'u_tile_uv', 'u_grey']) {
      u[name] = gl.getUniformLocation(prog, name);
    }
    // All points: positions and labels.
    const vao = gl.createVertexArray();
    gl.bindVertexArray(vao);
    const posBuf = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, posBuf);
    gl.bufferData(gl.ARRAY_BUFFER, pos, gl.DYNAMIC_DRAW);
    gl.enableVertexAttribArray(0);
    gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
    const labBuf = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, labBuf);
    gl.bufferData(gl.ARRAY_BUFFER, labels ? new Float32Array(labels) : new Float32Array(n), gl.STATIC_DRAW);
    gl.enableVertexAttribArray(1);
    gl.vertexAttribPointer(1, 1, gl.FLOAT, false, 0, 0);
    // The highlighted points, rebuilt every frame (few).
    const hvao = gl.createVertexArray();
    gl.bindVertexArray(hvao);
    const hPosBuf = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, hPosBuf);
    gl.enableVertexAttribArray(0);
    gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
    const hLabBuf = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, hLabBuf);
    gl.enableVertexAttribArray(1);
    gl.vertexAttribPointer(1, 1, gl.FLOAT, false, 0, 0);
    gl.bindVertexArray(null);
    // Palette: one texel a class, alpha 0 when hidden.
    const palTex = gl.createTexture();
    function uploadPalette() {
      const pal = new Uint8Array(256 * 4);
      for (let c = 0; c < 256; c++) {
        const col = labels ? classColour(c) : UNLABELLED;
        pal.set([col[0], col[1], col[2], hidden.has(c) ? 0 : 255], 4 * c);
      }
      gl.activeTexture(gl.TEXTURE0);
      gl.bindTexture(gl.TEXTURE_2D, palTex);
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, 256, 1, 0, gl.RGBA, gl.UNSIGNED_BYTE, pal);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    }
    uploadPalette();
    const atlasTex = [];
    const range = gl.getParameter(gl.ALIASED_POINT_SIZE_RANGE);
    return {
      kind: 'webgl2',
      maxPoint: range ? range[1] : 64,
      atlasLoaded(p, img) {
        const t = gl.createTexture();
        gl.activeTexture(gl.TEXTURE1);
        gl.bindTexture(gl.TEXTURE_2D, t);
        gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
        gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, gl.RGBA, gl.UNSIGNED_BYTE, img);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
        atlasTex[p] = { tex: t, w: img.width, h: img.height };
      },
      positionsChanged() {
        gl.bindBuffer(gl.ARRAY_BUFFER, posBuf);
        gl.bufferSubData(gl.ARRAY_BUFFER, 0, pos);
      },
      paletteChanged: uploadPalette,
      draw() {
        const dpr = window.devicePixelRatio || 1;
        gl.viewport(0, 0, canvas.width, canvas.height);
        gl.clearColor(1, 1, 1, 1);
        gl.clear(gl.COLOR_BUFFER_BIT);
        gl.useProgram(prog);
        gl.uniform4f(u.u_view, view.cx, view.cy, (2 * view.scale) / width, (2 * view.scale) / height);
        gl.uniform1i(u.u_palette, 0);
        gl.uniform1i(u.u_atlas, 1);
        gl.uniform1i(u.u_ring, 0);
        gl.uniform1i(u.u_first, 0);
        gl.uniform1i(u.u_cols, 1);
        gl.activeTexture(gl.TEXTURE0);
        gl.bindTexture(gl.TEXTURE_2D, palTex);
        gl.bindVertexArray(vao);
        const ts = thumbSize();
        if (ts > 0) {
          gl.enable(gl.BLEND);
          gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
          gl.uniform1i(u.u_mode, 1);
          gl.uniform1f(u.u_size, ts * dpr);
          gl.uniform1i(u.u_cols, thumbs.cols);
          gl.uniform1i(u.u_grey, thumbs.grey ? 1 : 0);
          atlasTex.forEach((a, p) => {
            gl.activeTexture(gl.TEXTURE1);
            gl.bindTexture(gl.TEXTURE_2D, a.tex);
            gl.uniform2f(u.u_tile_uv, thumbs.w / a.w, thumbs.h / a.h);
            const first = p * thumbs.perPage;
            gl.uniform1i(u.u_first, first);
            gl.drawArrays(gl.POINTS, first, Math.min(thumbs.perPage, n - first));
          });
          gl.disable(gl.BLEND);
        } else {
          gl.uniform1i(u.u_mode, 0);
          gl.uniform1f(u.u_size, dotSize() * dpr);
          gl.drawArrays(gl.POINTS, 0, n);
        }
        // Rings around the highlighted points, one colour at a time.
        const hl = highlighted();
        gl.bindVertexArray(hvao);
        gl.uniform1i(u.u_mode, 2);
        gl.uniform1i(u.u_ring, 1);
        gl.uniform1f(u.u_size, Math.max(ts, dotSize() + 8) * dpr);
        for (let r = 0; r < RING.length; r++) {
          const idx = hl.filter(([, kind]) => kind === r).map(([i]) => i);
          if (!idx.length) continue;
          const hp = new Float32Array(2 * idx.length), hlab = new Float32Array(idx.length);
          idx.forEach((i, j) => {
            hp[2 * j] = pos[2 * i];
            hp[2 * j + 1] = pos[2 * i + 1];
            hlab[j] = labels ? labels[i] : 0;
          });
          gl.bindBuffer(gl.ARRAY_BUFFER, hPosBuf);
          gl.bufferData(gl.ARRAY_BUFFER, hp, gl.STREAM_DRAW);
          gl.bindBuffer(gl.ARRAY_BUFFER, hLabBuf);
          gl.bufferData(gl.ARRAY_BUFFER, hlab, gl.STREAM_DRAW);
          gl.uniform3f(u.u_ring_colour, RING[r][0] / 255, RING[r][1] / 255, RING[r][2] / 255);
          gl.drawArrays(gl.POINTS, 0, idx.length);
        }
        gl.bindVertexArray(null);
      },
    };
  }

  function makeCanvas2D(cv) {
    const ctx = cv.getContext('2d');
    const inked = []; // grey atlases turned into dark ink on transparent
    return {
      kind: 'canvas2d',
      maxPoint: 96,
      atlasLoaded(p, img) {
        if (!thumbs.grey) {
          inked[p] = img;
          return;
        }
        const c = document.createElement('canvas');
        c.width = img.width;
        c.height = img.height;
        const g = c.getContext('2d');
        g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height);
        for (let i = 0; i < d.data.length; i += 4) {
          d.data[i + 3] = d.data[i];
          d.data[i] = d.data[i + 1] = d.data[i + 2] = 20;
        }
        g.putImageData(d, 0, 0);
        inked[p] = c;
      },
      positionsChanged() {},
      paletteChanged() {},
      draw() {
        const dpr = window.devicePixelRatio || 1;
        ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
        ctx.fillStyle = '#fff';
        ctx.fillRect(0, 0, width, height);
        const ts = thumbSize();
        if (ts > 0) {
          ctx.imageSmoothingEnabled = true;
          for (let i = 0; i < n; i++) {
            if (!visible(i)) continue;
            const [x, y] = toScreen(pos[2 * i], pos[2 * i + 1]);
            if (x < -ts || y < -ts || x > width + ts || y > height + ts) continue;
            const p = Math.floor(i / thumbs.perPage), t = i % thumbs.perPage;
            const sx = (t % thumbs.cols) * thumbs.w, sy = Math.floor(t / thumbs.cols) * thumbs.h;
            ctx.drawImage(inked[p], sx, sy, thumbs.w, thumbs.h, x - ts / 2, y - ts / 2, ts, ts);
          }
        } else {
          // One path per class keeps fillStyle changes to a few.
          const r = dotSize() / 2;
          const groups = new Map();
          for (let i = 0; i < n; i++) {
            if (!visible(i)) continue;
            const c = labels ? labels[i] : -1;
            if (!groups.has(c)) groups.set(c, []);
            groups.get(c).push(i);
          }
          for (const [c, idx] of groups) {
            ctx.fillStyle = css(c < 0 ? UNLABELLED : classColour(c));
            ctx.beginPath();
            for (const i of idx) {
              const [x, y] = toScreen(pos[2 * i], pos[2 * i + 1]);
              ctx.rect(x - r, y - r, 2 * r, 2 * r);
            }
            ctx.fill();
          }
        }
        const ringR = Math.max(ts, dotSize() + 8) / 2 - 1;
        ctx.lineWidth = 2;
        for (const [i, kind] of highlighted()) {
          const [x, y] = toScreen(pos[2 * i], pos[2 * i + 1]);
          ctx.strokeStyle = css(RING[kind]);
          ctx.beginPath();
          ctx.arc(x, y, ringR, 0, 2 * Math.PI);
          ctx.stroke();
        }
      },
    };
  }

  // ---- picking and images --------------------------------------------------------------------
  // The visible point nearest to screen position (sx, sy), within its marker, or -1.
  function pick(sx, sy) {
    const ts = thumbSize();
    const reach = Math.max(ts / 2, dotSize() / 2 + 3) / view.scale;
    const [x, y] = toData(sx, sy);
    let best = -1, bestD = reach * reach;
    for (let i = 0; i < n; i++) {
      const dx = pos[2 * i] - x, dy = pos[2 * i + 1] - y;
      const d = dx * dx + dy * dy;
      if (d <= bestD && visible(i)) {
        bestD = d;
        best = i;
      }
    }
    return best;
  }
  // Draws point i's image into a canvas of side `side` (tinted by its label for grey images).
  function drawImage(i, cv, side) {
    cv.width = cv.height = side;
    const g = cv.getContext('2d');
    g.fillStyle = '#fff';
    g.fillRect(0, 0, side, side);
    if (!thumbs || !atlasImages[0] || atlasesLoaded < thumbs.pages.length) return;
    const p = Math.floor(i / thumbs.perPage), t = i % thumbs.perPage;
    const sx = (t % thumbs.cols) * thumbs.w, sy = Math.floor(t / thumbs.cols) * thumbs.h;
    g.imageSmoothingEnabled = false;
    const s = Math.min(side / thumbs.w, side / thumbs.h);
    g.drawImage(atlasImages[p], sx, sy, thumbs.w, thumbs.h, (side - s * thumbs.w) / 2, (side - s * thumbs.h) / 2, s * thumbs.w, s * thumbs.h);
  }
  const describe = (i) => `#${i}` + (labels ? ` · label ${labels[i]}` : '');

  function showTooltip(i, sx, sy) {
    const tip = $('tooltip');
    if (i < 0) {
      tip.hidden = true;
      return;
    }
    $('tip-text').textContent = `index ${i}` + (labels ? ` · label ${labels[i]}` : '');
    const img = $('tip-image');
    img.hidden = !thumbs;
    if (thumbs) drawImage(i, img, 112);
    tip.hidden = false;
    const tw = tip.offsetWidth, th = tip.offsetHeight;
    tip.style.left = `${sx + 14 + tw > width ? sx - 14 - tw : sx + 14}px`;
    tip.style.top = `${Math.max(0, Math.min(height - th, sy + 14))}px`;
  }

  function showNeighbours(i) {
    clicked = i;
    const box = $('neighbours');
    box.textContent = '';
    if (i < 0) {
      box.innerHTML = '<p class="hint">Click a point.</p>';
      redraw();
      return;
    }
    const entry = (j, cls) => {
      const d = document.createElement('div');
      d.className = `nb ${cls}`;
      d.dataset.index = String(j);
      if (thumbs) {
        const c = document.createElement('canvas');
        drawImage(j, c, 40);
        d.appendChild(c);
      }
      const s = document.createElement('span');
      s.textContent = describe(j);
      d.appendChild(s);
      d.addEventListener('click', () => focusPoint(j));
      box.appendChild(d);
    };
    entry(i, 'self');
    if (neighbours) for (let j = 0; j < k; j++) entry(neighbours[i * k + j], '');
    else box.insertAdjacentHTML('beforeend', '<p class="hint">No input vectors were given.</p>');
    redraw();
  }
  function focusPoint(i) {
    view.cx = pos[2 * i];
    view.cy = pos[2 * i + 1];
    $('follow').checked = false;
    showNeighbours(i);
  }

  // ---- legend, search, selection -------------------------------------------------------------
  function buildLegend() {
    const ul = $('legend');
    if (!labels) {
      ul.innerHTML = '<li class="hint">No labels.</li>';
      return;
    }
    for (const c of classes) {
      const li = document.createElement('li');
      li.dataset.label = String(c);
      li.innerHTML = `<span class="swatch" style="background:${css(classColour(c))}"></span><span>${c}</span><span class="count">${counts.get(c)}</span>`;
      li.addEventListener('click', () => {
        if (hidden.has(c)) hidden.delete(c);
        else hidden.add(c);
        li.classList.toggle('off', hidden.has(c));
        renderer.paletteChanged();
        redraw();
      });
      ul.appendChild(li);
    }
  }
  function setSelection(idx) {
    selection = idx;
    $('selection-info').textContent = idx.length ? `${idx.length} point${idx.length === 1 ? '' : 's'}` : 'none';
    for (const id of ['export-csv', 'export-json', 'clear-selection']) $(id).disabled = !idx.length;
    redraw();
  }
  function exportText(fmt) {
    if (fmt === 'json') return JSON.stringify(selection.map((i) => (labels ? { index: i, label: labels[i] } : { index: i })));
    return (labels ? 'index,label\n' : 'index\n') + selection.map((i) => (labels ? `${i},${labels[i]}\n` : `${i}\n`)).join('');
  }
  function download(fmt) {
    const blob = new Blob([exportText(fmt)], { type: fmt === 'json' ? 'application/json' : 'text/csv' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `selection.${fmt}`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }
  $('export-csv').addEventListener('click', () => download('csv'));
  $('export-json').addEventListener('click', () => download('json'));
  $('clear-selection').addEventListener('click', () => setSelection([]));

  $('search').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = $('search-text').value.trim();
    const out = $('search-result');
    let m;
    if ((m = /^#?(\d+)$/.exec(q))) {
      const i = parseInt(m[1], 10);
      if (i >= n) out.textContent = `no point ${i} (there are ${n})`;
      else {
        out.textContent = describe(i);
        focusPoint(i);
      }
    } else if ((m = /^label\s*[:=]?\s*(\d+)$/i.exec(q)) && labels) {
      const c = parseInt(m[1], 10);
      const idx = [];
      for (let i = 0; i < n; i++) if (labels[i] === c) idx.push(i);
      out.textContent = `${idx.length} points of label ${c} selected`;
      setSelection(idx);
    } else out.textContent = 'type an index (e.g. 42) or label:3';
  });

  // Points inside a polygon (screen coordinates), by the even-odd rule.
  function insidePolygon(poly) {
    const idx = [];
    for (let i = 0; i < n; i++) {
      if (!visible(i)) continue;
      const [x, y] = toScreen(pos[2 * i], pos[2 * i + 1]);
      let inside = false;
      for (let a = 0, b = poly.length - 1; a < poly.length; b = a++) {
        const [xa, ya] = poly[a], [xb, yb] = poly[b];
        if (ya > y !== yb > y && x < ((xb - xa) * (y - ya)) / (yb - ya) + xa) inside = !inside;
      }
      if (inside) idx.push(i);
    }
    return idx;
  }
  // Points inside a box given by two screen corners, compared in data coordinates.
  function insideBox(a, b) {
    const [x0, y0] = toData(Math.min(a[0], b[0]), Math.max(a[1], b[1]));
    const [x1, y1] = toData(Math.max(a[0], b[0]), Math.min(a[1], b[1]));
    const idx = [];
    for (let i = 0; i < n; i++) {
      const x = pos[2 * i], y = pos[2 * i + 1];
      if (x >= x0 && x <= x1 && y >= y0 && y <= y1 && visible(i)) idx.push(i);
    }
    return idx;
  }

  // ---- input ---------------------------------------------------------------------------------
  const pointers = new Map(); // pointerId -> [x, y]
  let gesture = null; // {kind: 'pan'|'box'|'lasso'|'pinch', ...}
  let lassoPath = null;
  const local = (e) => {
    const r = canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  };
  canvas.addEventListener('pointerdown', (e) => {
    canvas.setPointerCapture(e.pointerId);
    const p = local(e);
    pointers.set(e.pointerId, p);
    if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      gesture = { kind: 'pinch', dist: Math.hypot(a[0] - b[0], a[1] - b[1]), mid: [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2] };
      return;
    }
    const kind = e.shiftKey ? 'box' : e.altKey ? 'lasso' : 'pan';
    gesture = { kind, start: p, last: p, moved: 0 };
    if (kind === 'lasso') lassoPath = [p];
  });
  canvas.addEventListener('pointermove', (e) => {
    const p = local(e);
    if (!gesture) {
      hover = pick(p[0], p[1]);
      showTooltip(hover, p[0], p[1]);
      redraw();
      return;
    }
    const prev = pointers.get(e.pointerId) || p;
    pointers.set(e.pointerId, p);
    if (gesture.kind === 'pinch') {
      if (pointers.size < 2) return;
      const [a, b] = [...pointers.values()];
      const dist = Math.hypot(a[0] - b[0], a[1] - b[1]);
      const mid = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
      zoomAt(gesture.mid, dist / Math.max(gesture.dist, 1));
      view.cx -= (mid[0] - gesture.mid[0]) / view.scale;
      view.cy += (mid[1] - gesture.mid[1]) / view.scale;
      gesture.dist = dist;
      gesture.mid = mid;
      redraw();
      return;
    }
    gesture.moved += Math.hypot(p[0] - prev[0], p[1] - prev[1]);
    if (gesture.kind === 'pan') {
      view.cx -= (p[0] - prev[0]) / view.scale;
      view.cy += (p[1] - prev[1]) / view.scale;
      if (gesture.moved > 3) $('follow').checked = false;
      $('tooltip').hidden = true;
      redraw();
    } else if (gesture.kind === 'box') {
      const b = $('box');
      b.hidden = false;
      b.style.left = `${Math.min(gesture.start[0], p[0])}px`;
      b.style.top = `${Math.min(gesture.start[1], p[1])}px`;
      b.style.width = `${Math.abs(p[0] - gesture.start[0])}px`;
      b.style.height = `${Math.abs(p[1] - gesture.start[1])}px`;
    } else if (gesture.kind === 'lasso') {
      lassoPath.push(p);
      drawLasso();
    }
    gesture.last = p;
  });
  function endGesture(e) {
    pointers.delete(e.pointerId);
    if (!gesture) return;
    const g = gesture;
    if (g.kind === 'pinch') {
      if (pointers.size === 0) gesture = null;
      return;
    }
    gesture = null;
    const p = local(e);
    if (g.kind === 'box') {
      $('box').hidden = true;
      setSelection(insideBox(g.start, p));
    } else if (g.kind === 'lasso') {
      setSelection(lassoPath.length > 2 ? insidePolygon(lassoPath) : []);
      lassoPath = null;
      drawLasso();
    } else if (g.moved <= 3 && e.type === 'pointerup') {
      showNeighbours(pick(p[0], p[1]));
    }
  }
  canvas.addEventListener('pointerup', endGesture);
  canvas.addEventListener('pointercancel', endGesture);
  canvas.addEventListener('pointerleave', () => {
    if (gesture) return;
    hover = -1;
    $('tooltip').hidden = true;
    redraw();
  });
  // The lasso is an SVG path over the map while it is being drawn.
  let lassoSvg = null;
  function drawLasso() {
    if (!lassoSvg) {
      lassoSvg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
      lassoSvg.setAttribute('style', 'position:absolute;inset:0;width:100%;height:100%;pointer-events:none');
      lassoSvg.innerHTML = '<path fill="rgba(0,0,0,0.06)" stroke="#333" stroke-dasharray="4 3"/>';
      $('map').appendChild(lassoSvg);
    }
    lassoSvg.firstChild.setAttribute('d', lassoPath ? 'M' + lassoPath.map((q) => q.join(' ')).join('L') + 'Z' : '');
  }
  function zoomAt(p, factor) {
    const [x, y] = toData(p[0], p[1]);
    view.scale *= factor;
    view.cx = x - (p[0] - width / 2) / view.scale;
    view.cy = y + (p[1] - height / 2) / view.scale;
    $('follow').checked = false;
  }
  canvas.addEventListener('wheel', (e) => {
    e.preventDefault();
    const d = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
    zoomAt(local(e), Math.exp(-d * 0.0015));
    $('tooltip').hidden = true;
    redraw();
  }, { passive: false });
  window.addEventListener('resize', resize);

  // ---- start ---------------------------------------------------------------------------------
  $('stats').textContent = `${n.toLocaleString('en')} points · ${renderer.kind}` + (frames.length ? ` · ${frames.length} frames` : '');
  buildLegend();
  resize();
  if (frames.length) setTime(frames.length - 1);

  // A small API for tests and scripting: read-only views and a way to wait for a drawn frame.
  window.__explorer = {
    n,
    renderer: renderer.kind,
    get frames() { return frameCount; },
    get ready() { return readyAt !== null; },
    get readyAt() { return readyAt; },
    get thumbSize() { return thumbSize(); },
    afterFrame: () => new Promise((res) => { frameWaiters.push(res); redraw(); }),
    toScreen: (i) => {
      const r = canvas.getBoundingClientRect();
      const [x, y] = toScreen(pos[2 * i], pos[2 * i + 1]);
      return [r.left + x, r.top + y];
    },
    toData: (cx, cy) => {
      const r = canvas.getBoundingClientRect();
      return toData(cx - r.left, cy - r.top);
    },
    position: (i) => [pos[2 * i], pos[2 * i + 1]],
    mapRect: () => { const r = canvas.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; },
    selection: () => selection.slice(),
    clicked: () => clicked,
    exportText,
  };
})();
