// Element-wise and reduction kernels of archconv's CUDA Monte Carlo backend.
// Compiled at run time with NVRTC (src/montecarlo/cuda/mod.rs). Every kernel exists in
// an f32 and an f64 version (suffix _f32 / _f64). Matrices are column-major m x N with
// leading dimension m: element (k, i) = unit k of input i lives at k + i * m.
// Lengths are 64-bit: m * N exceeds 2^31 at the benchmark sizes.

#define GRID_STRIDE_LOOP(i, len)                                                          \
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; \
         i < (len); i += (unsigned long long)blockDim.x * gridDim.x)

// The activations of act_scale_add (codes match `gpu_activation` in mod.rs), evaluated
// in double for both precisions. 1: ABReLU(a, b) (ReLU a = 0, b = 1; leaky ReLU b = 1).
__device__ __forceinline__ double act_phi(int code, double x, double a, double b) {
    switch (code) {
        case 0: return x;                                          /* identity */
        case 1: return x < 0.0 ? a * x : b * x;                    /* abrelu */
        case 2: return fabs(x);                                    /* abs */
        case 3: return erf(x);                                     /* erf */
        case 4: return tanh(x);                                    /* tanh */
        case 5: return 0.5 * x * erfc(-x * 0.70710678118654752440); /* gelu: x Phi(x) */
        case 6: return fmax(x, 0.0) + log1p(exp(-fabs(x)));        /* softplus */
        case 7: return x / (1.0 + exp(-x));                        /* silu */
        default: return nan("");
    }
}

#define DEFINE_KERNELS(T, S)                                                               \
    /* acc += phi(scale * z + bsd * bias[k]) on unit row k = i % m (column-major m x N):  \
       a linear edge or lift with any closed-form activation and bias (bsd = sqrt(sb2);  \
       bias is read only when bsd != 0). */                                                \
    extern "C" __global__ void act_scale_add_##S(T* __restrict__ acc,                      \
                                                 const T* __restrict__ z,                  \
                                                 unsigned long long len,                   \
                                                 unsigned long long m, double scale,       \
                                                 double bsd, const T* __restrict__ bias,   \
                                                 int code, double a, double b) {           \
        GRID_STRIDE_LOOP(i, len) {                                                         \
            double x = scale * (double)z[i];                                               \
            if (bsd != 0.0) x += bsd * (double)bias[i % m];                                \
            acc[i] += (T)act_phi(code, x, a, b);                                           \
        }                                                                                  \
    }                                                                                      \
    /* acc += gain * relu(z) (relu != 0) or acc += gain * z: a linear edge or a lift. */   \
    extern "C" __global__ void relu_scale_add_##S(T* __restrict__ acc,                     \
                                                  const T* __restrict__ z,                 \
                                                  unsigned long long len, T gain,          \
                                                  int relu) {                              \
        GRID_STRIDE_LOOP(i, len) {                                                         \
            T v = z[i];                                                                    \
            if (relu) v = v > (T)0 ? v : (T)0;                                             \
            acc[i] += gain * v;                                                            \
        }                                                                                  \
    }                                                                                      \
    /* acc += x: a skip edge. */                                                           \
    extern "C" __global__ void add_##S(T* __restrict__ acc, const T* __restrict__ x,       \
                                       unsigned long long len) {                           \
        GRID_STRIDE_LOOP(i, len) { acc[i] += x[i]; }                                       \
    }                                                                                      \
    /* Zeroes the strict upper triangle of an n x n column-major matrix (a Cholesky     \
       factor from potrf, which leaves the Gram's upper triangle in place). */            \
    extern "C" __global__ void zero_upper_##S(T* __restrict__ a, unsigned long long n) {  \
        GRID_STRIDE_LOOP(k, n * n) {                                                       \
            if (k % n < k / n) a[k] = (T)0;                                                \
        }                                                                                  \
    }                                                                                      \
    /* out[i] = a[i + i n]: the diagonal of an n x n column-major matrix. */               \
    extern "C" __global__ void diagonal_##S(const T* __restrict__ a,                       \
                                            unsigned long long n, T* __restrict__ out) {   \
        GRID_STRIDE_LOOP(i, n) { out[i] = a[i + i * n]; }                                  \
    }                                                                                      \
    /* out[i] = (1/m) sum_k x[k + i m], one block per column, accumulated in double with  \
       a fixed-shape tree (deterministic). blockDim.x must be 256. */                      \
    extern "C" __global__ void column_means_##S(const T* __restrict__ x,                   \
                                                unsigned long long m, double* out) {       \
        __shared__ double part[256];                                                       \
        const T* col = x + (unsigned long long)blockIdx.x * m;                             \
        double s = 0.0;                                                                    \
        for (unsigned long long k = threadIdx.x; k < m; k += blockDim.x) s += (double)col[k]; \
        part[threadIdx.x] = s;                                                             \
        __syncthreads();                                                                   \
        for (unsigned int w = blockDim.x / 2; w > 0; w >>= 1) {                            \
            if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];               \
            __syncthreads();                                                               \
        }                                                                                  \
        if (threadIdx.x == 0) out[blockIdx.x] = part[0] / (double)m;                       \
    }

DEFINE_KERNELS(float, f32)
DEFINE_KERNELS(double, f64)
