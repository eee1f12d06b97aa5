# Sourced by the scripts: writable, deliberate compile caches (see API_NOTES).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# blas__ldflags= (no BLAS for PyTensor's C backend): the fits run on JAX or Numba, which bring their own;
# left unset, PyTensor probes for a BLAS by compiling test programs and warns on every fresh machine
export PYTENSOR_FLAGS="${PYTENSOR_FLAGS:-base_compiledir=$ROOT/.cache/pytensor,blas__ldflags=}"
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$ROOT/.cache/numba}"
export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-$ROOT/.cache/jax}"
# a size limit makes JAX lock its cache, so concurrent fits share it safely (studies/runner.py)
export JAX_COMPILATION_CACHE_MAX_SIZE="${JAX_COMPILATION_CACHE_MAX_SIZE:-2147483648}"
export MPLCONFIGDIR="${MPLCONFIGDIR:-$ROOT/.cache/matplotlib}"
export MPLBACKEND="${MPLBACKEND:-Agg}"
mkdir -p "$ROOT/.cache"
