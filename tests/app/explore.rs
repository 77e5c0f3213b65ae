//! The explorer page (`latentviz explore`) in a real browser: headless Chromium (ANGLE on
//! SwiftShader for WebGL2), driven over the DevTools protocol through a small WebSocket client
//! written here. The page is loaded from file:// and checked in what it renders: no console
//! errors; a class's colour where its points are, and nowhere once its legend entry is clicked;
//! the tooltip of a hovered point; a box selection's export; the timeline moving the points; the
//! Canvas 2D fallback. Bad inputs get clear errors and write nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use npyz::WriterBuilder;
use serde_json::{Value, json};

use crate::common::latentviz;
use latentviz::app::figures::TAB10;
use latentviz::data::npy;

// ---- a minimal WebSocket client (RFC 6455: text frames, client-masked) -----------------------

struct Ws {
    stream: TcpStream,
}

impl Ws {
    /// Connects to `ws://host:port/path`.
    fn connect(url: &str) -> Ws {
        let rest = url.strip_prefix("ws://").expect("a ws:// URL");
        let (host, path) = rest.split_at(rest.find('/').expect("a path"));
        let mut stream = TcpStream::connect(host).expect("connect to DevTools");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: bGF0ZW50dml6LXRlc3Qta2V5\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        // The handshake's answer ends with an empty line.
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).expect("handshake answer");
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(
            head.starts_with("HTTP/1.1 101"),
            "handshake refused: {head}"
        );
        Ws { stream }
    }

    fn send(&mut self, text: &str) {
        let payload = text.as_bytes();
        let mut frame = vec![0x81u8];
        match payload.len() {
            l if l < 126 => frame.push(0x80 | l as u8),
            l if l < 65536 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(l as u16).to_be_bytes());
            }
            l => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(l as u64).to_be_bytes());
            }
        }
        let mask = [0x5a, 0x13, 0xc7, 0x2e];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).expect("send to DevTools");
    }

    /// The next whole text message (continuation frames joined).
    fn recv(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let mut h = [0u8; 2];
            self.stream.read_exact(&mut h).expect("read from DevTools");
            let (fin, opcode) = (h[0] & 0x80 != 0, h[0] & 0x0f);
            let len = match h[1] & 0x7f {
                126 => {
                    let mut b = [0u8; 2];
                    self.stream.read_exact(&mut b).unwrap();
                    u16::from_be_bytes(b) as usize
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.stream.read_exact(&mut b).unwrap();
                    u64::from_be_bytes(b) as usize
                }
                l => l as usize,
            };
            let mut payload = vec![0u8; len];
            self.stream.read_exact(&mut payload).unwrap();
            assert_ne!(opcode, 8, "DevTools closed the connection");
            if opcode == 9 || opcode == 10 {
                continue; // Chromium does not ping its clients; ignore control frames.
            }
            message.extend_from_slice(&payload);
            if fin {
                return String::from_utf8(message).expect("UTF-8 message");
            }
        }
    }
}

// ---- the browser -----------------------------------------------------------------------------

const WIDTH: u32 = 900;
const HEIGHT: u32 = 700;

struct Browser {
    child: Child,
    ws: Ws,
    session: String,
    next_id: u64,
    /// Console errors and uncaught exceptions seen so far.
    errors: Vec<String>,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    fn launch() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--use-angle=swiftshader",
                "--enable-unsafe-swiftshader",
                "--disable-background-networking",
                "--disable-extensions",
                "--no-first-run",
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
                &format!("--window-size={WIDTH},{HEIGHT}"),
                "--remote-debugging-port=0",
                &format!("--user-data-dir={}", profile.path().display()),
                "about:blank",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium runs (bash .ci/run installs it: apt-get install chromium)");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("chromium printed its DevTools address")
                .unwrap();
            if let Some(at) = line.find("ws://") {
                break line[at..].trim().to_string();
            }
        };
        // Keep draining stderr so that chromium never blocks on it.
        std::thread::spawn(move || lines.for_each(drop));
        let mut b = Browser {
            child,
            ws: Ws::connect(&url),
            session: String::new(),
            next_id: 0,
            errors: Vec::new(),
            _profile: profile,
        };
        let targets = b.call("Target.getTargets", json!({}));
        let page = targets["targetInfos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .expect("a page target")["targetId"]
            .clone();
        let attached = b.call(
            "Target.attachToTarget",
            json!({"targetId": page, "flatten": true}),
        );
        b.session = attached["sessionId"].as_str().unwrap().to_string();
        for domain in ["Runtime.enable", "Log.enable", "Page.enable"] {
            b.call(domain, json!({}));
        }
        b
    }

    /// Sends one command (to the page once attached) and returns its result; events that arrive
    /// meanwhile are scanned for errors.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            msg["sessionId"] = self.session.clone().into();
        }
        self.ws.send(&msg.to_string());
        loop {
            let v: Value = serde_json::from_str(&self.ws.recv()).unwrap();
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    panic!("{method} failed: {e}");
                }
                return v["result"].clone();
            }
            self.note_event(&v);
        }
    }

    fn note_event(&mut self, v: &Value) {
        let p = &v["params"];
        match v["method"].as_str() {
            Some("Runtime.consoleAPICalled") if p["type"] == "error" => {
                self.errors.push(format!("console.error: {}", p["args"]))
            }
            Some("Runtime.exceptionThrown") => self
                .errors
                .push(format!("exception: {}", p["exceptionDetails"])),
            Some("Log.entryAdded") if p["entry"]["level"] == "error" => {
                self.errors.push(format!("log: {}", p["entry"]["text"]))
            }
            _ => {}
        }
    }

    /// Evaluates a JS expression (awaiting a promise) and returns its value.
    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expr}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Loads `url` and waits until the explorer has drawn its first frame with every atlas.
    fn open(&mut self, url: &str) {
        self.eval("delete window.__explorer");
        self.call("Page.navigate", json!({"url": url}));
        let start = Instant::now();
        while self.eval("!!(window.__explorer && window.__explorer.ready)") != json!(true) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the page never drew a frame; errors: {:?}",
                self.errors
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.frame();
    }

    /// Waits until the page has drawn a fresh frame.
    fn frame(&mut self) {
        self.eval("window.__explorer.afterFrame()");
    }

    fn mouse(&mut self, kind: &str, x: f64, y: f64, modifiers: u32, buttons: u32) {
        let button = if kind == "mouseMoved" && buttons == 0 {
            "none"
        } else {
            "left"
        };
        let clicks = if kind == "mouseMoved" { 0 } else { 1 };
        self.call(
            "Input.dispatchMouseEvent",
            json!({"type": kind, "x": x, "y": y, "modifiers": modifiers, "button": button,
                   "buttons": buttons, "clickCount": clicks, "pointerType": "mouse"}),
        );
    }

    fn click(&mut self, x: f64, y: f64) {
        self.mouse("mouseMoved", x, y, 0, 0);
        self.mouse("mousePressed", x, y, 0, 1);
        self.mouse("mouseReleased", x, y, 0, 0);
    }

    fn screenshot(&mut self) -> image::RgbImage {
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        image::load_from_memory(&png).unwrap().to_rgb8()
    }

    fn screen_of(&mut self, i: usize) -> (f64, f64) {
        let v = self.eval(&format!("window.__explorer.toScreen({i})"));
        (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())
    }
}

// ---- the test data ---------------------------------------------------------------------------

const PER_CLASS: usize = 60;
const CLASSES: usize = 4;
const N: usize = PER_CLASS * CLASSES;
const SIDE: usize = 8;

/// Cluster centres: class c at a corner of a square.
const CENTRES: [[f32; 2]; CLASSES] = [[-10.0, 10.0], [10.0, 10.0], [-10.0, -10.0], [10.0, -10.0]];

/// Point i: class i / PER_CLASS, spread around its centre on a small spiral.
fn final_positions() -> Vec<f32> {
    (0..N)
        .flat_map(|i| {
            let (c, j) = (i / PER_CLASS, (i % PER_CLASS) as f32);
            let (r, a) = (0.5 + 0.08 * j, j * 2.4);
            [CENTRES[c][0] + r * a.cos(), CENTRES[c][1] + r * a.sin()]
        })
        .collect()
}

fn labels() -> Vec<u8> {
    (0..N).map(|i| (i / PER_CLASS) as u8).collect()
}

/// Writes the inputs of a page: embedding, labels, images, snapshots (three frames growing from
/// a hundredth of the final spread), metrics. Returns (embedding, images, labels, snapshots,
/// metrics) paths.
fn write_inputs(dir: &Path) -> [PathBuf; 5] {
    let y = final_positions();
    let paths = [
        "y.npy",
        "images.npy",
        "labels.npy",
        "snaps",
        "metrics.jsonl",
    ]
    .map(|p| dir.join(p));
    npy::write_f32_2d(&paths[0], N, 2, &y).unwrap();
    // Image i: a bar whose row is its class, on black.
    let images: Vec<u8> = (0..N)
        .flat_map(|i| {
            (0..SIDE * SIDE).map(move |p| {
                if p / SIDE == 2 * (i / PER_CLASS) {
                    255
                } else {
                    0
                }
            })
        })
        .collect();
    write_u8_3d(&paths[1], &images);
    npy::write_labels_u8(&paths[2], &labels()).unwrap();
    std::fs::create_dir(&paths[3]).unwrap();
    for (it, s) in [(50, 0.01f32), (100, 0.3), (150, 1.0)] {
        let snap: Vec<f32> = y.iter().map(|v| v * s).collect();
        npy::write_f32_2d(&paths[3].join(format!("y_{it:05}.npy")), N, 2, &snap).unwrap();
    }
    std::fs::write(
        &paths[4],
        "{\"iteration\":50,\"kl\":5.0}\n{\"iteration\":100,\"kl\":2.5}\n{\"iteration\":150,\"kl\":1.25}\n",
    )
    .unwrap();
    paths
}

fn write_u8_3d(path: &Path, data: &[u8]) {
    let mut w = npyz::WriteOptions::<u8>::new()
        .default_dtype()
        .shape(&[
            (data.len() / (SIDE * SIDE)) as u64,
            SIDE as u64,
            SIDE as u64,
        ])
        .writer(std::fs::File::create(path).unwrap())
        .begin_nd()
        .unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
}

fn write_page(dir: &Path) -> PathBuf {
    let [y, images, labels, snaps, metrics] = write_inputs(dir);
    let page = dir.join("page.html");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (ok, err) = latentviz(&[
        "explore",
        "--embedding",
        &s(&y),
        "--images",
        &s(&images),
        "--labels",
        &s(&labels),
        "--snapshots",
        &s(&snaps),
        "--metrics",
        &s(&metrics),
        "--out",
        &s(&page),
    ]);
    assert!(ok, "latentviz explore failed: {err}");
    page
}

// ---- checks ----------------------------------------------------------------------------------

/// Pixels of colour `c` (within 2 per channel) inside the map's rectangle.
fn count_colour(img: &image::RgbImage, rect: &Value, c: [u8; 3]) -> usize {
    let f = |k: usize| rect[k].as_f64().unwrap() as u32;
    let (x0, y0, w, h) = (f(0), f(1), f(2), f(3));
    let mut count = 0;
    for y in y0..(y0 + h).min(img.height()) {
        for x in x0..(x0 + w).min(img.width()) {
            let p = img.get_pixel(x, y).0;
            if (0..3).all(|k| p[k].abs_diff(c[k]) <= 2) {
                count += 1;
            }
        }
    }
    count
}

/// For each class, how many of its first 10 points have their class's colour at their centre.
fn check_class_colours(b: &mut Browser, what: &str) {
    let img = b.screenshot();
    for (c, colour) in TAB10.iter().enumerate().take(CLASSES) {
        let hits = (0..10)
            .filter(|j| {
                let (x, y) = b.screen_of(c * PER_CLASS + j * 5);
                let p = img.get_pixel(x as u32, y as u32).0;
                (0..3).all(|k| p[k].abs_diff(colour[k]) <= 2)
            })
            .count();
        assert!(
            hits >= 9,
            "{what}: class {c}: {hits} of 10 points show its colour"
        );
    }
}

#[test]
fn explorer_page_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let page = write_page(dir.path());
    let url = format!("file://{}", page.display());
    let mut b = Browser::launch();
    b.open(&url);
    assert_eq!(b.eval("window.__explorer.renderer"), json!("webgl2"));
    assert_eq!(b.eval("window.__explorer.n"), json!(N));
    check_class_colours(&mut b, "WebGL2");

    // Hover: the tooltip names the point under the cursor.
    let i = PER_CLASS + 30;
    let (x, y) = b.screen_of(i);
    b.mouse("mouseMoved", x, y, 0, 0);
    b.frame();
    assert_eq!(
        b.eval("document.getElementById('tooltip').hidden"),
        json!(false)
    );
    assert_eq!(
        b.eval("document.getElementById('tip-text').textContent"),
        json!(format!("index {i} · label 1"))
    );
    b.mouse("mouseMoved", 2.0, 2.0, 0, 0);

    // Click: the neighbours panel lists the point and its 10 neighbours.
    b.click(x, y);
    b.frame();
    assert_eq!(b.eval("window.__explorer.clicked()"), json!(i));
    assert_eq!(
        b.eval("document.querySelectorAll('#neighbours .nb').length"),
        json!(11)
    );

    // Legend: clicking class 2 removes its colour from the map.
    let rect = b.eval("window.__explorer.mapRect()");
    assert!(count_colour(&b.screenshot(), &rect, TAB10[2]) > 50);
    let r = b.eval(
        "(() => { const r = document.querySelector('#legend li[data-label=\"2\"]').getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()",
    );
    b.click(r[0].as_f64().unwrap(), r[1].as_f64().unwrap());
    b.frame();
    let shot = b.screenshot();
    assert_eq!(
        count_colour(&shot, &rect, TAB10[2]),
        0,
        "class 2 still drawn"
    );
    assert!(count_colour(&shot, &rect, TAB10[3]) > 50, "class 3 drawn");

    // Box selection (shift-drag) across the top-left cluster and into the hidden class 2: the
    // export lists exactly the visible points inside the box.
    let (cx, cy) = b.screen_of(0);
    let (x0, y0, x1, y1) = (cx - 60.0, cy - 25.0, cx + 12.0, cy + 400.0);
    b.mouse("mouseMoved", x0, y0, 0, 0);
    b.mouse("mousePressed", x0, y0, 8, 1);
    b.mouse("mouseMoved", (x0 + x1) / 2.0, (y0 + y1) / 2.0, 8, 1);
    b.mouse("mouseMoved", x1, y1, 8, 1);
    b.mouse("mouseReleased", x1, y1, 8, 0);
    b.frame();
    let a = b.eval(&format!("window.__explorer.toData({x0}, {y0})"));
    let z = b.eval(&format!("window.__explorer.toData({x1}, {y1})"));
    let (lo_x, hi_x) = (a[0].as_f64().unwrap(), z[0].as_f64().unwrap());
    let (lo_y, hi_y) = (z[1].as_f64().unwrap(), a[1].as_f64().unwrap());
    let pos = final_positions();
    let want: Vec<Value> = (0..N)
        .filter(|&i| {
            let (px, py) = (pos[2 * i] as f64, pos[2 * i + 1] as f64);
            i / PER_CLASS != 2 && px >= lo_x && px <= hi_x && py >= lo_y && py <= hi_y
        })
        .map(|i| json!({"index": i, "label": i / PER_CLASS}))
        .collect();
    assert!(
        want.len() > 5 && want.len() < PER_CLASS,
        "the box cuts the cluster: {} points",
        want.len()
    );
    let got: Value = serde_json::from_str(
        b.eval("window.__explorer.exportText('json')")
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(got, Value::Array(want.clone()));
    let csv = b.eval("window.__explorer.exportText('csv')");
    assert_eq!(csv.as_str().unwrap().lines().count(), want.len() + 1);

    // Timeline: back to the first snapshot, the points sit at a hundredth of their final place.
    // (The cursor leaves the map first, so that no tooltip covers the points.)
    b.mouse("mouseMoved", f64::from(WIDTH) - 20.0, 300.0, 0, 0);
    let before = b.eval("window.__explorer.position(7)");
    b.eval("(() => { const s = document.getElementById('time'); s.value = '0'; s.dispatchEvent(new Event('input')); })()");
    b.frame();
    let after = b.eval("window.__explorer.position(7)");
    for k in 0..2 {
        let (f, s) = (before[k].as_f64().unwrap(), after[k].as_f64().unwrap());
        assert!((s - 0.01 * f).abs() < 1e-3 * f.abs().max(1.0), "{f} -> {s}");
    }
    let info = b.eval("document.getElementById('time-info').textContent");
    assert_eq!(info, json!("iteration 50 · KL 5.000"));
    // Drawn there too: each visible class's colour at its points.
    let shot = b.screenshot();
    for c in [0, 1, 3] {
        let (x, y) = b.screen_of(c * PER_CLASS + 20);
        let p = shot.get_pixel(x as u32, y as u32).0;
        assert!(
            (0..3).all(|k| p[k].abs_diff(TAB10[c][k]) <= 2),
            "class {c} at frame 0: {p:?}"
        );
    }
    assert!(b.errors.is_empty(), "console errors: {:?}", b.errors);

    // The Canvas 2D fallback draws the same map.
    b.open(&format!("{url}?renderer=canvas"));
    assert_eq!(b.eval("window.__explorer.renderer"), json!("canvas2d"));
    check_class_colours(&mut b, "Canvas 2D");
    assert!(b.errors.is_empty(), "console errors: {:?}", b.errors);
}

#[test]
fn bad_inputs_name_the_problem_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let [y, images, ..] = write_inputs(dir.path());
    let page = dir.path().join("page.html");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec!["explore".to_string(), "--out".into(), s(&page)];
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        latentviz(&args)
    };

    // An embedding with fewer rows than the images.
    let short = dir.path().join("short.npy");
    npy::write_f32_2d(&short, N - 1, 2, &final_positions()[..2 * (N - 1)]).unwrap();
    let (ok, err) = run(&["--embedding", &s(&short), "--images", &s(&images)]);
    assert!(
        !ok && err.contains(&format!("{N} images for the {} rows", N - 1)),
        "{err}"
    );

    // NaN positions.
    let mut p = final_positions();
    p[2 * 17 + 1] = f32::NAN;
    let nan = dir.path().join("nan.npy");
    npy::write_f32_2d(&nan, N, 2, &p).unwrap();
    let (ok, err) = run(&["--embedding", &s(&nan)]);
    assert!(
        !ok && err.contains("point 17 has a non-finite coordinate"),
        "{err}"
    );

    // A 3-D embedding.
    let three = dir.path().join("three.npy");
    npy::write_f32_2d(&three, N, 3, &vec![0.0; 3 * N]).unwrap();
    let (ok, err) = run(&["--embedding", &s(&three)]);
    assert!(!ok && err.contains(&format!("{N} × 3")), "{err}");

    // A missing snapshot directory, and labels of the wrong length.
    let (ok, err) = run(&["--embedding", &s(&y), "--snapshots", "/nonexistent/snaps"]);
    assert!(
        !ok && err.contains("/nonexistent/snaps") && err.contains("does not exist"),
        "{err}"
    );
    let few = dir.path().join("few.npy");
    npy::write_labels_u8(&few, &[0; 5]).unwrap();
    let (ok, err) = run(&["--embedding", &s(&y), "--labels", &s(&few)]);
    assert!(
        !ok && err.contains(&format!("5 labels for the {N} rows")),
        "{err}"
    );

    assert!(!page.exists(), "no page after a failure");
}

/// Measures pages written beforehand (dev/explore_measure.sh): size, time from navigation to the
/// first frame with every thumbnail, and frame time while panning. Pages in
/// LATENTVIZ_EXPLORE_PAGES, separated by commas.
#[test]
#[ignore = "a measurement; run by dev/explore_measure.sh"]
fn measure_pages() {
    let pages = std::env::var("LATENTVIZ_EXPLORE_PAGES").expect("LATENTVIZ_EXPLORE_PAGES");
    let mut b = Browser::launch();
    for page in pages.split(',') {
        let bytes = std::fs::metadata(page).expect("page exists").len();
        b.open(&format!("file://{page}"));
        let first = b.eval("window.__explorer.readyAt").as_f64().unwrap();
        let renderer = b.eval("window.__explorer.renderer");
        let n = b.eval("window.__explorer.n");
        // Pan: 60 drags of 5 px, each waiting for its frame.
        let (x, y) = (300.0, 300.0);
        b.mouse("mouseMoved", x, y, 0, 0);
        b.mouse("mousePressed", x, y, 0, 1);
        let start = Instant::now();
        for k in 1..=60 {
            b.mouse("mouseMoved", x + 5.0 * k as f64, y, 0, 1);
            b.frame();
        }
        let per_frame = start.elapsed().as_secs_f64() * 1000.0 / 60.0;
        b.mouse("mouseReleased", x + 300.0, y, 0, 0);
        println!(
            "{page}: {n} points, {:.1} MB, {renderer}, first frame {first:.0} ms, panning {per_frame:.1} ms/frame",
            bytes as f64 / 1e6
        );
    }
    assert!(b.errors.is_empty(), "console errors: {:?}", b.errors);
}

/// The page's neighbours are the nearest in the original space, on random points and on MNIST's
/// 784 pixels alike (exact search, ties to the smaller index as the CPU sort breaks them); past
/// the exact search's budget, most of them (searched in 50 principal components).
#[test]
fn neighbours_are_the_nearest_in_the_original_space() {
    use latentviz::app::explore::{NEIGHBOURS, neighbours_within};
    use latentviz::knn;
    let gpu = crate::common::gpu();
    let recall = |x: &[f32], n: usize, d: usize, budget: f64| -> f64 {
        let (k, got) = neighbours_within(gpu, x, n, d, budget).unwrap();
        assert_eq!(k, NEIGHBOURS);
        let dist = knn::cpu::sqdist_block(x, n, d, 0, n);
        let (want, _) = knn::cpu::topk_rows(&dist, n, 0, n, k);
        let hits = (0..n)
            .map(|i| {
                let row = &want[i * k..(i + 1) * k];
                got[i * k..(i + 1) * k]
                    .iter()
                    .filter(|j| row.contains(j))
                    .count()
            })
            .sum::<usize>();
        hits as f64 / (n * k) as f64
    };
    let mut rng = latentviz::rng::Rng::new(5);
    let (n, d) = (300, 20);
    let x = crate::common::points(&mut rng, n, d);
    assert_eq!(recall(&x, n, d, 0.0), 1.0);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/mnist");
    let set = latentviz::data::mnist::load(Path::new(dir), latentviz::data::mnist::Split::Test)
        .unwrap()
        .subset(1000);
    assert_eq!(recall(&set.images, 1000, 784, 1e9), 1.0);
    let r = recall(&set.images, 1000, 784, 1e8);
    assert!(
        (0.8..1.0).contains(&r),
        "recall {r} in 50 principal components"
    );
}

/// Zoomed in, each point is drawn as its image in its class's colour: the row of the image that
/// is lit (row 2 for class 1) shows the colour, a dark row of the same thumbnail does not (a dot
/// would fill both).
#[test]
fn zoomed_in_the_images_replace_the_dots() {
    let dir = tempfile::tempdir().unwrap();
    let page = write_page(dir.path());
    let mut b = Browser::launch();
    b.open(&format!("file://{}", page.display()));
    // The outermost point of class 1's spiral: no other point within a thumbnail of it.
    let i = PER_CLASS + PER_CLASS - 1;
    let pos = final_positions();
    let nearest = (0..N)
        .filter(|&j| j != i)
        .map(|j| (pos[2 * j] - pos[2 * i]).hypot(pos[2 * j + 1] - pos[2 * i + 1]))
        .fold(f32::INFINITY, f32::min) as f64;
    let mut ts = 0.0;
    for _ in 0..40 {
        let (x, y) = b.screen_of(i);
        ts = b.eval("window.__explorer.thumbSize").as_f64().unwrap();
        let (a, z) = (b.screen_of(0), b.screen_of(1));
        let data = (pos[0] - pos[2]).hypot(pos[1] - pos[3]) as f64;
        let px_per_unit = (a.0 - z.0).hypot(a.1 - z.1) / data;
        if ts > 0.0 && nearest * px_per_unit > 1.5 * ts {
            break;
        }
        b.call(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseWheel", "x": x, "y": y, "deltaX": 0, "deltaY": -200}),
        );
        b.frame();
    }
    assert!(
        ts >= 14.0,
        "never zoomed in far enough for thumbnails ({ts} px)"
    );
    // Off the map's points, so that no tooltip covers them.
    b.mouse("mouseMoved", f64::from(WIDTH) - 20.0, 300.0, 0, 0);
    b.frame();
    let (x, y) = b.screen_of(i);
    let shot = b.screenshot();
    let row = |r: usize| {
        let yr = y - ts / 2.0 + (r as f64 + 0.5) * ts / SIDE as f64;
        shot.get_pixel(x as u32, yr as u32).0
    };
    let near = |p: [u8; 3], c: [u8; 3]| (0..3).all(|k| p[k].abs_diff(c[k]) <= 40);
    let (lit, dark) = (row(2), row(5));
    assert!(
        near(lit, TAB10[1]),
        "the lit row {lit:?} is not class 1's colour"
    );
    assert!(
        !near(dark, TAB10[1]),
        "a dark row {dark:?} has the class colour: a dot?"
    );
    assert!(b.errors.is_empty(), "console errors: {:?}", b.errors);
}
