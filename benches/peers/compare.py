# Alternating latedecay vs Numba comparison (README, Benchmarks). Not part of `cargo test`.
# Usage: python3 benches/peers/compare.py [ROUNDS] [BINARY]   (needs: pip install numpy numba,
# and `cargo build --release`; BINARY defaults to target/release/latedecay or $CARGO_TARGET_DIR).
# Each round runs numba_sgd.py once, then `latedecay --threads 1 run` on bench_sgd.toml (20M
# steps) once per SIMD level (LATEDECAY_SIMD). latedecay's steps/s = 20M / (wall time − the wall
# time of the same run with 1 step), i.e. start-up excluded; its random numbers are drawn
# inside the timed loop, Numba's outside (see README).
import os, re, subprocess, sys, tempfile, time, statistics

here = os.path.dirname(os.path.abspath(__file__))
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
target = os.environ.get("CARGO_TARGET_DIR", os.path.join(here, "..", "..", "target"))
binary = sys.argv[2] if len(sys.argv) > 2 else os.path.join(target, "release", "latedecay")
config = os.path.join(here, "bench_sgd.toml")
steps = 20_000_000
text = open(config).read()
one = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
one.write(text.replace(f"steps = {steps}", "steps = 1")); one.close()

def wall(cfg, level):
    env = dict(os.environ, LATEDECAY_SIMD=level)
    t = time.perf_counter()
    subprocess.run([binary, "--threads", "1", "run", "--config", cfg], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t

def numba():
    out = subprocess.run([sys.executable, os.path.join(here, "numba_sgd.py")], check=True,
                         capture_output=True, text=True).stdout
    return float(re.search(r"([0-9.]+)M steps/s", out).group(1)) * 1e6

levels = [l for l in ["avx512", "avx2", "sse2", "scalar"]]
res = {l: [] for l in levels}; nb = []
for r in range(rounds):
    nb.append(numba())
    for l in levels:
        start = wall(one.name, l)
        res[l].append(steps / max(wall(config, l) - start, 1e-9))
    print(f"round {r + 1}: numba {nb[-1] / 1e6:.2f}M, " +
          ", ".join(f"{l} {res[l][-1] / 1e6:.2f}M" for l in levels), flush=True)
med = statistics.median(nb)
print(f"\nnumba (median of {rounds}): {med / 1e6:.2f}M steps/s")
for l in levels:
    m = statistics.median(res[l])
    print(f"latedecay {l:>7}: {m / 1e6:.2f}M steps/s (range {min(res[l]) / 1e6:.2f}–{max(res[l]) / 1e6:.2f}M), ratio vs numba {m / med:.2f}")
