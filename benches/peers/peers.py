# Peer implementations of latedecay's throughput case (README, Benchmarks): label-noise SGD on
# the diagonal network, d = 100, n = 40, B = 1, sigma = 1, eta = 0.004, u = v = 1, in NumPy
# (plain loop), Numba (@njit loop), JAX (jit + lax.scan; vmap of it over 64 seeds) and mpmath
# (256-bit, the peer of latedecay's MPFR runs). Each function returns (seed-)steps per second of
# its timed loop; compilation and the random numbers (drawn with NumPy beforehand) are excluded,
# whereas latedecay draws its own (ChaCha8) inside its loop. Used by compare.py; not part of
# `cargo test`. Needs: pip install numpy numba jax mpmath (any missing peer is reported, skipped).
import os, time
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
import numpy as np

N, D, ETA = 40, 100, 0.004
_rng = np.random.default_rng(0)
X = _rng.standard_normal((N, D)); X /= np.sqrt((X ** 2).mean(0))
BETA = np.zeros(D); BETA[:3] = 1.0
Y = X @ BETA


def noise(k, seed=1):
    r = np.random.default_rng(seed)
    return r.integers(0, N, k), r.standard_normal(k)


def numpy_loop(k=100_000):
    idx, xi = noise(k)
    u = np.ones(D); v = np.ones(D)
    t = time.perf_counter()
    for i in range(k):
        x = X[idx[i]]
        c = ETA * (float((u * v) @ x) - Y[idx[i]] - xi[i])
        w = c * x
        u, v = u - w * v, v - w * u
    return k / (time.perf_counter() - t)


_numba_run = None


def numba_loop(k=20_000_000):
    global _numba_run
    import numba
    if _numba_run is None:
        @numba.njit(fastmath=False)
        def run(X, y, idx, xi, eta, K):
            u = np.ones(X.shape[1]); v = np.ones(X.shape[1])
            for k in range(K):
                x = X[idx[k]]
                r = 0.0
                for j in range(x.shape[0]):
                    r += u[j] * v[j] * x[j]
                c = eta * (r - y[idx[k]] - xi[k])
                for j in range(x.shape[0]):
                    w = c * x[j]; uj = u[j]
                    u[j] = uj - w * v[j]; v[j] = v[j] - w * uj
            return u, v
        idx, xi = noise(10)
        run(X, Y, idx, xi, ETA, 10)
        _numba_run = run
    idx, xi = noise(k)
    t = time.perf_counter(); _numba_run(X, Y, idx, xi, ETA, k)
    return k / (time.perf_counter() - t)


_jax = {}


def _jax_fns():
    if not _jax:
        import jax, jax.numpy as jnp
        jax.config.update("jax_enable_x64", True)
        Xj, Yj = jnp.asarray(X), jnp.asarray(Y)

        def step(carry, inp):
            u, v = carry; i, z = inp
            x = Xj[i]
            c = ETA * (jnp.dot(u * v, x) - Yj[i] - z)
            w = c * x
            return (u - w * v, v - w * u), None

        def run(idx, xi):
            ones = jnp.ones(D)
            return jax.lax.scan(step, (ones, ones), (idx, xi))[0]

        _jax["scan"] = jax.jit(run)
        _jax["vmap"] = jax.jit(jax.vmap(run))
        _jax["block"] = lambda out: jax.block_until_ready(out)
    return _jax


def jax_scan(k=200_000):
    f = _jax_fns()
    idx, xi = noise(k)
    f["block"](f["scan"](idx, xi))  # compile for this length
    t = time.perf_counter(); f["block"](f["scan"](idx, xi))
    return k / (time.perf_counter() - t)


def jax_vmap(k=50_000, seeds=64):
    f = _jax_fns()
    pairs = [noise(k, seed=s + 1) for s in range(seeds)]
    idx = np.stack([p[0] for p in pairs]); xi = np.stack([p[1] for p in pairs])
    f["block"](f["vmap"](idx, xi))
    t = time.perf_counter(); f["block"](f["vmap"](idx, xi))
    return seeds * k / (time.perf_counter() - t)


def mpmath_loop(k=1_000, bits=256):
    import mpmath
    mpmath.mp.prec = bits
    mpf = mpmath.mpf
    idx, xi = noise(k)
    Xm = [[mpf(float(a)) for a in row] for row in X]; Ym = [mpf(float(a)) for a in Y]
    u = [mpf(1)] * D; v = [mpf(1)] * D; eta = mpf(ETA)
    t = time.perf_counter()
    for i in range(k):
        x = Xm[idx[i]]
        r = mpf(0)
        for j in range(D):
            r += u[j] * v[j] * x[j]
        c = eta * (r - Ym[idx[i]] - mpf(float(xi[i])))
        for j in range(D):
            w = c * x[j]; uj = u[j]
            u[j] = uj - w * v[j]; v[j] = v[j] - w * uj
    return k / (time.perf_counter() - t)


PEERS = {
    "NumPy loop": numpy_loop,
    "Numba @njit": numba_loop,
    "JAX jit+scan": jax_scan,
    "JAX vmap, 64 seeds": jax_vmap,
    "mpmath 256-bit": mpmath_loop,
}
