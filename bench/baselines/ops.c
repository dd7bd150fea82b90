/*
 * The C/OpenMP baseline of `npm run bench` (bench/src/baseline/native-ops.ts compiles it at bench
 * time with gcc -O3 -march=native -fopenmp and runs it with OMP_NUM_THREADS=2).
 *
 *   ops ELEMENTS RUNS WARMUPS KEY...      KEY = op:dtype, e.g. sum:float64, mean-axis0-16:float64
 *
 * Datasets (the same values as bench/src/data.ts, filled here by the threads that read them):
 *   float64: x[i] = ((i * 7919) % 1000) / 1000 - 0.5, i < ELEMENTS (1 GiB for 2^27)
 *   float32: the same formula rounded to float, i < 2 * ELEMENTS (also 1 GiB)
 * Binary ops (dot, add) take the first half of the dataset as a and the second half as b.
 * Outputs of add and astype are allocated and written once before the warm-up (pre-faulted);
 * astype-fresh writes into pages mapped fresh for every run (each run pays the page faults).
 *
 * Each op: WARMUPS untimed runs, then RUNS timed runs; prints one JSON object on stdout:
 *   {"threads":2,"results":[{"key":"sum:float64","runsMs":[...],"result":[...]}, ...]}
 * float32 accumulates in double; min/max/argmin/argmax propagate NaN as numpy does.
 */
#define _GNU_SOURCE
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define BINS 64
#define HIST_LO (-0.5)
#define HIST_HI 0.5
/* Blocks of 16 KiB: argmin/argmax and var/std read a block twice, the second time from L1. */
#define BLOCK_BYTES 16384
#define BLOCK_OF(T) (BLOCK_BYTES / sizeof(T))
#define MAX_RESULTS 256

static double results[MAX_RESULTS];
static int result_count;
static void *last_output; /* output of the last map op, for the checksum */
static size_t last_output_count;
static int last_output_is_float;

static void set1(double value) {
  results[0] = value;
  result_count = 1;
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void *map_pages(size_t bytes) {
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    fprintf(stderr, "ops: cannot map %zu bytes\n", bytes);
    exit(1);
  }
  return p;
}

/* The range [begin, end) of thread t of nt over n elements, aligned to multiples of `align`. */
static void thread_range(size_t n, size_t align, size_t *begin, size_t *end) {
  size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
  size_t units = n / align, per = (units + nt - 1) / nt;
  *begin = t * per * align < n ? t * per * align : n;
  *end = (t + 1) * per * align < n ? (t + 1) * per * align : n;
  if (t == nt - 1) *end = n;
}

/* 4 doubles in a vector register (GCC vector extensions); loads need no alignment. */
typedef double v4d __attribute__((vector_size(32)));
typedef double v4d_unaligned __attribute__((vector_size(32), aligned(8)));
typedef float v4f_unaligned __attribute__((vector_size(16), aligned(4)));
static inline v4d load4_f64(const double *p) { return *(const v4d_unaligned *)p; }
static inline v4d load4_f32(const float *p) { return __builtin_convertvector(*(const v4f_unaligned *)p, v4d); }

/* Sum over i in [b, e) of VEXPR (4 values at i, i+1, i+2, i+3, as a v4d) with four independent
 * vector accumulators, so the loop is bound by memory and not by the latency of one chain of
 * additions; EXPR (one value at i) sums the tail. */
#define VEC_SUM(result, b, e, VEXPR, EXPR)                                                          \
  do {                                                                                              \
    v4d a0_ = {0}, a1_ = {0}, a2_ = {0}, a3_ = {0};                                                 \
    double s_ = 0;                                                                                  \
    size_t j_ = (b), i;                                                                             \
    for (; j_ + 16 <= (e); j_ += 16) {                                                              \
      i = j_; a0_ += (VEXPR);                                                                       \
      i = j_ + 4; a1_ += (VEXPR);                                                                   \
      i = j_ + 8; a2_ += (VEXPR);                                                                   \
      i = j_ + 12; a3_ += (VEXPR);                                                                  \
    }                                                                                               \
    for (; j_ < (e); j_++) { i = j_; s_ += (EXPR); }                                                \
    v4d t_ = (a0_ + a1_) + (a2_ + a3_);                                                             \
    (result) = s_ + ((t_[0] + t_[1]) + (t_[2] + t_[3]));                                            \
  } while (0)

/* One set of kernels per element type T (double, float); float values are widened to double. */
#define DEFINE_OPS(T, S)                                                                            \
  static void sum_##S(const T *x, size_t n, int squares) {                                          \
    double total = 0;                                                                               \
    _Pragma("omp parallel reduction(+:total)")                                                      \
    {                                                                                               \
      size_t begin, end;                                                                            \
      double s;                                                                                     \
      thread_range(n, 16, &begin, &end);                                                         \
      if (squares) VEC_SUM(s, begin, end, load4_##S(x + i) * load4_##S(x + i), (double)x[i] * (double)x[i]);                            \
      else VEC_SUM(s, begin, end, load4_##S(x + i), (double)x[i]);                                                   \
      total += s;                                                                                   \
    }                                                                                               \
    set1(total);                                                                                    \
  }                                                                                                 \
  static void dot_##S(const T *a, const T *b, size_t n) {                                           \
    double total = 0;                                                                               \
    _Pragma("omp parallel reduction(+:total)")                                                      \
    {                                                                                               \
      size_t begin, end;                                                                            \
      double s;                                                                                     \
      thread_range(n, 16, &begin, &end);                                                         \
      VEC_SUM(s, begin, end, load4_##S(a + i) * load4_##S(b + i), (double)a[i] * (double)b[i]);                                        \
      total += s;                                                                                   \
    }                                                                                               \
    set1(total);                                                                                    \
  }                                                                                                 \
  static void minmax_##S(const T *x, size_t n, int want_max) {                                      \
    T m = want_max ? -INFINITY : INFINITY;                                                          \
    int nan = 0;                                                                                    \
    if (want_max) {                                                                                 \
      _Pragma("omp parallel for simd reduction(max:m) reduction(|:nan) schedule(static)")           \
      for (size_t i = 0; i < n; i++) { T v = x[i]; m = v > m ? v : m; nan |= v != v; }              \
    } else {                                                                                        \
      _Pragma("omp parallel for simd reduction(min:m) reduction(|:nan) schedule(static)")           \
      for (size_t i = 0; i < n; i++) { T v = x[i]; m = v < m ? v : m; nan |= v != v; }              \
    }                                                                                               \
    set1(nan ? NAN : (double)m);                                                                    \
  }                                                                                                 \
  /* Per block: its extreme (vectorised); the first index is searched only in the best block. */     \
  static void arg_##S(const T *x, size_t n, int want_max) {                                         \
    size_t best_index[64];                                                                          \
    double best_value[64];                                                                          \
    int nt = 1;                                                                                     \
    _Pragma("omp parallel")                                                                         \
    {                                                                                               \
      size_t begin, end, best_block = (size_t)-1, nan_index = (size_t)-1;                           \
      T best = want_max ? -INFINITY : INFINITY;                                                     \
      thread_range(n, BLOCK_OF(T), &begin, &end);                                                         \
      for (size_t b = begin; b < end && nan_index == (size_t)-1; b += BLOCK_OF(T)) {                      \
        size_t e = b + BLOCK_OF(T) < end ? b + BLOCK_OF(T) : end;                                               \
        T m = want_max ? -INFINITY : INFINITY;                                                      \
        int nan = 0;                                                                                \
        if (want_max) {                                                                             \
          _Pragma("omp simd reduction(max:m) reduction(|:nan)")                                     \
          for (size_t i = b; i < e; i++) { T v = x[i]; m = v > m ? v : m; nan |= v != v; }          \
        } else {                                                                                    \
          _Pragma("omp simd reduction(min:m) reduction(|:nan)")                                     \
          for (size_t i = b; i < e; i++) { T v = x[i]; m = v < m ? v : m; nan |= v != v; }          \
        }                                                                                           \
        if (nan) {                                                                                  \
          for (size_t i = b; i < e; i++) if (x[i] != x[i]) { nan_index = i; break; }                \
        } else if (best_block == (size_t)-1 || (want_max ? m > best : m < best)) {                  \
          best = m;                                                                                 \
          best_block = b;                                                                           \
        }                                                                                           \
      }                                                                                             \
      size_t found = nan_index;                                                                     \
      if (found == (size_t)-1 && best_block != (size_t)-1) {                                        \
        for (size_t i = best_block;; i++) if (x[i] == best) { found = i; break; }                   \
      }                                                                                             \
      int t = omp_get_thread_num();                                                                 \
      best_index[t] = found;                                                                        \
      best_value[t] = found == (size_t)-1 ? 0 : (double)x[found];                                   \
      _Pragma("omp single") nt = omp_get_num_threads();                                             \
    }                                                                                               \
    size_t index = (size_t)-1;                                                                      \
    double value = 0;                                                                               \
    for (int t = 0; t < nt; t++) {                                                                  \
      if (best_index[t] == (size_t)-1) continue;                                                    \
      double v = best_value[t];                                                                     \
      if (index == (size_t)-1 || (value == value && (v != v || (want_max ? v > value : v < value)))) { \
        index = best_index[t];                                                                      \
        value = v;                                                                                  \
      }                                                                                             \
    }                                                                                               \
    set1((double)index);                                                                            \
  }                                                                                                 \
  /* One pass over memory: per block (in cache) its mean and M2, merged as Chan et al. */           \
  static void var_##S(const T *x, size_t n, int want_std) {                                         \
    double count[64], mean[64], m2[64];                                                             \
    int nt = 1;                                                                                     \
    _Pragma("omp parallel")                                                                         \
    {                                                                                               \
      size_t begin, end;                                                                            \
      double c = 0, mu = 0, q = 0;                                                                  \
      thread_range(n, BLOCK_OF(T), &begin, &end);                                                         \
      for (size_t b = begin; b < end; b += BLOCK_OF(T)) {                                                 \
        size_t e = b + BLOCK_OF(T) < end ? b + BLOCK_OF(T) : end;                                               \
        double s, bq, bn = (double)(e - b);                                                         \
        VEC_SUM(s, b, e, load4_##S(x + i), (double)x[i]);                                                            \
        double bm = s / bn;                                                                         \
        VEC_SUM(bq, b, e, (load4_##S(x + i) - bm) * (load4_##S(x + i) - bm), ((double)x[i] - bm) * ((double)x[i] - bm));                              \
        double total = c + bn, delta = bm - mu;                                                     \
        mu += delta * bn / total;                                                                   \
        q += bq + delta * delta * c * bn / total;                                                   \
        c = total;                                                                                  \
      }                                                                                             \
      int t = omp_get_thread_num();                                                                 \
      count[t] = c; mean[t] = mu; m2[t] = q;                                                        \
      _Pragma("omp single") nt = omp_get_num_threads();                                             \
    }                                                                                               \
    double c = 0, mu = 0, q = 0;                                                                    \
    for (int t = 0; t < nt; t++) {                                                                  \
      if (count[t] == 0) continue;                                                                  \
      double total = c + count[t], delta = mean[t] - mu;                                            \
      mu += delta * count[t] / total;                                                               \
      q += m2[t] + delta * delta * c * count[t] / total;                                            \
      c = total;                                                                                    \
    }                                                                                               \
    double var = q / c;                                                                             \
    set1(want_std ? sqrt(var) : var);                                                               \
  }                                                                                                 \
  /* 64 equal bins over [-0.5, 0.5] (the last bin includes 0.5), as numpy.histogram. */            \
  static void histogram_##S(const T *x, size_t n) {                                                 \
    uint64_t counts[BINS] = {0};                                                                    \
    const double scale = BINS / (HIST_HI - HIST_LO);                                                \
    _Pragma("omp parallel")                                                                         \
    {                                                                                               \
      uint64_t local[4][BINS];                                                                      \
      memset(local, 0, sizeof local);                                                               \
      size_t begin, end;                                                                            \
      thread_range(n, 4, &begin, &end);                                                             \
      for (size_t i = begin; i < end; i++) {                                                        \
        double v = (double)x[i];                                                                    \
        if (v >= HIST_LO && v <= HIST_HI) {                                                         \
          int bin = (int)((v - HIST_LO) * scale);                                                   \
          local[i & 3][bin < BINS ? bin : BINS - 1]++;                                              \
        }                                                                                           \
      }                                                                                             \
      _Pragma("omp critical")                                                                       \
      for (int k = 0; k < BINS; k++) counts[k] += local[0][k] + local[1][k] + local[2][k] + local[3][k]; \
    }                                                                                               \
    for (int k = 0; k < BINS; k++) results[k] = (double)counts[k];                                  \
    result_count = BINS;                                                                            \
  }

DEFINE_OPS(double, f64)
DEFINE_OPS(float, f32)

static void add_f64(const double *a, const double *b, double *out, size_t n) {
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
  result_count = 0;
}

static void astype_f64_f32(const double *x, float *out, size_t n) {
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; i++) out[i] = (float)x[i];
  result_count = 0;
}

/* Column means of x seen as [n / cols, cols], row-major. */
static void mean_axis0_f64(const double *x, size_t n, size_t cols) {
  size_t rows = n / cols;
  double sums[MAX_RESULTS] = {0};
#pragma omp parallel
  {
    double local[MAX_RESULTS] = {0};
    size_t begin, end;
    thread_range(rows, 1, &begin, &end);
    for (size_t r = begin; r < end; r++) {
      const double *row = x + r * cols;
#pragma omp simd
      for (size_t c = 0; c < cols; c++) local[c] += row[c];
    }
#pragma omp critical
    for (size_t c = 0; c < cols; c++) sums[c] += local[c];
  }
  for (size_t c = 0; c < cols; c++) results[c] = sums[c] / (double)rows;
  result_count = (int)cols;
}

static double *x64;
static float *x32;
static size_t n64, n32;

static void fill64(void) {
  if (x64 != NULL) return;
  if (x32 != NULL) { munmap(x32, n32 * sizeof(float)); x32 = NULL; }
  x64 = map_pages(n64 * sizeof(double));
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n64; i++) x64[i] = (double)((i * 7919) % 1000) / 1000.0 - 0.5;
}

static void fill32(void) {
  if (x32 != NULL) return;
  if (x64 != NULL) { munmap(x64, n64 * sizeof(double)); x64 = NULL; }
  x32 = map_pages(n32 * sizeof(float));
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n32; i++) x32[i] = (float)((double)((i * 7919) % 1000) / 1000.0 - 0.5);
}

/* Where map ops write: allocated and written once per op (pre-faulted), or fresh per run. */
static void *output;
static size_t output_bytes;

static void run(const char *op, int is64) {
  size_t n = is64 ? n64 : n32, half = n / 2;
  if (strcmp(op, "sum") == 0) is64 ? sum_f64(x64, n, 0) : sum_f32(x32, n, 0);
  else if (strcmp(op, "sumsq") == 0) is64 ? sum_f64(x64, n, 1) : sum_f32(x32, n, 1);
  else if (strcmp(op, "mean") == 0) { is64 ? sum_f64(x64, n, 0) : sum_f32(x32, n, 0); results[0] /= (double)n; }
  else if (strcmp(op, "norm") == 0) { is64 ? sum_f64(x64, n, 1) : sum_f32(x32, n, 1); results[0] = sqrt(results[0]); }
  else if (strcmp(op, "min") == 0) is64 ? minmax_f64(x64, n, 0) : minmax_f32(x32, n, 0);
  else if (strcmp(op, "max") == 0) is64 ? minmax_f64(x64, n, 1) : minmax_f32(x32, n, 1);
  else if (strcmp(op, "argmin") == 0) is64 ? arg_f64(x64, n, 0) : arg_f32(x32, n, 0);
  else if (strcmp(op, "argmax") == 0) is64 ? arg_f64(x64, n, 1) : arg_f32(x32, n, 1);
  else if (strcmp(op, "var") == 0) is64 ? var_f64(x64, n, 0) : var_f32(x32, n, 0);
  else if (strcmp(op, "std") == 0) is64 ? var_f64(x64, n, 1) : var_f32(x32, n, 1);
  else if (strcmp(op, "histogram") == 0) is64 ? histogram_f64(x64, n) : histogram_f32(x32, n);
  else if (strcmp(op, "dot") == 0) is64 ? dot_f64(x64, x64 + half, half) : dot_f32(x32, x32 + half, half);
  else if (strcmp(op, "add") == 0 && is64) add_f64(x64, x64 + half, output, half);
  else if (strcmp(op, "astype") == 0 && is64) astype_f64_f32(x64, output, n);
  else if (strcmp(op, "astype-fresh") == 0 && is64) {
    if (output != NULL) munmap(output, output_bytes);
    output = map_pages(output_bytes);
    astype_f64_f32(x64, output, n);
  }
  else if (strncmp(op, "mean-axis0-", 11) == 0 && is64) {
    size_t cols = strtoul(op + 11, NULL, 10);
    if (cols == 0 || cols > MAX_RESULTS || n % cols != 0) { fprintf(stderr, "ops: bad column count in %s\n", op); exit(2); }
    mean_axis0_f64(x64, n, cols);
  }
  else { fprintf(stderr, "ops: unknown op %s:%s\n", op, is64 ? "float64" : "float32"); exit(2); }
}

static void print_number(double v) {
  if (isfinite(v)) printf("%.17g", v);
  else printf("null");
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: ops ELEMENTS RUNS WARMUPS op:dtype...\n");
    return 2;
  }
  if (omp_get_max_threads() > 64) omp_set_num_threads(64); /* per-thread slots in arg_ and var_ */
  n64 = strtoull(argv[1], NULL, 10);
  n32 = 2 * n64;
  int runs = atoi(argv[2]), warmups = atoi(argv[3]);
  if (n64 == 0 || n64 % 512 != 0 || runs < 1 || warmups < 0) { fprintf(stderr, "ops: ELEMENTS must be a positive multiple of 512\n"); return 2; }
  printf("{\"threads\":%d,\"results\":[", omp_get_max_threads());
  for (int k = 4; k < argc; k++) {
    char op[64];
    const char *colon = strchr(argv[k], ':');
    if (colon == NULL || (size_t)(colon - argv[k]) >= sizeof op) { fprintf(stderr, "ops: bad key %s\n", argv[k]); return 2; }
    memcpy(op, argv[k], colon - argv[k]);
    op[colon - argv[k]] = 0;
    int is64 = strcmp(colon + 1, "float64") == 0;
    if (!is64 && strcmp(colon + 1, "float32") != 0) { fprintf(stderr, "ops: bad dtype in %s\n", argv[k]); return 2; }
    is64 ? fill64() : fill32();
    int is_map = strcmp(op, "add") == 0 || strncmp(op, "astype", 6) == 0;
    if (is_map) {
      int to_float = strncmp(op, "astype", 6) == 0;
      last_output_count = to_float ? n64 : n64 / 2;
      last_output_is_float = to_float;
      output_bytes = last_output_count * (to_float ? sizeof(float) : sizeof(double));
      output = map_pages(output_bytes);
      memset(output, 0, output_bytes); /* pre-faulted (astype-fresh maps new pages every run) */
    }
    for (int w = 0; w < warmups; w++) run(op, is64);
    printf("%s{\"key\":\"%s\",\"runsMs\":[", k == 4 ? "" : ",", argv[k]);
    for (int r = 0; r < runs; r++) {
      double start = now_ms();
      run(op, is64);
      printf("%s%.4f", r == 0 ? "" : ",", now_ms() - start);
    }
    if (is_map) {
      /* The checksum of a map op: the sum of its output, in double. */
      double s = 0;
      last_output = output;
      for (size_t i = 0; i < last_output_count; i++)
        s += last_output_is_float ? (double)((float *)last_output)[i] : ((double *)last_output)[i];
      set1(s);
      munmap(output, output_bytes);
      output = NULL;
    }
    printf("],\"result\":[");
    for (int i = 0; i < result_count; i++) {
      if (i > 0) printf(",");
      print_number(results[i]);
    }
    printf("]}");
    fflush(stdout);
  }
  printf("]}\n");
  return 0;
}
