/**
 * Generates the WebAssembly text (WAT) of sharc's built-in reductions: one exported function per
 * (operation, dtype), each a SIMD128 loop over `n` elements starting at byte `p` of the imported
 * shared memory (the partition's own memory: no copy), then a scalar loop for the last elements.
 * The families below are written once and instantiated per dtype, because ten dtypes × six
 * operations written out by hand would be ~60 near-identical loops.
 *
 * Exports (p: i32 byte address, n: i32 element count; results as the JS side expects, see
 * src/wasm/wasm-reducers.ts):
 *   sum_D, sumsq_D       float64, float32 → f64, accumulated in float64
 *   min_D, max_D         float64, float32 → f64 (NaN propagates; -0 < +0 as Math.min)
 *   sum_D, sumsq_D       int8…uint16 → f64 (exact i64 sum, rounded to float64 once)
 *   sum_D                int32, uint32 → f64 (exact i64 sum, rounded once)
 *   sumsq_D              int32, uint32 → (i64 low, i64 high): Σ v² = high·2^32 + low, exact
 *   min_D, max_D         int8…uint32 → f64 (n > 0)
 *   sum_D                int64, uint64 → (i64 low, i64 high): Σ v = high·2^32 + low, exact
 *   min_D, max_D         int64, uint64 → i64 (n > 0)
 *   count_nonzero, all_nonzero, any_nonzero   bool (bytes: true when not 0)
 *
 * Accumulation order of the float sums (deterministic, documented in the README): elements are
 * taken 8 at a time (float64: four f64x2 accumulators; float32: four f64x2 accumulators over
 * pairs widened to float64), element i of the vector part going to lane (i mod 8); the eight
 * lanes are added as ((a0 + a1) + (a2 + a3)) lane 0 + lane 1, then the last n mod 8 elements
 * are added one by one.
 */

const ELEMENT_BYTES = { float64: 8, float32: 4, int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8 };

function scalarLoop(elementBytes, scalarBody) {
  return `(block $sdone (loop $sloop
      (br_if $sdone (i32.ge_u (local.get $p) (local.get $end)))
      ${scalarBody}
      (local.set $p (i32.add (local.get $p) (i32.const ${elementBytes})))
      (br $sloop)))`;
}

const COMMON_LOCALS = '(local $end i32) (local $vend i32)';

/** float64 / float32 sum and sum of squares, in float64, 8 elements per iteration. */
function floatSum(dtype, square) {
  const f64 = dtype === 'float64';
  const elementBytes = ELEMENT_BYTES[dtype];
  const load = (i) =>
    f64 ? `(v128.load offset=${i * 16} (local.get $p))` : `(f64x2.promote_low_f32x4 (v128.load64_zero offset=${i * 8} (local.get $p)))`;
  const vectorBody = [0, 1, 2, 3]
    .map((i) =>
      square
        ? `(local.set $v ${load(i)}) (local.set $a${i} (f64x2.add (local.get $a${i}) (f64x2.mul (local.get $v) (local.get $v))))`
        : `(local.set $a${i} (f64x2.add (local.get $a${i}) ${load(i)}))`,
    )
    .join('\n      ');
  const scalarLoad = f64 ? '(f64.load (local.get $p))' : '(f64.promote_f32 (f32.load (local.get $p)))';
  const scalarBody = square
    ? `(local.set $x ${scalarLoad}) (local.set $s (f64.add (local.get $s) (f64.mul (local.get $x) (local.get $x))))`
    : `(local.set $s (f64.add (local.get $s) ${scalarLoad}))`;
  return `
  (func (export "${square ? 'sumsq' : 'sum'}_${dtype}") (param $p i32) (param $n i32) (result f64)
    ${COMMON_LOCALS} (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $v v128) (local $s f64) (local $x f64)
    ${vectorLoop(elementBytes, 8 * elementBytes, vectorBody)}
    (local.set $v (f64x2.add (f64x2.add (local.get $a0) (local.get $a1)) (f64x2.add (local.get $a2) (local.get $a3))))
    (local.set $s (f64.add (f64x2.extract_lane 0 (local.get $v)) (f64x2.extract_lane 1 (local.get $v))))
    ${scalarLoop(elementBytes, scalarBody)}
    (local.get $s))`;
}

/** Sets $end and $vend, then runs the vector loop over whole steps. */
function vectorLoop(elementBytes, stepBytes, vectorBody) {
  return `(local.set $end (i32.add (local.get $p) (i32.mul (local.get $n) (i32.const ${elementBytes}))))
    (local.set $vend (i32.add (local.get $p) (i32.and (i32.mul (local.get $n) (i32.const ${elementBytes})) (i32.const ${-stepBytes}))))
    (block $vdone (loop $vloop
      (br_if $vdone (i32.ge_u (local.get $p) (local.get $vend)))
      ${vectorBody}
      (local.set $p (i32.add (local.get $p) (i32.const ${stepBytes})))
      (br $vloop)))`;
}

/** float64 / float32 min and max: NaN propagates (wasm's min/max return NaN if either is), -0 < +0. */
function floatExtreme(dtype, op) {
  const f64 = dtype === 'float64';
  const shape = f64 ? 'f64x2' : 'f32x4';
  const scalar = f64 ? 'f64' : 'f32';
  const elementBytes = ELEMENT_BYTES[dtype];
  const start = op === 'min' ? 'inf' : '-inf';
  const vectorBody = [0, 1]
    .map((i) => `(local.set $a${i} (${shape}.${op} (local.get $a${i}) (v128.load offset=${i * 16} (local.get $p))))`)
    .join('\n      ');
  const lanes = f64 ? [0, 1] : [0, 1, 2, 3];
  const fold = lanes.map((lane) => `(local.set $m (${scalar}.${op} (local.get $m) (${shape}.extract_lane ${lane} (local.get $v))))`).join('\n    ');
  return `
  (func (export "${op}_${dtype}") (param $p i32) (param $n i32) (result f64)
    ${COMMON_LOCALS} (local $a0 v128) (local $a1 v128) (local $v v128) (local $m ${scalar})
    (local.set $a0 (${shape}.splat (${scalar}.const ${start})))
    (local.set $a1 (local.get $a0))
    (local.set $m (${scalar}.const ${start}))
    ${vectorLoop(elementBytes, 32, vectorBody)}
    (local.set $v (${shape}.${op} (local.get $a0) (local.get $a1)))
    ${fold}
    ${scalarLoop(elementBytes, `(local.set $m (${scalar}.${op} (local.get $m) (${scalar}.load (local.get $p))))`)}
    ${f64 ? '(local.get $m)' : '(f64.promote_f32 (local.get $m))'})`;
}

const INT_INFO = {
  int8: { bits: 8, sign: 's' },
  uint8: { bits: 8, sign: 'u' },
  int16: { bits: 16, sign: 's' },
  uint16: { bits: 16, sign: 'u' },
  int32: { bits: 32, sign: 's' },
  uint32: { bits: 32, sign: 'u' },
};

/** One element widened to i64. */
function scalarIntLoad(dtype) {
  const { bits, sign } = INT_INFO[dtype];
  return `(i64.load${bits}_${sign} (local.get $p))`;
}

/** Vectors widened to 32-bit lanes between flushes to the i64 accumulator: a lane gains < 2^18 per vector. */
const NARROW_CHUNK_VECTORS = 4096;

/**
 * Integer sums of int8…uint32, exact in i64 (a partition of at most 4 GiB cannot overflow it),
 * rounded to float64 once. 8- and 16-bit lanes are widened to 32-bit lane sums for a chunk of
 * vectors, then to the 64-bit accumulator.
 */
function intSum(dtype) {
  const { bits, sign } = INT_INFO[dtype];
  const elementBytes = bits / 8;
  let widen32;
  if (bits === 8) widen32 = `(i32x4.extadd_pairwise_i16x8_${sign} (i16x8.extadd_pairwise_i8x16_${sign} (v128.load (local.get $p))))`;
  else if (bits === 16) widen32 = `(i32x4.extadd_pairwise_i16x8_${sign} (v128.load (local.get $p)))`;
  const body =
    bits === 32
      ? `(local.set $v (v128.load (local.get $p)))
      (local.set $acc (i64x2.add (local.get $acc) (i64x2.extend_low_i32x4_${sign} (local.get $v))))
      (local.set $acc (i64x2.add (local.get $acc) (i64x2.extend_high_i32x4_${sign} (local.get $v))))`
      : undefined;
  const vector =
    bits === 32
      ? vectorLoop(elementBytes, 16, body)
      : chunkedLoop(elementBytes, `(local.set $narrow (i32x4.add (local.get $narrow) ${widen32}))`, flushNarrow(sign));
  return `
  (func (export "sum_${dtype}") (param $p i32) (param $n i32) (result f64)
    ${COMMON_LOCALS} (local $chunkEnd i32) (local $acc v128) (local $narrow v128) (local $v v128) (local $s i64)
    ${vector}
    (local.set $s (i64.add (i64x2.extract_lane 0 (local.get $acc)) (i64x2.extract_lane 1 (local.get $acc))))
    ${scalarLoop(elementBytes, `(local.set $s (i64.add (local.get $s) ${scalarIntLoad(dtype)}))`)}
    (f64.convert_i64_s (local.get $s)))`;
}

/** Adds the 32-bit lane sums into the i64 accumulator and clears them. */
function flushNarrow(sign) {
  return `(local.set $acc (i64x2.add (local.get $acc) (i64x2.extend_low_i32x4_${sign} (local.get $narrow))))
        (local.set $acc (i64x2.add (local.get $acc) (i64x2.extend_high_i32x4_${sign} (local.get $narrow))))
        (local.set $narrow (v128.const i64x2 0 0))`;
}

/** The vector loop in chunks of NARROW_CHUNK_VECTORS vectors, `flush` after each chunk. */
function chunkedLoop(elementBytes, body, flush) {
  return `(local.set $end (i32.add (local.get $p) (i32.mul (local.get $n) (i32.const ${elementBytes}))))
    (local.set $vend (i32.add (local.get $p) (i32.and (i32.mul (local.get $n) (i32.const ${elementBytes})) (i32.const -16))))
    (block $vdone (loop $chunks
      (br_if $vdone (i32.ge_u (local.get $p) (local.get $vend)))
      (local.set $chunkEnd (select (local.get $vend) (i32.add (local.get $p) (i32.const ${NARROW_CHUNK_VECTORS * 16}))
        (i32.le_u (i32.sub (local.get $vend) (local.get $p)) (i32.const ${NARROW_CHUNK_VECTORS * 16}))))
      (block $cdone (loop $vloop
        (br_if $cdone (i32.ge_u (local.get $p) (local.get $chunkEnd)))
        ${body}
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $vloop)))
      ${flush}
      (br $chunks)))`;
}

/**
 * Sums of squares of int8…uint16, exact in i64 (unsigned: squares are not negative), rounded
 * once; int32, uint32 return the exact sum as (low, high) with Σ = high·2^32 + low: each 64-bit
 * square is split in its two 32-bit halves, so neither half sum can overflow.
 */
function intSumsq(dtype) {
  const { bits, sign } = INT_INFO[dtype];
  const elementBytes = bits / 8;
  if (bits === 8) {
    // Squares of bytes fit 16-bit lanes as unsigned (≤ 65025); pairs of them fit 32-bit lanes.
    const body = `(local.set $v (v128.load (local.get $p)))
        (local.set $narrow (i32x4.add (local.get $narrow) (i32x4.extadd_pairwise_i16x8_u (i16x8.extmul_low_i8x16_${sign} (local.get $v) (local.get $v)))))
        (local.set $narrow (i32x4.add (local.get $narrow) (i32x4.extadd_pairwise_i16x8_u (i16x8.extmul_high_i8x16_${sign} (local.get $v) (local.get $v)))))`;
    return intSumsqNarrow(dtype, chunkedLoop(elementBytes, body, flushNarrow('u')));
  }
  if (bits === 16) {
    const body = `(local.set $v (v128.load (local.get $p)))
      (local.set $w (i32x4.extmul_low_i16x8_${sign} (local.get $v) (local.get $v)))
      (local.set $acc (i64x2.add (local.get $acc) (i64x2.extend_low_i32x4_u (local.get $w))))
      (local.set $acc (i64x2.add (local.get $acc) (i64x2.extend_high_i32x4_u (local.get $w))))
      (local.set $w (i32x4.extmul_high_i16x8_${sign} (local.get $v) (local.get $v)))
      (local.set $acc (i64x2.add (local.get $acc) (i64x2.extend_low_i32x4_u (local.get $w))))
      (local.set $acc (i64x2.add (local.get $acc) (i64x2.extend_high_i32x4_u (local.get $w))))`;
    return intSumsqNarrow(dtype, vectorLoop(elementBytes, 16, body));
  }
  const square = (half) => `(i64x2.extmul_${half}_i32x4_${sign} (local.get $v) (local.get $v))`;
  const split = `(local.set $lo (i64x2.add (local.get $lo) (v128.and (local.get $w) (local.get $mask))))
      (local.set $hi (i64x2.add (local.get $hi) (i64x2.shr_u (local.get $w) (i32.const 32))))`;
  const body = `(local.set $v (v128.load (local.get $p)))
      (local.set $w ${square('low')})
      ${split}
      (local.set $w ${square('high')})
      ${split}`;
  return `
  (func (export "sumsq_${dtype}") (param $p i32) (param $n i32) (result i64 i64)
    ${COMMON_LOCALS} (local $lo v128) (local $hi v128) (local $v v128) (local $w v128) (local $mask v128) (local $x i64) (local $l i64) (local $h i64)
    (local.set $mask (v128.const i64x2 0xffffffff 0xffffffff))
    ${vectorLoop(elementBytes, 16, body)}
    (local.set $l (i64.add (i64x2.extract_lane 0 (local.get $lo)) (i64x2.extract_lane 1 (local.get $lo))))
    (local.set $h (i64.add (i64x2.extract_lane 0 (local.get $hi)) (i64x2.extract_lane 1 (local.get $hi))))
    ${scalarLoop(
      elementBytes,
      `(local.set $x ${scalarIntLoad(dtype)})
      (local.set $x (i64.mul (local.get $x) (local.get $x)))
      (local.set $l (i64.add (local.get $l) (i64.and (local.get $x) (i64.const 0xffffffff))))
      (local.set $h (i64.add (local.get $h) (i64.shr_u (local.get $x) (i64.const 32))))`,
    )}
    (local.get $l) (local.get $h))`;
}

function intSumsqNarrow(dtype, vector) {
  const elementBytes = INT_INFO[dtype].bits / 8;
  return `
  (func (export "sumsq_${dtype}") (param $p i32) (param $n i32) (result f64)
    ${COMMON_LOCALS} (local $chunkEnd i32) (local $acc v128) (local $narrow v128) (local $v v128) (local $w v128) (local $s i64) (local $x i64)
    ${vector}
    (local.set $s (i64.add (i64x2.extract_lane 0 (local.get $acc)) (i64x2.extract_lane 1 (local.get $acc))))
    ${scalarLoop(elementBytes, `(local.set $x ${scalarIntLoad(dtype)}) (local.set $s (i64.add (local.get $s) (i64.mul (local.get $x) (local.get $x))))`)}
    (f64.convert_i64_u (local.get $s)))`;
}

/** min / max of int8…uint32 (n > 0: the caller answers for an empty block). */
function intExtreme(dtype, op) {
  const { bits, sign } = INT_INFO[dtype];
  const elementBytes = bits / 8;
  const shape = { 8: 'i8x16', 16: 'i16x8', 32: 'i32x4' }[bits];
  const lanes = 128 / bits;
  // The identity: the type's greatest value for min, its least for max (-1 is all ones: the
  // greatest unsigned value in every lane width, and in $m, compared unsigned).
  const identity = {
    s: { min: 2 ** (bits - 1) - 1, max: -(2 ** (bits - 1)) },
    u: { min: -1, max: 0 },
  }[sign][op];
  const extract = (lane) => (bits === 32 ? `(i32x4.extract_lane ${lane} (local.get $a))` : `(${shape}.extract_lane_${sign} ${lane} (local.get $a))`);
  const better = (a, b) => `(i32.${op === 'min' ? 'lt' : 'gt'}_${sign} ${a} ${b})`;
  const foldLane = (lane) =>
    `(local.set $x ${extract(lane)}) (local.set $m (select (local.get $x) (local.get $m) ${better('(local.get $x)', '(local.get $m)')}))`;
  const scalarLoad = bits === 32 ? '(i32.load (local.get $p))' : `(i32.load${bits}_${sign} (local.get $p))`;
  return `
  (func (export "${op}_${dtype}") (param $p i32) (param $n i32) (result f64)
    ${COMMON_LOCALS} (local $a v128) (local $m i32) (local $x i32)
    (local.set $a (${shape}.splat (i32.const ${identity})))
    (local.set $m (i32.const ${identity}))
    ${vectorLoop(elementBytes, 16, `(local.set $a (${shape}.${op}_${sign} (local.get $a) (v128.load (local.get $p))))`)}
    ${Array.from({ length: lanes }, (_, lane) => foldLane(lane)).join('\n    ')}
    ${scalarLoop(elementBytes, `(local.set $x ${scalarLoad}) (local.set $m (select (local.get $x) (local.get $m) ${better('(local.get $x)', '(local.get $m)')}))`)}
    (f64.convert_i32_${sign} (local.get $m)))`;
}

/**
 * The exact sum of int64 / uint64 as (low, high): Σ v = high·2^32 + low, where low sums the
 * elements' low 32-bit words (unsigned) and high their high words (signed for int64): neither
 * sum can overflow for a partition of at most 4 GiB. The JS side folds the two into a bigint.
 */
function int64Sum(dtype) {
  const shift = dtype === 'int64' ? 'shr_s' : 'shr_u';
  const body = `(local.set $v (v128.load (local.get $p)))
      (local.set $lo (i64x2.add (local.get $lo) (v128.and (local.get $v) (local.get $mask))))
      (local.set $hi (i64x2.add (local.get $hi) (i64x2.${shift} (local.get $v) (i32.const 32))))`;
  return `
  (func (export "sum_${dtype}") (param $p i32) (param $n i32) (result i64 i64)
    ${COMMON_LOCALS} (local $lo v128) (local $hi v128) (local $v v128) (local $mask v128) (local $x i64) (local $l i64) (local $h i64)
    (local.set $mask (v128.const i64x2 0xffffffff 0xffffffff))
    ${vectorLoop(8, 16, body)}
    (local.set $l (i64.add (i64x2.extract_lane 0 (local.get $lo)) (i64x2.extract_lane 1 (local.get $lo))))
    (local.set $h (i64.add (i64x2.extract_lane 0 (local.get $hi)) (i64x2.extract_lane 1 (local.get $hi))))
    ${scalarLoop(
      8,
      `(local.set $x (i64.load (local.get $p)))
      (local.set $l (i64.add (local.get $l) (i64.and (local.get $x) (i64.const 0xffffffff))))
      (local.set $h (i64.add (local.get $h) (i64.${shift} (local.get $x) (i64.const 32))))`,
    )}
    (local.get $l) (local.get $h))`;
}

/**
 * min / max of int64 / uint64 (n > 0). SIMD has only signed 64-bit compares: uint64 elements are
 * compared with their top bit flipped (which maps unsigned order onto signed order) and flipped
 * back at the end.
 */
function int64Extreme(dtype, op) {
  const flip = dtype === 'uint64';
  const cmp = op === 'min' ? 'lt_s' : 'gt_s';
  const loadV = flip ? '(v128.xor (v128.load (local.get $p)) (local.get $bias))' : '(v128.load (local.get $p))';
  const loadX = flip ? '(i64.xor (i64.load (local.get $p)) (i64.const 0x8000000000000000))' : '(i64.load (local.get $p))';
  const identity = op === 'min' ? '0x7fffffffffffffff' : '0x8000000000000000';
  return `
  (func (export "${op}_${dtype}") (param $p i32) (param $n i32) (result i64)
    ${COMMON_LOCALS} (local $a v128) (local $v v128) (local $bias v128) (local $m i64) (local $x i64)
    (local.set $bias (i64x2.splat (i64.const 0x8000000000000000)))
    (local.set $a (i64x2.splat (i64.const ${identity})))
    (local.set $m (i64.const ${identity}))
    ${vectorLoop(
      8,
      16,
      `(local.set $v ${loadV})
      (local.set $a (v128.bitselect (local.get $v) (local.get $a) (i64x2.${cmp} (local.get $v) (local.get $a))))`,
    )}
    ${[0, 1]
      .map(
        (lane) =>
          `(local.set $x (i64x2.extract_lane ${lane} (local.get $a))) (local.set $m (select (local.get $x) (local.get $m) (i64.${cmp} (local.get $x) (local.get $m))))`,
      )
      .join('\n    ')}
    ${scalarLoop(8, `(local.set $x ${loadX}) (local.set $m (select (local.get $x) (local.get $m) (i64.${cmp} (local.get $x) (local.get $m))))`)}
    ${flip ? '(i64.xor (local.get $m) (i64.const 0x8000000000000000))' : '(local.get $m)'})`;
}

/** bool: how many bytes are not 0 (exact in i32 lane sums: a lane gains at most 4 per vector). */
function boolFunctions() {
  return `
  (func (export "count_nonzero") (param $p i32) (param $n i32) (result f64)
    ${COMMON_LOCALS} (local $acc v128) (local $one v128) (local $s i64)
    (local.set $one (i8x16.splat (i32.const 1)))
    ${vectorLoop(
      1,
      16,
      `(local.set $acc (i32x4.add (local.get $acc) (i32x4.extadd_pairwise_i16x8_u (i16x8.extadd_pairwise_i8x16_u
        (v128.and (i8x16.ne (v128.load (local.get $p)) (v128.const i64x2 0 0)) (local.get $one))))))`,
    )}
    (local.set $s (i64.add
      (i64.add (i64.extend_i32_u (i32x4.extract_lane 0 (local.get $acc))) (i64.extend_i32_u (i32x4.extract_lane 1 (local.get $acc))))
      (i64.add (i64.extend_i32_u (i32x4.extract_lane 2 (local.get $acc))) (i64.extend_i32_u (i32x4.extract_lane 3 (local.get $acc))))))
    ${scalarLoop(1, '(local.set $s (i64.add (local.get $s) (i64.extend_i32_u (i32.ne (i32.load8_u (local.get $p)) (i32.const 0)))))')}
    (f64.convert_i64_u (local.get $s)))

  (func (export "all_nonzero") (param $p i32) (param $n i32) (result i32)
    ${COMMON_LOCALS}
    ${vectorLoop(1, 16, '(if (i32.eqz (i8x16.all_true (v128.load (local.get $p)))) (then (return (i32.const 0))))')}
    ${scalarLoop(1, '(if (i32.eqz (i32.load8_u (local.get $p))) (then (return (i32.const 0))))')}
    (i32.const 1))

  (func (export "any_nonzero") (param $p i32) (param $n i32) (result i32)
    ${COMMON_LOCALS}
    ${vectorLoop(1, 16, '(if (v128.any_true (v128.load (local.get $p))) (then (return (i32.const 1))))')}
    ${scalarLoop(1, '(if (i32.load8_u (local.get $p)) (then (return (i32.const 1))))')}
    (i32.const 0))`;
}

/** The whole module's text. */
export function builtinsWat() {
  const functions = [];
  for (const dtype of ['float64', 'float32']) {
    functions.push(floatSum(dtype, false), floatSum(dtype, true), floatExtreme(dtype, 'min'), floatExtreme(dtype, 'max'));
  }
  for (const dtype of Object.keys(INT_INFO)) {
    functions.push(intSum(dtype), intSumsq(dtype), intExtreme(dtype, 'min'), intExtreme(dtype, 'max'));
  }
  for (const dtype of ['int64', 'uint64']) functions.push(int64Sum(dtype), int64Extreme(dtype, 'min'), int64Extreme(dtype, 'max'));
  functions.push(boolFunctions());
  // The memory is the partition's, created by the agent (shared, so worker threads can use it).
  return `(module
  (import "env" "memory" (memory 0 65536 shared))
${functions.join('\n')}
)
`;
}
