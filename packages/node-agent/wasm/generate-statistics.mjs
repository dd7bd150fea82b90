/**
 * WebAssembly text of the statistics' hot loops (added to the built-in module by
 * generate-builtins.mjs). Exports (p: i32 byte address, n: i32 element count):
 *   deviations_D(p, n, mean)   float64, float32 → (f64 Σd, f64 Σd²) with d = v − mean in float64
 *   argmin_D(p, n), argmax_D   float64, float32 → i32: index of the first least (greatest)
 *                              element, or of the first NaN; n > 0 (a 16 KiB chunk at a time)
 *   colsum2_D(p, rows, stride) float64, float32 → (f64, f64): the sums of the two columns at p
 *                              over `rows` rows `stride` bytes apart, each added in row order
 *   colsum1_D(p, rows, stride) float64, float32 → f64: the same for one column
 * var/std call deviations_D per 128 KiB sub-block, around the mean so far or (when that is too
 * far off, and for a block's first sub-block) around the sub-block's own mean from sum_D, the
 * sub-block then still in cache (see src/wasm/wasm-statistics.ts). Order of deviations_D: elements
 * 8 at a time, element i of the vector part going to lane (i mod 8) of four f64x2 accumulators
 * per sum, lanes added as ((a0 + a1) + (a2 + a3)) lane 0 + lane 1, then the last n mod 8
 * elements one by one.
 */

/** Σd and Σd² of float64 or float32 elements around `mean`, 8 elements per step (four f64x2 accumulators each). */
function deviations(dtype) {
  const f64 = dtype === 'float64';
  const bytes = f64 ? 8 : 4;
  const step = 8 * bytes;
  const load = (i) => (f64 ? `(v128.load offset=${i * 16} (local.get $p))` : `(f64x2.promote_low_f32x4 (v128.load64_zero offset=${i * 8} (local.get $p)))`);
  const scalarLoad = f64 ? '(f64.load (local.get $p))' : '(f64.promote_f32 (f32.load (local.get $p)))';
  const lanes = [0, 1, 2, 3]
    .map((i) => `(local.set $d (f64x2.sub ${load(i)} (local.get $m)))
      (local.set $s${i} (f64x2.add (local.get $s${i}) (local.get $d)))
      (local.set $q${i} (f64x2.add (local.get $q${i}) (f64x2.mul (local.get $d) (local.get $d))))`)
    .join('\n      ');
  const both = (a) => `(f64x2.add (f64x2.add (local.get $${a}0) (local.get $${a}1)) (f64x2.add (local.get $${a}2) (local.get $${a}3)))`;
  return `
  (func (export "deviations_${dtype}") (param $p i32) (param $n i32) (param $mean f64) (result f64 f64)
    (local $end i32) (local $vend i32) (local $m v128) (local $d v128)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $q0 v128) (local $q1 v128) (local $q2 v128) (local $q3 v128)
    (local $sd f64) (local $sdd f64) (local $x f64)
    (local.set $m (f64x2.splat (local.get $mean)))
    (local.set $end (i32.add (local.get $p) (i32.mul (local.get $n) (i32.const ${bytes}))))
    (local.set $vend (i32.add (local.get $p) (i32.and (i32.mul (local.get $n) (i32.const ${bytes})) (i32.const ${-step}))))
    (block $vdone (loop $vloop
      (br_if $vdone (i32.ge_u (local.get $p) (local.get $vend)))
      ${lanes}
      (local.set $p (i32.add (local.get $p) (i32.const ${step})))
      (br $vloop)))
    (local.set $d ${both('s')})
    (local.set $sd (f64.add (f64x2.extract_lane 0 (local.get $d)) (f64x2.extract_lane 1 (local.get $d))))
    (local.set $d ${both('q')})
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

/** Bytes of a block scanned per step of argmin/argmax: small enough to stay in L1 for a second look. */
const ARG_CHUNK_BYTES = 16 * 1024;

/**
 * argmin / argmax, a chunk of ARG_CHUNK_BYTES at a time: the chunk's extreme value first, by
 * min (max) over four independent vector accumulators (no compare-and-select chain holding each
 * load back; wasm's min/max give NaN when any operand is NaN, so a NaN anywhere in the chunk
 * shows in that value), seeded with the best value so far. Only when the chunk holds a NaN, or
 * a value strictly better than the best so far, is it looked at again, in L1: for the first NaN
 * (the answer), or for the first element equal to the new best (the index). So each index is
 * the first occurrence, exactly as the JS loop (ties, and -0 against +0 which compare equal,
 * keep the earlier element: a chunk whose min is -0 is not better than a best of +0).
 */
function argExtreme(dtype, op) {
  const f64 = dtype === 'float64';
  const bytes = f64 ? 8 : 4;
  const lanes = f64 ? 2 : 4;
  const shape = f64 ? 'f64x2' : 'f32x4';
  const scalar = f64 ? 'f64' : 'f32';
  const pick = op === 'argmin' ? 'min' : 'max';
  const better = op === 'argmin' ? 'lt' : 'gt';
  const accumulate = [0, 1, 2, 3].map((k) => `(local.set $a${k} (${shape}.${pick} (local.get $a${k}) (v128.load offset=${k * 16} (local.get $p))))`).join('\n        ');
  const lanesOf = Array.from({ length: lanes - 1 }, (_, k) => `(local.set $c (${scalar}.${pick} (local.get $c) (${shape}.extract_lane ${k + 1} (local.get $a0))))`).join('\n      ');
  const indexOf = (address) => `(i32.div_u (i32.sub ${address} (local.get $base)) (i32.const ${bytes}))`;
  return `
  (func (export "${op}_${dtype}") (param $p i32) (param $n i32) (result i32)
    (local $base i32) (local $end i32) (local $q i32) (local $cend i32) (local $vend i32)
    (local $best ${scalar}) (local $bi i32) (local $c ${scalar}) (local $cv v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $base (local.get $p))
    (local.set $end (i32.add (local.get $p) (i32.mul (local.get $n) (i32.const ${bytes}))))
    (local.set $best (${scalar}.load (local.get $p)))
    (if (${scalar}.ne (local.get $best) (local.get $best)) (then (return (i32.const 0))))
    (block $done (loop $chunk
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $q (local.get $p))
      (local.set $cend (select (i32.add (local.get $p) (i32.const ${ARG_CHUNK_BYTES})) (local.get $end)
        (i32.gt_u (i32.sub (local.get $end) (local.get $p)) (i32.const ${ARG_CHUNK_BYTES}))))
      (local.set $vend (i32.add (local.get $p) (i32.and (i32.sub (local.get $cend) (local.get $p)) (i32.const -64))))
      (local.set $a0 (${shape}.splat (local.get $best)))
      (local.set $a1 (local.get $a0))
      (local.set $a2 (local.get $a0))
      (local.set $a3 (local.get $a0))
      (block $vdone (loop $vloop
        (br_if $vdone (i32.ge_u (local.get $p) (local.get $vend)))
        ${accumulate}
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (br $vloop)))
      (local.set $a0 (${shape}.${pick} (${shape}.${pick} (local.get $a0) (local.get $a1)) (${shape}.${pick} (local.get $a2) (local.get $a3))))
      (local.set $c (${shape}.extract_lane 0 (local.get $a0)))
      ${lanesOf}
      (block $sdone (loop $sloop
        (br_if $sdone (i32.ge_u (local.get $p) (local.get $cend)))
        (local.set $c (${scalar}.${pick} (local.get $c) (${scalar}.load (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const ${bytes})))
        (br $sloop)))
      ;; A NaN in the chunk (and none before it): the first one is the answer.
      (if (${scalar}.ne (local.get $c) (local.get $c))
        (then
          (block $nan (loop $nloop
            (br_if $nan (${scalar}.ne (${scalar}.load (local.get $q)) (${scalar}.load (local.get $q))))
            (local.set $q (i32.add (local.get $q) (i32.const ${bytes})))
            (br $nloop)))
          (return ${indexOf('(local.get $q)')})))
      ;; A better value than any before the chunk: its first occurrence in the chunk.
      (if (${scalar}.${better} (local.get $c) (local.get $best))
        (then
          (local.set $best (local.get $c))
          (local.set $cv (${shape}.splat (local.get $c)))
          (block $vfound (loop $vfind
            (br_if $vfound (i32.lt_u (i32.sub (local.get $cend) (local.get $q)) (i32.const 16)))
            (br_if $vfound (v128.any_true (${shape}.eq (v128.load (local.get $q)) (local.get $cv))))
            (local.set $q (i32.add (local.get $q) (i32.const 16)))
            (br $vfind)))
          (block $found (loop $find
            (br_if $found (${scalar}.eq (${scalar}.load (local.get $q)) (local.get $c)))
            (local.set $q (i32.add (local.get $q) (i32.const ${bytes})))
            (br $find)))
          (local.set $bi ${indexOf('(local.get $q)')})))
      (br $chunk)))
    (local.get $bi))`;
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
