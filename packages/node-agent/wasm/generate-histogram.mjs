/**
 * Generates the WebAssembly text (WAT) of the histogram of float64 and float32 blocks. The counts
 * must be written somewhere, and nothing but the rows lives in a partition's memory, so (as the
 * elementwise ops, generate-ops.mjs) this module has a memory of its own, one instance per
 * thread: the caller writes the edges once per block, copies 16 KiB chunks of the block in and
 * calls, then reads the counts (src/workers/ops/wasm-histogram.ts).
 *
 * Layout of the module's memory (two 64 KiB pages), named again in wasm-histogram.ts:
 *   IN     = 0       the chunk of elements (at most 16 KiB)
 *   EDGES  = 16384   the bins + 1 edges, float64 (bins at most MAX_BINS)
 *   COUNTS = 65536   two tables of bins i32 counts: elements alternate between them, so a run
 *                    of one bin does not chain each increment on the store before it
 *
 * Export histogram_D(n, bins, scale), D float64/float32: counts the chunk's n elements, numpy's
 * rule as the JS loop (ops/histogram.ts): x counts when edges[0] <= x <= edges[bins]; its bin
 * is estimated from (x - lo)·scale, clamped, then walked to the largest k <= bins - 1 with
 * edges[k] <= x, so the estimate's rounding never moves an element (the same counts as the JS
 * loop, whatever either's estimate).
 */

export const IN = 0;
export const EDGES = 16384;
export const COUNTS = 65536;
export const MAX_BINS = 4096;

function histogram(dtype) {
  const f64 = dtype === 'float64';
  const bytes = f64 ? 8 : 4;
  const load = f64 ? '(f64.load (local.get $p))' : '(f64.promote_f32 (f32.load (local.get $p)))';
  const edge = (index) => `(f64.load offset=${EDGES} (i32.shl ${index} (i32.const 3)))`;
  return `
  (func (export "histogram_${dtype}") (param $n i32) (param $bins i32) (param $scale f64)
    (local $p i32) (local $end i32) (local $x f64) (local $lo f64) (local $hi f64) (local $last i32) (local $k i32)
    (local $table i32) (local $other i32) (local $swap i32) (local $at i32)
    (local.set $lo (f64.load offset=${EDGES} (i32.const 0)))
    (local.set $hi ${edge('(local.get $bins)')})
    (local.set $last (i32.sub (local.get $bins) (i32.const 1)))
    (local.set $table (i32.const ${COUNTS}))
    (local.set $other (i32.add (i32.const ${COUNTS}) (i32.shl (local.get $bins) (i32.const 2))))
    (local.set $p (i32.const ${IN}))
    (local.set $end (i32.add (i32.const ${IN}) (i32.mul (local.get $n) (i32.const ${bytes}))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $x ${load})
      (if (i32.and (f64.ge (local.get $x) (local.get $lo)) (f64.le (local.get $x) (local.get $hi)))
        (then
          ;; Saturating: a huge estimate (a range narrow enough for an infinite scale) is clamped.
          (local.set $k (i32.trunc_sat_f64_s (f64.mul (f64.sub (local.get $x) (local.get $lo)) (local.get $scale))))
          (if (i32.gt_s (local.get $k) (local.get $last)) (then (local.set $k (local.get $last))))
          (if (i32.lt_s (local.get $k) (i32.const 0)) (then (local.set $k (i32.const 0))))
          (block $downDone (loop $down
            (br_if $downDone (i32.eqz (local.get $k)))
            (br_if $downDone (i32.eqz (f64.lt (local.get $x) ${edge('(local.get $k)')})))
            (local.set $k (i32.sub (local.get $k) (i32.const 1)))
            (br $down)))
          (block $upDone (loop $up
            (br_if $upDone (i32.ge_s (local.get $k) (local.get $last)))
            (br_if $upDone (i32.eqz (f64.ge (local.get $x) ${edge('(i32.add (local.get $k) (i32.const 1))')})))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $up)))
          (local.set $at (i32.add (local.get $table) (i32.shl (local.get $k) (i32.const 2))))
          (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))))
      (local.set $swap (local.get $table))
      (local.set $table (local.get $other))
      (local.set $other (local.get $swap))
      (local.set $p (i32.add (local.get $p) (i32.const ${bytes})))
      (br $next))))`;
}

/** The module's text. */
export function histogramWat() {
  return `(module
  (memory (export "memory") 2 2)
${histogram('float64')}
${histogram('float32')}
)
`;
}
