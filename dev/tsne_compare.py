#!/usr/bin/env python3
"""`latentviz tsne` next to openTSNE on MNIST and on data unlike it, at 20,000-100,000 points: time,
KL and 10-NN accuracy of each, runs interleaved (ours, theirs, ours, ...) so that the machine's
drift hits both alike. Both run with their defaults; inputs of more than 100 features go through
PCA to 50 first on both sides (our default; `tsne_reference.py --pca 50`).

    cargo build --release
    python3 dev/tsne_compare.py --python VENV/bin/python [--rounds 2] [--only mixture50k,mnist70k]
        [--text DIR] [--baseline OLD/latentviz] [--out runs.jsonl]

VENV: a Python with numpy, scikit-learn and openTSNE (`pip install numpy scikit-learn
openTSNE==1.0.4`; `bash .ci/run` makes one in ~/.cache/latentviz/venv). The data sets are made
once by ../shared/tools/tsne_datasets.py into --data. `--text DIR` adds a real set of sentence
embeddings (DIR/X.npy, DIR/y.npy); `--baseline` runs another build of ours beside (a column
"before"; a run that fails says so). Times: openTSNE's own timer (PCA + t-SNE, its loading left
out) against our total less loading and the accuracy measure; each run's JSON goes to --out
(and stderr), the table to stdout.
"""
import argparse, json, os, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared")
TOOLS = os.path.join(SHARED, "tools")

# name: tsne_datasets.py arguments (None: MNIST)
SETS = {
    "mnist70k": None,
    "mixture50k": ["--kind", "mixture", "--n", "50000", "--spread", "6"],
    "mixture100k": ["--kind", "mixture", "--n", "100000", "--dims", "50", "--clusters", "20", "--spread", "4"],
    "duplicates20k": ["--kind", "duplicates", "--n", "20000"],
    "embeddings64k": ["--kind", "embeddings", "--n", "64000", "--dims", "384"],
    "tails50k": ["--kind", "tails", "--n", "50000"],
    "swissroll50k": ["--kind", "swissroll", "--n", "50000"],
}


def dims_of(path):
    """Columns of a 2-D .npy file, from its header (this script needs no numpy itself)."""
    import ast
    with open(path, "rb") as f:
        f.read(8)
        header_len = int.from_bytes(f.read(2), "little")
        return ast.literal_eval(f.read(header_len).decode("latin1"))["shape"][1]


def inputs(name, a):
    """(our input arguments, openTSNE's input arguments) for a data set."""
    if name == "mnist70k":
        mnist = os.path.join(SHARED, "data", "mnist")
        return (["--mnist", mnist, "--split", "all"], ["--mnist", mnist, "--split", "all", "--pca", "50"])
    if name == "text":
        folder = a.text
    else:
        folder = os.path.join(a.data, name)
        if not os.path.exists(os.path.join(folder, "X.npy")):
            subprocess.run([a.python, os.path.join(TOOLS, "tsne_datasets.py"), *SETS[name], "--out", folder],
                           check=True, stdout=subprocess.DEVNULL)
    x, y = os.path.join(folder, "X.npy"), os.path.join(folder, "y.npy")
    pca = ["--pca", "50"] if dims_of(x) > 100 else []
    return (["--input", x, "--labels", y], ["--input", x, "--labels", y, *pca])


def ours(a, args, binary=None):
    with tempfile.TemporaryDirectory() as tmp:
        metrics = os.path.join(tmp, "m.jsonl")
        run = subprocess.run([binary or a.latentviz, "tsne", *args, "--out", os.path.join(tmp, "Y.npy"), "--metrics", metrics,
                              "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "WGPU_BACKEND": os.environ.get("WGPU_BACKEND", "vulkan")})
        if run.returncode != 0:
            return {"error": run.stderr.strip().splitlines()[0] if run.stderr.strip() else f"exit {run.returncode}"}
        with open(metrics) as f:
            last = json.loads(f.read().splitlines()[-1])
    return {"seconds": last["seconds"] - last["load_s"] - last["metric_s"], "kl": last["kl"], "knn_accuracy": last["knn_accuracy"],
            "iterations": last["iteration"], "phases": {k: last[k] for k in
                                                        ("pca_s", "knn_s", "affinity_s", "init_s", "optimize_s")}}


def theirs(a, args):
    out = subprocess.run([a.python, os.path.join(TOOLS, "tsne_reference.py"), *args, "--impl", "opentsne",
                          "--threads", str(a.threads)], check=True, capture_output=True, text=True).stdout
    rec = json.loads(out.strip().splitlines()[-1])
    return {"seconds": rec["seconds"], "kl": rec["kl"], "knn_accuracy": rec["knn_accuracy"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=sys.executable, help="a Python with numpy, scikit-learn, openTSNE")
    ap.add_argument("--latentviz", default=os.path.join(ROOT, "target", "release", "latentviz"))
    ap.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "latentviz-tsne-data"))
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", help="comma-separated names: " + ", ".join(SETS) + ", text")
    ap.add_argument("--text", help="a folder with X.npy and y.npy of real sentence embeddings")
    ap.add_argument("--out", help="JSON lines of every run")
    ap.add_argument("--baseline", help="another latentviz binary (say main's) to run beside, as 'before'")
    a = ap.parse_args()
    names = a.only.split(",") if a.only else list(SETS) + (["text"] if a.text else [])
    for name in names:
        if name not in SETS and not (name == "text" and a.text):
            ap.error(f"unknown data set {name!r}")
    if not os.access(a.latentviz, os.X_OK):
        ap.error(f"{a.latentviz} is not built: cargo build --release")
    out = open(a.out, "a") if a.out else None
    rows = []
    for name in names:
        mine, ref = inputs(name, a)
        impls = [("latentviz", lambda a, args: ours(a, args), mine), ("openTSNE", theirs, ref)]
        if a.baseline:
            impls.append(("before", lambda a, args: ours(a, args, a.baseline), mine))
        runs = {impl: [] for impl, _, _ in impls}
        for r in range(a.rounds):
            for impl, run, args in impls:
                rec = {"data": name, "impl": impl, "round": r, **run(a, args)}
                if "error" not in rec:
                    runs[impl].append(rec)
                print(json.dumps(rec), file=sys.stderr)
                if out:
                    print(json.dumps(rec), file=out, flush=True)
        mean = {k: {f: sum(x[f] for x in v) / len(v) for f in ("seconds", "kl", "knn_accuracy")} if v else None
                for k, v in runs.items()}
        rows.append((name, mean))
    before = " before (time, KL, 10-NN) |" if a.baseline else ""
    print(f"| data | openTSNE | latentviz | time ratio | KL (openTSNE / ours) | 10-NN accuracy (openTSNE / ours) |{before}")
    print("|---|---|---|---|---|---|" + ("---|" if a.baseline else ""))
    for name, m in rows:
        o, l = m["openTSNE"], m["latentviz"]
        row = (f"| {name} | {o['seconds']:.1f} s | {l['seconds']:.1f} s | {o['seconds'] / l['seconds']:.2f}x | "
               f"{o['kl']:.3f} / {l['kl']:.3f} | {o['knn_accuracy']:.4f} / {l['knn_accuracy']:.4f} |")
        if a.baseline:
            b = m["before"]
            row += f" {b['seconds']:.1f} s, {b['kl']:.3f}, {b['knn_accuracy']:.4f} |" if b else " failed |"
        print(row)


if __name__ == "__main__":
    main()
