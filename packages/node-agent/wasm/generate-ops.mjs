/**
 * Generates the WebAssembly text (WAT) of the hot elementwise built-ins that make a new array
 * (astype between float64 and float32, scale, add/sub/mul/div of float64 and float32). Unlike
 * the reductions (generate-builtins.mjs), these write a second partition, which a wasm32
 * module cannot reach in place (one memory per instance; multi-memory is not in Node 20's V8
 * by default). So the module has a small memory of its own, one instance per thread, and
 * works chunk by chunk: the caller copies a chunk of the input (and of the second input) in,
 * calls, and copies the output chunk out; the chunks stay in the L1/L2 cache, so the copies
 * cost little beside the memory traffic (src/workers/ops/wasm-ops.ts; measured in the README).
 *
 * Layout of the module's memory (one 64 KiB page), named again in wasm-ops.ts:
 *   IN  = 0       the first input's chunk (at most CHUNK_BYTES)
 *   B   = 16384   the second input's chunk (binary ops)
 *   OUT = 32768   the output chunk (at most 2 × CHUNK_BYTES: float32 → float64 doubles it)
 *
 * Exports (n: i32 element count of the chunk):
 *   astype_float64_float32(n), astype_float32_float64(n)
 *   scale_D(n, x, c) = in·x + c and scalemul_D(n, x) = in·x (no + 0: numpy's a*x keeps -0), D float64/float32,
 *     float32 computed in float32 (each step rounded, as numpy with a Python float)
 *   add_D, sub_D, mul_D, div_D (n): in op b, D float64/float32
 *   dot_D (n) → f64: Σ in·b over the chunk, D float64/float32 (float32 widened to float64 first),
 *     four f64x2 accumulators; element i of the vector part goes to lane i mod 8, the lanes are
 *     added as ((a0 + a1) + (a2 + a3)), lane 0 + lane 1, then the last n mod 8 products in order
 *     (the order of sumsq in generate-builtins.mjs). The caller adds the chunks' sums in order.
 */

export const IN = 0;
export const B = 16384;
export const OUT = 32768;

function loop(stepElements, inBytes, outBytes, vectorBody, scalarBody, betweenLoops = '') {
  // $i counts elements; vector steps while i + step <= n, (betweenLoops), then one element at a time.
  return `(local.set $i (i32.const 0))
    (block $vdone (loop $vloop
      (br_if $vdone (i32.gt_u (i32.add (local.get $i) (i32.const ${stepElements})) (local.get $n)))
      (local.set $in (i32.add (i32.const ${IN}) (i32.mul (local.get $i) (i32.const ${inBytes}))))
      (local.set $b (i32.add (i32.const ${B}) (i32.mul (local.get $i) (i32.const ${inBytes}))))
      (local.set $out (i32.add (i32.const ${OUT}) (i32.mul (local.get $i) (i32.const ${outBytes}))))
      ${vectorBody}
      (local.set $i (i32.add (local.get $i) (i32.const ${stepElements})))
      (br $vloop)))
    ${betweenLoops}
    (block $sdone (loop $sloop
      (br_if $sdone (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $in (i32.add (i32.const ${IN}) (i32.mul (local.get $i) (i32.const ${inBytes}))))
      (local.set $b (i32.add (i32.const ${B}) (i32.mul (local.get $i) (i32.const ${inBytes}))))
      (local.set $out (i32.add (i32.const ${OUT}) (i32.mul (local.get $i) (i32.const ${outBytes}))))
      ${scalarBody}
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $sloop)))`;
}

const LOCALS = '(local $i i32) (local $in i32) (local $b i32) (local $out i32)';
const FLOAT = {
  float64: { bytes: 8, shape: 'f64x2', scalar: 'f64', lanes: 2 },
  float32: { bytes: 4, shape: 'f32x4', scalar: 'f32', lanes: 4 },
};

function astypes() {
  // float64 → float32: two f64x2 demoted, their low halves joined into one f32x4.
  const narrow = `
  (func (export "astype_float64_float32") (param $n i32) ${LOCALS}
    ${loop(
      4,
      8,
      4,
      `(v128.store (local.get $out) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
        (f32x4.demote_f64x2_zero (v128.load (local.get $in)))
        (f32x4.demote_f64x2_zero (v128.load offset=16 (local.get $in)))))`,
      '(f32.store (local.get $out) (f32.demote_f64 (f64.load (local.get $in))))',
    )})`;
  const widen = `
  (func (export "astype_float32_float64") (param $n i32) ${LOCALS}
    ${loop(
      4,
      4,
      8,
      `(v128.store (local.get $out) (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $in))))
      (v128.store offset=16 (local.get $out) (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (local.get $in))))`,
      '(f64.store (local.get $out) (f64.promote_f32 (f32.load (local.get $in))))',
    )})`;
  return narrow + widen;
}

function scales(dtype) {
  const { bytes, shape, scalar, lanes } = FLOAT[dtype];
  const withOffset = `
  (func (export "scale_${dtype}") (param $n i32) (param $x ${scalar}) (param $c ${scalar}) ${LOCALS} (local $vx v128) (local $vc v128)
    (local.set $vx (${shape}.splat (local.get $x)))
    (local.set $vc (${shape}.splat (local.get $c)))
    ${loop(
      lanes * 2,
      bytes,
      bytes,
      `(v128.store (local.get $out) (${shape}.add (${shape}.mul (v128.load (local.get $in)) (local.get $vx)) (local.get $vc)))
      (v128.store offset=16 (local.get $out) (${shape}.add (${shape}.mul (v128.load offset=16 (local.get $in)) (local.get $vx)) (local.get $vc)))`,
      `(${scalar}.store (local.get $out) (${scalar}.add (${scalar}.mul (${scalar}.load (local.get $in)) (local.get $x)) (local.get $c)))`,
    )})`;
  const productOnly = `
  (func (export "scalemul_${dtype}") (param $n i32) (param $x ${scalar}) ${LOCALS} (local $vx v128)
    (local.set $vx (${shape}.splat (local.get $x)))
    ${loop(
      lanes * 2,
      bytes,
      bytes,
      `(v128.store (local.get $out) (${shape}.mul (v128.load (local.get $in)) (local.get $vx)))
      (v128.store offset=16 (local.get $out) (${shape}.mul (v128.load offset=16 (local.get $in)) (local.get $vx)))`,
      `(${scalar}.store (local.get $out) (${scalar}.mul (${scalar}.load (local.get $in)) (local.get $x)))`,
    )})`;
  return withOffset + productOnly;
}

function binaries(dtype) {
  const { bytes, shape, scalar, lanes } = FLOAT[dtype];
  return ['add', 'sub', 'mul', 'div']
    .map(
      (op) => `
  (func (export "${op}_${dtype}") (param $n i32) ${LOCALS}
    ${loop(
      lanes * 2,
      bytes,
      bytes,
      `(v128.store (local.get $out) (${shape}.${op} (v128.load (local.get $in)) (v128.load (local.get $b))))
      (v128.store offset=16 (local.get $out) (${shape}.${op} (v128.load offset=16 (local.get $in)) (v128.load offset=16 (local.get $b))))`,
      `(${scalar}.store (local.get $out) (${scalar}.${op} (${scalar}.load (local.get $in)) (${scalar}.load (local.get $b))))`,
    )})`,
    )
    .join('');
}

/** Σ in·b over a chunk, in float64: 8 elements per step into four f64x2 accumulators. */
function dot(dtype) {
  const f64 = dtype === 'float64';
  const bytes = FLOAT[dtype].bytes;
  const load = (base, i) =>
    f64 ? `(v128.load offset=${i * 16} (local.get ${base}))` : `(f64x2.promote_low_f32x4 (v128.load64_zero offset=${i * 8} (local.get ${base})))`;
  const vectorBody = [0, 1, 2, 3]
    .map((i) => `(local.set $a${i} (f64x2.add (local.get $a${i}) (f64x2.mul ${load('$in', i)} ${load('$b', i)})))`)
    .join('\n      ');
  const scalarLoad = (base) => (f64 ? `(f64.load (local.get ${base}))` : `(f64.promote_f32 (f32.load (local.get ${base})))`);
  return `
  (func (export "dot_${dtype}") (param $n i32) (result f64) ${LOCALS}
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $v v128) (local $s f64)
    ${loop(
      8,
      bytes,
      0,
      vectorBody,
      `(local.set $s (f64.add (local.get $s) (f64.mul ${scalarLoad('$in')} ${scalarLoad('$b')})))`,
      `(local.set $v (f64x2.add (f64x2.add (local.get $a0) (local.get $a1)) (f64x2.add (local.get $a2) (local.get $a3))))
    (local.set $s (f64.add (f64x2.extract_lane 0 (local.get $v)) (f64x2.extract_lane 1 (local.get $v))))`,
    )}
    (local.get $s))`;
}

/** The whole module's text. */
export function opsWat() {
  const functions = [astypes()];
  for (const dtype of ['float64', 'float32']) functions.push(scales(dtype), binaries(dtype), dot(dtype));
  return `(module
  (memory (export "memory") 1 1)
${functions.join('\n')}
)
`;
}
