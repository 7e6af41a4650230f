# latedecay against its peers in ONE session, alternating (README, Benchmarks). Not part of
# `cargo test`. Usage:
#   python3 benches/peers/compare.py [ROUNDS] [BINARY]
# needs `cargo build --release` (BINARY defaults to $CARGO_TARGET_DIR or target/, release/latedecay)
# and `pip install numpy numba jax mpmath` (a missing peer is skipped). Each round runs every
# peer of peers.py once and `latedecay --threads 1 run --config bench_sgd.toml` once per SIMD
# level (LATEDECAY_SIMD; 20M steps) and once at 256 bits (100k steps); latedecay's steps/s =
# steps / (wall time − wall time of the same run with 1 step), i.e. start-up excluded. Prints the
# medians over the rounds as a markdown table of ratios against Numba and the NumPy loop, and
# the load average before and after.
import os, subprocess, sys, tempfile, time, statistics

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import peers

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
target = os.environ.get("CARGO_TARGET_DIR", os.path.join(here, "..", "..", "target"))
binary = sys.argv[2] if len(sys.argv) > 2 else os.path.join(target, "release", "latedecay")
text = open(os.path.join(here, "bench_sgd.toml")).read()
F64_STEPS, MPFR_STEPS = 20_000_000, 100_000


def config(steps, bits=53):
    f = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
    f.write(text.replace("steps = 20000000", f"steps = {steps}")
                .replace("precision_bits = 53", f"precision_bits = {bits}"))
    f.close()
    return f.name


CASES = {}  # name -> (config, one-step config, steps, env)
for level in ["avx512", "avx2", "sse2", "scalar"]:
    CASES[f"latedecay {level}"] = (config(F64_STEPS), config(1), F64_STEPS, {"LATEDECAY_SIMD": level})
CASES["latedecay MPFR 256-bit"] = (config(MPFR_STEPS, 256), config(1, 256), MPFR_STEPS, {})


def wall(cfg, env):
    t = time.perf_counter()
    subprocess.run([binary, "--threads", "1", "run", "--config", cfg], env=dict(os.environ, **env),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def latedecay(name):
    cfg, one, steps, env = CASES[name]
    start = wall(one, env)
    return steps / max(wall(cfg, env) - start, 1e-9)


runners = {}
for name, f in peers.PEERS.items():
    try:
        f(1_000) if name != "mpmath 256-bit" else f(5)
        runners[name] = f
    except Exception as e:  # a peer that is not installed
        print(f"skipping {name}: {type(e).__name__}: {e}", file=sys.stderr)
for name in CASES:
    runners[name] = lambda name=name: latedecay(name)

load0 = os.getloadavg()
res = {name: [] for name in runners}
for r in range(rounds):
    for name, f in runners.items():
        res[name].append(f())
    print(f"round {r + 1}: " + ", ".join(f"{n} {v[-1] / 1e6:.3g}M" for n, v in res.items()),
          file=sys.stderr, flush=True)
load1 = os.getloadavg()
med = {n: statistics.median(v) for n, v in res.items()}
numba = med.get("Numba @njit", float("nan")); numpy = med.get("NumPy loop", float("nan"))


def fmt(x):
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.1f}k"


print(f"\nload average {load0[0]:.1f} before, {load1[0]:.1f} after; {rounds} rounds, medians "
      f"(range over rounds)\n")
print("| path | steps/s (seed-steps/s for vmap) | × Numba | × NumPy loop |")
print("|---|---|---|---|")
for n, m in med.items():
    lo, hi = min(res[n]), max(res[n])
    print(f"| {n} | {fmt(m)} ({fmt(lo)}–{fmt(hi)}) | {m / numba:.3g} | {m / numpy:.3g} |")
mp = med.get("mpmath 256-bit")
if mp:
    print(f"\nlatedecay MPFR 256-bit / mpmath 256-bit: {med['latedecay MPFR 256-bit'] / mp:.3g}×")
