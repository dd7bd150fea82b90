/**
 * WebAssembly text of the statistics' hot loops (added to the built-in module by
 * generate-builtins.mjs). Exports (p: i32 byte address, n: i32 element count):
 *   deviations_D(p, n, mean)   float64, float32 → (f64 Σd, f64 Σd²) with d = v − mean in float64
 * var/std take a block's mean from sum_D, then these two sums (the corrected two-pass
 * algorithm, see src/wasm/wasm-statistics.ts). Order: elements 4 at a time, element i of the
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

/** The statistics' functions, for the built-in module. */
export function statisticsFunctions() {
  return [deviations('float64'), deviations('float32')];
}
