/**
 * WebAssembly text of the statistics' hot loops (added to the built-in module by
 * generate-builtins.mjs). Exports (p: i32 byte address, n: i32 element count):
 *   deviations_D(p, n, mean)   float64, float32 → (f64 Σd, f64 Σd²) with d = v − mean in float64
 *   argmin_D(p, n), argmax_D   float64, float32 → i32: index of the first least (greatest)
 *                              element, or of the first NaN; n > 0
 *   colsum2_D(p, rows, stride) float64, float32 → (f64, f64): the sums of the two columns at p
 *                              over `rows` rows `stride` bytes apart, each added in row order
 *   colsum1_D(p, rows, stride) float64, float32 → f64: the same for one column
 * var/std take a sub-block's mean from sum_D, then these two sums while the sub-block is still
 * in cache (the corrected two-pass algorithm per 128 KiB sub-block, merged in order, see
 * src/wasm/wasm-statistics.ts). Order: elements 4 at a time, element i of the
 * vector part going to lane (i mod 4) of two f64x2 accumulators per sum, lanes added as
 * (a0 + a1) lane 0 + lane 1, then the last n mod 4 elements one by one.
 */

/** Σd and Σd² of float64 or float32 elements around `mean`. */
function deviations(dtype) {
  const f64 = dtype === 'float64';
  const bytes = f64 ? 8 : 4;
  const step = 4 * bytes;
  const load = (i) => (f64 ? `(v128.load offset=${i * 16} (local.get $p))` : `(f64x2.promote_low_f32x4 (v128.load64_zero offset=${i * 8} (local.get $p)))`);
  const scalarLoad = f64 ? '(f64.load (local.get $p))' : '(f64.promote_f32 (f32.load (local.get $p)))';
  const lanes = [0, 1]
    .map((i) => `(local.set $d (f64x2.sub ${load(i)} (local.get $m)))
      (local.set $s${i} (f64x2.add (local.get $s${i}) (local.get $d)))
      (local.set $q${i} (f64x2.add (local.get $q${i}) (f64x2.mul (local.get $d) (local.get $d))))`)
    .join('\n      ');
  return `
  (func (export "deviations_${dtype}") (param $p i32) (param $n i32) (param $mean f64) (result f64 f64)
    (local $end i32) (local $vend i32) (local $m v128) (local $d v128)
    (local $s0 v128) (local $s1 v128) (local $q0 v128) (local $q1 v128) (local $sd f64) (local $sdd f64) (local $x f64)
    (local.set $m (f64x2.splat (local.get $mean)))
    (local.set $end (i32.add (local.get $p) (i32.mul (local.get $n) (i32.const ${bytes}))))
    (local.set $vend (i32.add (local.get $p) (i32.and (i32.mul (local.get $n) (i32.const ${bytes})) (i32.const ${-step}))))
    (block $vdone (loop $vloop
      (br_if $vdone (i32.ge_u (local.get $p) (local.get $vend)))
      ${lanes}
      (local.set $p (i32.add (local.get $p) (i32.const ${step})))
      (br $vloop)))
    (local.set $d (f64x2.add (local.get $s0) (local.get $s1)))
    (local.set $sd (f64.add (f64x2.extract_lane 0 (local.get $d)) (f64x2.extract_lane 1 (local.get $d))))
    (local.set $d (f64x2.add (local.get $q0) (local.get $q1)))
    (local.set $sdd (f64.add (f64x2.extract_lane 0 (local.get $d)) (f64x2.extract_lane 1 (local.get $d))))
    (block $sdone (loop $sloop
      (br_if $sdone (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $x (f64.sub ${scalarLoad} (local.get $mean)))
      (local.set $sd (f64.add (local.get $sd) (local.get $x)))
      (local.set $sdd (f64.add (local.get $sdd) (f64.mul (local.get $x) (local.get $x))))
      (local.set $p (i32.add (local.get $p) (i32.const ${bytes})))
      (br $sloop)))
    (local.get $sd) (local.get $sdd))`;
}

/**
 * argmin / argmax: each lane keeps its least (greatest) value and that value's index, replaced
 * only by a strictly smaller (greater) one, so each lane holds its first extreme; lanes are then
 * merged preferring the smaller index on ties, and the tail is scanned one by one. A vector
 * holding a NaN stops the loop: the answer is then the first NaN, found by a scalar scan from
 * there (nothing before it was NaN).
 */
function argExtreme(dtype, op) {
  const f64 = dtype === 'float64';
  const bytes = f64 ? 8 : 4;
  const lanes = f64 ? 2 : 4;
  const shape = f64 ? 'f64x2' : 'f32x4';
  const ints = f64 ? 'i64x2' : 'i32x4';
  const scalar = f64 ? 'f64' : 'f32';
  const better = op === 'argmin' ? 'lt' : 'gt';
  const laneIndex = (lane) => (f64 ? `(i32.wrap_i64 (i64x2.extract_lane ${lane} (local.get $idx)))` : `(i32x4.extract_lane ${lane} (local.get $idx))`);
  const start = f64 ? '(v128.const i64x2 0 1)' : '(v128.const i32x4 0 1 2 3)';
  const stepVector = f64 ? '(v128.const i64x2 2 2)' : '(v128.const i32x4 4 4 4 4)';
  const mergeLanes = Array.from({ length: lanes - 1 }, (_, k) => k + 1)
    .map(
      (lane) => `(local.set $x (${shape}.extract_lane ${lane} (local.get $m)))
    (local.set $j ${laneIndex(lane)})
    (if (i32.or (${scalar}.${better} (local.get $x) (local.get $best))
                (i32.and (${scalar}.eq (local.get $x) (local.get $best)) (i32.lt_u (local.get $j) (local.get $bi))))
      (then (local.set $best (local.get $x)) (local.set $bi (local.get $j))))`,
    )
    .join('\n    ');
  return `
  (func (export "${op}_${dtype}") (param $p i32) (param $n i32) (result i32)
    (local $end i32) (local $vend i32) (local $base i32) (local $v v128) (local $m v128) (local $idx v128) (local $cur v128) (local $mask v128)
    (local $best ${scalar}) (local $bi i32) (local $x ${scalar}) (local $j i32) (local $i i32)
    (local.set $base (local.get $p))
    (local.set $end (i32.add (local.get $p) (i32.mul (local.get $n) (i32.const ${bytes}))))
    (local.set $vend (i32.add (local.get $p) (i32.and (i32.mul (local.get $n) (i32.const ${bytes})) (i32.const ${-16}))))
    (local.set $best (${scalar}.load (local.get $p)))
    (local.set $bi (i32.const 0))
    (block $scan
      (if (i32.lt_u (local.get $p) (local.get $vend))
        (then
          (local.set $m (v128.load (local.get $p)))
          (br_if $scan (v128.any_true (${shape}.ne (local.get $m) (local.get $m))))
          (local.set $idx ${start})
          (local.set $cur (${ints}.add ${start} ${stepVector}))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (block $vdone (loop $vloop
            (br_if $vdone (i32.ge_u (local.get $p) (local.get $vend)))
            (local.set $v (v128.load (local.get $p)))
            (br_if $scan (v128.any_true (${shape}.ne (local.get $v) (local.get $v))))
            (local.set $mask (${shape}.${better} (local.get $v) (local.get $m)))
            (local.set $m (v128.bitselect (local.get $v) (local.get $m) (local.get $mask)))
            (local.set $idx (v128.bitselect (local.get $cur) (local.get $idx) (local.get $mask)))
            (local.set $cur (${ints}.add (local.get $cur) ${stepVector}))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (br $vloop)))
          (local.set $best (${shape}.extract_lane 0 (local.get $m)))
          (local.set $bi ${laneIndex(0)})
    ${mergeLanes}))
      ;; The tail (or everything, below one vector): one by one, a NaN ends it.
      (block $tdone (loop $tloop
        (br_if $tdone (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $x (${scalar}.load (local.get $p)))
        (local.set $i (i32.div_u (i32.sub (local.get $p) (local.get $base)) (i32.const ${bytes})))
        (if (${scalar}.ne (local.get $x) (local.get $x)) (then (return (local.get $i))))
        (if (${scalar}.${better} (local.get $x) (local.get $best)) (then (local.set $best (local.get $x)) (local.set $bi (local.get $i))))
        (local.set $p (i32.add (local.get $p) (i32.const ${bytes})))
        (br $tloop)))
      ;; The first element may itself be NaN (it seeded $best).
      (if (${scalar}.ne (local.get $best) (local.get $best)) (then (return (i32.const 0))))
      (return (local.get $bi)))
    ;; A vector at $p holds a NaN: the first NaN from $p on is the answer.
    (block $found (loop $nloop
      (br_if $found (${scalar}.ne (${scalar}.load (local.get $p)) (${scalar}.load (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const ${bytes})))
      (br $nloop)))
    (i32.div_u (i32.sub (local.get $p) (local.get $base)) (i32.const ${bytes})))`;
}

/**
 * Column sums for reductions along axis 0: one pass down a pair of columns, the two sums in one
 * f64x2, each column's elements added in row order (the order of the JS loop, so the same sums).
 */
function columnSums(dtype) {
  const f64 = dtype === 'float64';
  const load = f64 ? '(v128.load (local.get $p))' : '(f64x2.promote_low_f32x4 (v128.load64_zero (local.get $p)))';
  const scalarLoad = f64 ? '(f64.load (local.get $p))' : '(f64.promote_f32 (f32.load (local.get $p)))';
  const loop = (body) => `(local.set $end (i32.add (local.get $p) (i32.mul (local.get $rows) (local.get $stride))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      ${body}
      (local.set $p (i32.add (local.get $p) (local.get $stride)))
      (br $next)))`;
  return `
  (func (export "colsum2_${dtype}") (param $p i32) (param $rows i32) (param $stride i32) (result f64 f64)
    (local $end i32) (local $acc v128)
    ${loop(`(local.set $acc (f64x2.add (local.get $acc) ${load}))`)}
    (f64x2.extract_lane 0 (local.get $acc)) (f64x2.extract_lane 1 (local.get $acc)))

  (func (export "colsum1_${dtype}") (param $p i32) (param $rows i32) (param $stride i32) (result f64)
    (local $end i32) (local $s f64)
    ${loop(`(local.set $s (f64.add (local.get $s) ${scalarLoad}))`)}
    (local.get $s))`;
}

/** The statistics' functions, for the built-in module. */
export function statisticsFunctions() {
  return [deviations('float64'), deviations('float32'), columnSums('float64'), columnSums('float32'), ...['argmin', 'argmax'].flatMap((op) => [argExtreme('float64', op), argExtreme('float32', op)])];
}
