import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import path from 'node:path';
import {
  NAMED_REDUCTIONS,
  foldOp,
  type BuiltinKernel,
  type NamedReduction,
  type OpPartial,
  CancelledError,
  CLIENT_HEARTBEAT_MS,
  DEFAULT_JOB_TIMEOUT_MS,
  REPLY_MARGIN_MS,
  InvalidArgumentError,
  MAX_COPIES,
  PROTOCOL_VERSION,
  assertSerialisable,
  exportedFunction,
  foldPartials,
  TimeoutError,
  bytesPerElement,
  colsOf,
  parseDType,
  parseShape,
  subjectFor,
  holdersOf,
  isSubjectToken,
  nearestName,
  checkKeys,
  BUILTIN_OPS,
  type BuiltinOp,
  type AgentInfo,
  type ArrayMeta,
  type BuiltinMap,
  type BuiltinResult,
  type DTypeOfArray,
  type DataPlane,
  type JobSpec,
  type JobStatus,
  type MessageBus,
  type PartitionMeta,
  SharcError,
  ArrayNotFoundError,
  type TypedArray,
  type DType,
  type FileSource,
  type Shape,
  inspectFile,
  readRange,
  type ReplyOf,
  type Request,
  type RequestType,
} from '@sharc/protocol';
import { whenAborted } from './abort-listener.js';
import { ArrayRef, type ArrayOwner } from './array-ref.js';
import { reduceArray } from './array-reductions.js';
import { writeNpy } from './files/npy-file.js';
import { checkOutputFile, checkResident } from './files/file-backed.js';
import { KernelBundler, type KernelBundle } from './kernels/bundle.js';
import { loadLocally } from './kernels/local-module.js';
import { CALL_KEYS, SUBMIT_MAP_OPTION_KEYS, SUBMIT_OPTION_KEYS, type SubmitBuiltinOptions, type SubmitMapOptions, type SubmitOptions } from './call-options.js';
import { BUILTIN_OWN_KEYS, builtinKernelOf } from './array-reductions.js';
import { JobHandle, type JobHandleOwner, type JobInfo } from './jobs/job-handle.js';
import { LIST_OPTION_KEYS, type FromFileOptions, type ListOptions, type MapKernel, type MapOptions, type NodeInfo, type PutFileOptions, type PutOptions, type ReduceKernel } from './call-options.js';
import { DirectReducer } from './jobs/direct-reduce.js';
import { JobRunner, type JobOptions, type JobResult } from './jobs/run-job.js';
import { SubmissionQueue } from './jobs/submission-queue.js';
import { putDType } from './put-dtype.js';
import {
  arrayOpParams,
  matvecParams,
  rowStatisticParams,
  runBuiltinMap,
  runDot,
  type ArrayOpArgs,
  type OpOptions,
  type RowStatisticName,
  type RowStatisticOptions,
  type RunJob,
} from './ops/builtin-ops.js';
import { ResendingCaller } from './resending-call.js';
import { checkJobOptions } from './validate.js';
import { checkArrayRef, checkCall, checkCopies, checkDetached, checkName, checkNewName, checkPartitions } from './validate.js';
import type { ResolvedConnectOptions } from './options.js';

export type { SubmitOptions, SubmitBuiltinOptions, SubmitMapOptions, JobInfo };
export type { JobOptions, PutOptions, PutFileOptions, FromFileOptions, ReduceKernel, MapKernel, MapOptions, ListOptions, NodeInfo };

/** How many partition transfers run at once during put and toArray. */
const TRANSFER_CONCURRENCY = 8;
/**
 * Partitions smaller than TRANSFER_WINDOW_BYTES / TRANSFER_CONCURRENCY (512 KiB) run more
 * transfers at once, up to MAX_SMALL_TRANSFERS, about TRANSFER_WINDOW_BYTES in flight: a small
 * partition's transfer is mostly a round trip. (Larger ones keep 8: each transfer that ends
 * calls onProgress, and a client whose onProgress blocks must still send its heartbeats.)
 */
const MAX_SMALL_TRANSFERS = 64;
const TRANSFER_WINDOW_BYTES = 4 * 1024 * 1024;
/** putFile reads each partition into memory before sending it: keep few in flight. */
const FILE_UPLOAD_CONCURRENCY = 2;

/** A connection to a sharc cluster (remote, or embedded in this process). */
export class Cluster implements ArrayOwner {
  private readonly bundler = new KernelBundler();
  private readonly uploadedKernels = new Set<string>();
  private readonly jobRunner: JobRunner;
  /** Every job goes through it: a bounded number in flight, the rest waiting here in order. */
  private readonly submissions: SubmissionQueue;
  /** Runs reduces straight on the agents; every other job (and a fallback) through `jobs`. */
  private readonly direct: DirectReducer;
  /** Renews this client's lease on what the coordinator holds for it (uploads in progress, jobs). */
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;
  /** Requests to the coordinator, sent again when NATS comes back before they were answered. */
  private readonly caller: ResendingCaller;
  /** The uploads this client is writing, by array id: its heartbeats list them (their lease). */
  private readonly uploading = new Set<string>();
  /** array.create requests awaited now: the heartbeats meanwhile cannot list the uploads they make. */
  private creating = 0;

  constructor(
    private readonly bus: MessageBus,
    private readonly options: ResolvedConnectOptions,
    private readonly data: DataPlane,
    private readonly shutdown: () => Promise<void>,
  ) {
    // A restarted coordinator has no kernel code: upload again on next use.
    this.jobRunner = new JobRunner(bus, options.cluster, () => this.uploadedKernels.clear());
    this.submissions = new SubmissionQueue(options.maxJobsInFlight, options.retryBusy);
    this.direct = new DirectReducer(
      bus,
      options.cluster,
      this.jobRunner,
      async (arrayId) => (await this.call({ type: 'array.locate', arrayId })).array,
      options.directReduce,
    );
    this.caller = new ResendingCaller(bus);
    // Always, not only while something is held: one code path, and one small message a second.
    // (The embedded cluster's coordinator ignores it: its one client is this process.)
    this.heartbeat = setInterval(() => this.renewLease(), CLIENT_HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Whether this cluster runs inside this process. */
  get embedded(): boolean {
    return this.options.servers === undefined;
  }

  /**
   * Stores `data` in the cluster, split into row partitions over the agents. Its dtype is the
   * typed array's (BigInt64Array: int64…); bool data is a Uint8Array of 0 and 1 put with
   * `{ dtype: 'bool' }`.
   */
  put(data: Uint8Array, options: PutOptions & { dtype: 'bool' }): Promise<ArrayRef<'bool'>>;
  put<T extends TypedArray>(data: T, options?: PutOptions & { dtype?: DTypeOfArray<T> }): Promise<ArrayRef<DTypeOfArray<T>>>;
  /** Options typed as PutOptions (dtype: any DType) land here; put checks the dtype when it runs. */
  put(data: TypedArray, options?: PutOptions): Promise<ArrayRef>;
  async put(data: TypedArray, options: PutOptions = {}): Promise<ArrayRef> {
    options = checkCall('put', options);
    const dtype = putDType(data, options.dtype);
    const shape = parseShape(options.shape ?? [data.length], data.length);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return this.upload(dtype, shape, options, TRANSFER_CONCURRENCY, (byteOffset, byteLength) =>
      bytes.subarray(byteOffset, byteOffset + byteLength),
    );
  }

  /**
   * Uploads a `.npy` or raw file from this client's disk: each partition's rows are read and
   * sent in turn, so the file never has to fit in this process's memory (at most
   * FILE_UPLOAD_CONCURRENCY partitions are held at once). Use `fromFile` instead when every
   * agent can read the path itself.
   */
  async putFile(file: string, options: Omit<PutFileOptions, 'detached'> = {}): Promise<ArrayRef> {
    if ((options as { detached?: unknown }).detached !== undefined) {
      throw new InvalidArgumentError('detached is not for an upload: this client writes its bytes, so it ends with this client (fromFile, which agents read themselves, can be detached)');
    }
    if ((options as { resident?: unknown }).resident !== undefined) {
      throw new InvalidArgumentError(
        "resident is for fromFile: a file-backed array is read by the agents from a path they all see, while putFile uploads this client's file into their memory: use fromFile(path, { resident: false })",
        { details: { option: 'resident' } },
      );
    }
    options = checkCall('putFile', options);
    const source = fileSource(file, options);
    const layout = await inspectFile(source, ' on this client');
    return this.upload(layout.dtype, layout.shape, options, FILE_UPLOAD_CONCURRENCY, async (byteOffset, byteLength, signal) => {
      const target = new Uint8Array(byteLength);
      await readRange(source.path, layout.dataOffset + byteOffset, target, signal, ' on this client');
      return target;
    });
  }

  /** Creates the array, sends each partition's bytes from `read`, and commits (or aborts on any failure). */
  private async upload(
    dtype: DType,
    shape: Shape,
    options: PutOptions,
    concurrency: number,
    read: (byteOffset: number, byteLength: number, signal: AbortSignal) => Uint8Array | Promise<Uint8Array>,
  ): Promise<ArrayRef> {
    if (options.partitions !== undefined) checkPartitions(options.partitions);
    if (options.name !== undefined) checkNewName(options.name);
    if (options.copies !== undefined) checkCopies(options.copies);
    this.creating++;
    const placed = await this.call(
      {
        type: 'array.create',
        dtype,
        shape,
        ...(options.name === undefined ? {} : { name: options.name }),
        ...(options.partitions === undefined ? {} : { partitions: options.partitions }),
        ...(options.replace === undefined ? {} : { replace: options.replace }),
        ...(options.copies === undefined ? {} : { copies: options.copies }),
      },
    ).finally(() => this.creating--);
    const { array, transferToken } = placed;
    // Listed in every heartbeat while this client writes it: the lease of the upload.
    this.uploading.add(array.id);
    const agents = new Map(placed.agents.map((a) => [a.id, a]));
    const rowBytes = colsOf(shape) * bytesPerElement(dtype);
    try {
      await this.forEachPartition(
        array,
        options,
        async (partition, signal) => {
          const bytes = await read(partition.rowStart * rowBytes, partition.byteLength, signal);
          // Every copy is written from here, in parallel: the agents never wait on each other.
          await Promise.all(
            holdersOf(partition).map((agentId) =>
              this.data.write(
                agentOf(agents, { ...partition, agentId }),
                { v: PROTOCOL_VERSION, op: 'write', arrayId: array.id, partitionIndex: partition.index, byteOffset: 0, byteLength: partition.byteLength, token: transferToken },
                bytes,
                signal,
              ),
            ),
          );
        },
        concurrency,
      );
      const committed = await this.call({ type: 'array.commit', arrayId: array.id, transferToken });
      return new ArrayRef(this, committed.array);
    } catch (error) {
      const refused = await this.call({ type: 'array.abort', arrayId: array.id, transferToken }).then(
        () => undefined,
        (abortError: unknown) => abortError,
      );
      // The coordinator dropped the upload meanwhile and says why (deleted by a user, or this
      // client was not heard from for its liveness window): that is the failure to report.
      if (refused instanceof SharcError && !(refused instanceof ArrayNotFoundError) && refused.details?.arrayId === array.id) throw refused;
      throw error;
    } finally {
      this.uploading.delete(array.id);
    }
  }

  /** A named array stored by any client. */
  async open(name: string): Promise<ArrayRef> {
    checkName(name);
    const info = await this.call({ type: 'array.open', name });
    return new ArrayRef(this, info.array);
  }

  /**
   * Every stored array; with `{ all: true }` also those still being written (`state:
   * 'pending'`): uploads in progress and outputs of running maps.
   */
  async list(options: ListOptions = {}): Promise<ArrayRef[]> {
    checkKeys(options, { of: 'list', keys: LIST_OPTION_KEYS });
    if (options.all !== undefined && typeof options.all !== 'boolean') throw new InvalidArgumentError(`all must be true or false, got ${JSON.stringify(options.all)}`);
    const listed = await this.call({ type: 'array.list', ...(options.all === true ? { all: true } : {}) });
    return [
      ...listed.arrays.map((meta) => new ArrayRef(this, meta)),
      ...(listed.pending ?? []).map(({ array, ...writing }) => new ArrayRef(this, array, writing)),
    ];
  }

  /**
   * Deletes the array named `name` and frees its memory: a stored one, or an upload still in
   * progress (from any client: its put then fails with CancelledError). By id: `ref.delete()`.
   */
  async delete(name: string): Promise<void> {
    checkName(name);
    await this.call({ type: 'array.delete', name });
  }

  /**
   * Loads a `.npy` or raw file that every agent can read at `file`: each agent reads its own
   * row ranges straight into its partitions; no byte passes through this client. With
   * `{ resident: false }` nothing is read now: the array is file-backed (`ref.file` is set)
   * and every job streams its rows from the file; `{ resident: 'auto' }` does so only when the
   * cluster's memory cannot hold the array.
   */
  async fromFile(file: string, options: FromFileOptions = {}): Promise<ArrayRef> {
    options = checkCall('fromFile', options);
    if (options.partitions !== undefined) checkPartitions(options.partitions);
    if (options.name !== undefined) checkNewName(options.name);
    const detached = checkDetached(options.detached, options.name, 'fromFile');
    const resident = checkResident(options.resident);
    const source = fileSource(file, options);
    // Queued like a job: it keeps agents busy as one does (see SubmissionQueue).
    const info = await this.submissions.run(options, (timeoutMs) =>
      this.jobRunner.follow(
        withTimeout(options, timeoutMs),
        (jobId) =>
          this.call(
            {
              type: 'array.load',
              source,
              jobId,
              ...(options.name === undefined ? {} : { name: options.name }),
              ...(options.partitions === undefined ? {} : { partitions: options.partitions }),
              ...(options.replace === undefined ? {} : { replace: options.replace }),
              ...(detached ? { detached: true } : {}),
              ...(resident === undefined ? {} : { resident }),
            },
            // Agents read their rows in parallel; a big file takes as long as the disk needs.
            (timeoutMs ?? DEFAULT_JOB_TIMEOUT_MS) + REPLY_MARGIN_MS,
          ),
        // Loaded just as the caller gave up: nobody will use it (unless detached: it has a name).
        (late) => (detached ? undefined : void this.deleteArray(late.array).catch(() => undefined)),
        detached,
      ),
    );
    const ref = new ArrayRef(this, info.array);
    options.onProgress?.(ref.byteLength, ref.byteLength);
    return ref;
  }

  /**
   * A built-in reduction (`'sum' | 'min' | 'max' | 'mean' | 'sumsq' | 'count'`, and `'argmin' |
   * 'argmax' | 'var' | 'std' | 'norm'` as numpy, var and std with ddof 0) over every element:
   * a number, or for int64/uint64 arrays an exact bigint (sums, min, max). `min`/`max`/`argmin`/
   * `argmax` of an array with no elements throw an InvalidArgumentError, as numpy does. The
   * same, with options (axis, ddof) and histogram: the methods of ArrayRef (`a.std({ ddof: 1 })`).
   */
  reduce<D extends DType, O extends NamedReduction>(array: ArrayRef<D>, op: O, options?: JobOptions): Promise<BuiltinResult<D, O>>;
  /** A custom reduction: `partial` on each block of rows on the agents, `combine` to merge. */
  reduce<T = unknown>(array: ArrayRef, kernel: ReduceKernel, options?: JobOptions): Promise<T>;
  async reduce(array: ArrayRef, kernel: NamedReduction | ReduceKernel, options: JobOptions = {}): Promise<unknown> {
    checkArrayRef(array);
    if ((options as { detached?: unknown }).detached !== undefined) {
      throw new InvalidArgumentError("detached is for map and fromFile, whose output stays in the cluster: a reduce's result goes only to its caller, so a reduce ends with its client");
    }
    const methodOption = typeof kernel === 'string' ? ['axis', 'ddof', 'bins', 'range'].find((key) => Object.hasOwn(options, key)) : undefined;
    if (methodOption !== undefined) {
      throw new InvalidArgumentError(`'${methodOption}' is an option of the array's method, array.${String(kernel)}({ ${methodOption}: … }), not of cluster.reduce`, { details: { option: methodOption } });
    }
    options = checkCall('reduce', options, kernel);
    if (typeof kernel === 'string') {
      if (!(NAMED_REDUCTIONS as readonly string[]).includes(kernel)) {
        const meant = nearestName(kernel, NAMED_REDUCTIONS);
        const histogram = (kernel as string) === 'histogram' ? 'histogram takes bins and range: use array.histogram({ bins, range }); ' : '';
        throw new InvalidArgumentError(`unknown reduction '${kernel}': ${histogram}${meant === undefined || histogram !== '' ? '' : `did you mean '${meant}'? `}use one of ${NAMED_REDUCTIONS.join(', ')}, or a kernel module`);
      }
      return reduceArray(this, array.meta, kernel as NamedReduction, options);
    }
    if (typeof kernel !== 'object' || kernel === null) {
      throw new InvalidArgumentError(`reduce takes a built-in name or { module, partial, combine, params }, got ${String(kernel)}`);
    }
    const { spec, combine, label } = await this.reduceSpec(array, kernel);
    const done = await this.runJobSpec(spec, array, options);
    return foldPartials(done.partials, combine, label);
  }

  /** A module reduce's job spec, its kernel bundled and uploaded, and its combine export loaded here. */
  private async reduceSpec(array: ArrayRef, kernel: ReduceKernel): Promise<{ spec: JobSpec; combine: (a: unknown, b: unknown) => unknown; label: string }> {
    checkModule(kernel.module, 'reduce');
    assertSerialisable(kernel.params, 'params', InvalidArgumentError);
    const partialName = kernel.partial ?? 'partial';
    const combineName = kernel.combine ?? 'combine';
    const bundle = await this.prepareKernel(kernel.module);
    const module = await loadLocally(bundle);
    exportedFunction(module, partialName, bundle.label);
    const combine = exportedFunction(module, combineName, bundle.label);
    return {
      spec: {
        kind: 'reduce',
        arrayId: array.id,
        kernel: { kind: 'reduce', hash: bundle.hash, module: bundle.label, partial: partialName, combine: combineName },
        params: kernel.params,
      },
      combine: combine as (a: unknown, b: unknown) => unknown,
      label: `${bundle.label}#${combineName}`,
    };
  }

  /**
   * Runs `kernel` over every block of rows; the output is a new array placed with the input,
   * named, typed and shaped by the options: `map(a, { module, kernel, params }, { name, dtype, cols })`.
   */
  map<D extends DType, O extends MapOptions>(array: ArrayRef<D>, kernel: MapKernel, options?: O): Promise<ArrayRef<O extends { dtype: infer X extends DType } ? X : D>>;
  async map(array: ArrayRef, kernel: MapKernel, options: MapOptions = {}): Promise<ArrayRef> {
    checkArrayRef(array);
    options = checkCall('map', options, kernel);
    if (typeof kernel !== 'object' || kernel === null || typeof kernel.kernel !== 'string') {
      throw new InvalidArgumentError('map takes { module, kernel: exportName, params } (the output\'s name, dtype and cols go in its third argument)');
    }
    const detached = checkDetached(options.detached, options.name, 'map');
    const done = await this.runJobSpec(await this.mapSpec(array, kernel, options, 'map'), array, options, detached);
    if (done.array === undefined) throw new InvalidArgumentError('map finished without an output array');
    return new ArrayRef(this, done.array);
  }

  /** A module map's job spec (its output's name, dtype, cols), its kernel bundled, uploaded and checked here. */
  private async mapSpec(array: ArrayRef, kernel: MapKernel, options: Pick<MapOptions, 'dtype' | 'cols' | 'name' | 'replace' | 'file'>, call: string): Promise<JobSpec> {
    checkModule(kernel.module, 'map');
    const outputFile = options.file === undefined ? undefined : checkOutputFile(options.file, call);
    assertSerialisable(kernel.params, 'params', InvalidArgumentError);
    const dtype = options.dtype === undefined ? array.dtype : parseDType(options.dtype);
    const cols = options.cols ?? colsOf(array.shape);
    if (!Number.isInteger(cols) || cols < 0) throw new InvalidArgumentError(`cols must be a non-negative integer, got ${cols}`);
    if (options.name !== undefined) checkNewName(options.name);
    const bundle = await this.prepareKernel(kernel.module);
    exportedFunction(await loadLocally(bundle), kernel.kernel, bundle.label);
    return {
      kind: 'map',
      arrayId: array.id,
      kernel: { kind: 'map', hash: bundle.hash, module: bundle.label, kernel: kernel.kernel },
      params: kernel.params,
      dtype,
      cols,
      ...(options.name === undefined ? {} : { outputName: options.name }),
      ...(options.replace === undefined ? {} : { replace: options.replace }),
      ...(outputFile === undefined ? {} : { outputFile }),
    };
  }

  // ---- Detached jobs (jobs/job-handle.ts) -----------------------------------------------------

  /**
   * Submits a detached job and returns its handle as soon as the coordinator has stored it:
   * the job runs on whether or not this client stays (its process may exit), and survives a
   * coordinator restart. Its outcome (a reduce's value, a map's output array, or its error) is
   * kept by the coordinator for its `keepResultsMs` (24 h by default); `cluster.job(id)` finds
   * it from any client. The same arguments as `reduce` and `map`, with their options less
   * `onProgress` and `signal` (give those to `handle.wait` / `handle.result`); a map without
   * `name` gets a generated one, which `handle.result()` opens and `sharc result` prints.
   *
   * ```ts
   * const job = await cluster.submit('reduce', a, 'sum');
   * console.log(job.id, (await job.status()).state);
   * console.log(await job.result({ onProgress: (done, total) => … }));
   * ```
   */
  submit<T = unknown>(kind: 'reduce', array: ArrayRef, kernel: BuiltinOp, options?: SubmitBuiltinOptions): Promise<JobHandle<T>>;
  submit<T = unknown>(kind: 'reduce', array: ArrayRef, kernel: ReduceKernel, options?: SubmitOptions): Promise<JobHandle<T>>;
  submit(kind: 'map', array: ArrayRef, kernel: MapKernel, options?: SubmitMapOptions): Promise<JobHandle<ArrayRef>>;
  async submit(kind: 'reduce' | 'map', array: ArrayRef, kernel: BuiltinOp | ReduceKernel | MapKernel, options: SubmitBuiltinOptions | SubmitMapOptions = {}): Promise<JobHandle> {
    if (this.closed) throw new InvalidArgumentError('this cluster connection is closed');
    if (kind !== 'reduce' && kind !== 'map') throw new InvalidArgumentError(`submit runs a 'reduce' or a 'map', got ${JSON.stringify(kind)}`);
    checkArrayRef(array);
    const op = kind === 'reduce' && typeof kernel === 'string' ? checkedBuiltinName(kernel) : undefined;
    checkSubmitOptions(kind, options, op === undefined ? [] : BUILTIN_OWN_KEYS[op]);
    if (typeof kernel === 'object' && kernel !== null) {
      checkKeys(kernel, { of: `submit('${kind}')'s kernel`, here: 'the kernel', noun: 'key', keys: kind === 'reduce' ? CALL_KEYS.reduce.kernel : CALL_KEYS.map.kernel });
    }
    let spec: JobSpec;
    if (kind === 'map') {
      if (typeof kernel !== 'object' || kernel === null || typeof (kernel as MapKernel).kernel !== 'string') {
        throw new InvalidArgumentError("submit('map') takes { module, kernel: exportName, params } (the output's name, dtype and cols go in its fourth argument)");
      }
      spec = await this.mapSpec(array, kernel as MapKernel, options as SubmitMapOptions, "submit('map')");
    } else if (typeof kernel === 'string') {
      spec = { kind: 'reduce', arrayId: array.id, kernel: { kind: 'builtin', ...submittedBuiltin(array, op!, options as SubmitBuiltinOptions) } };
    } else {
      if (typeof kernel !== 'object' || kernel === null) throw new InvalidArgumentError(`submit('reduce') takes a built-in name or { module, partial, combine, params }, got ${String(kernel)}`);
      spec = (await this.reduceSpec(array, kernel as ReduceKernel)).spec;
    }
    const jobId = randomBytes(12).toString('hex');
    await this.call({ type: 'job.launch', jobId, spec, ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) });
    return new JobHandle(jobId, kind, this.handleOwner);
  }

  /**
   * The handle of a detached job by id (as `submit` gave it, or `sharc jobs` lists it), from
   * any client. Rejects with JobNotFoundError when the coordinator does not know it (never
   * submitted, or its outcome was kept longer than its keepResultsMs ago).
   */
  async job<T = unknown>(id: string): Promise<JobHandle<T>> {
    checkJobId(id, 'sharc jobs lists them');
    const info = await this.handleOwner.jobInfo(id);
    return new JobHandle<T>(id, info.kind, this.handleOwner);
  }

  /**
   * Every job the coordinator knows, of every client: queued and running ones (detached or
   * not), then the kept outcomes of detached jobs that ended (done, failed, cancelled).
   */
  async jobs(): Promise<Array<JobInfo & { detached: boolean }>> {
    const listed = await this.call({ type: 'jobs.list' });
    const active = listed.jobs.map((job) => ({
      jobId: job.jobId,
      kind: job.kind,
      state: job.state,
      array: job.array,
      doneBlocks: job.doneBlocks,
      totalBlocks: job.totalBlocks,
      submittedAt: job.startedAt,
      detached: job.detached === true,
    }));
    return [...active, ...(listed.finished ?? []).map((job) => ({ ...job, detached: true }))];
  }

  private readonly handleOwner: JobHandleOwner = {
    jobInfo: async (jobId) => (await this.call({ type: 'job.get', jobId })).job,
    cancel: (jobId) => this.cancel(jobId),
    open: (name) => this.open(name),
  };

  // ---- Built-in operations over two arrays, and along axis 1 (ops/builtin-ops.ts) -----------

  /** numpy's `a + b` of two arrays of the same shape: a new array of numpy's promoted dtype (integers wrap). */
  add(a: ArrayRef, b: ArrayRef, options: OpOptions = {}): Promise<ArrayRef> {
    return this.builtinMap('add', a, undefined, options, b);
  }

  /** numpy's `a - b` (bool − bool is refused, as numpy does). */
  sub(a: ArrayRef, b: ArrayRef, options: OpOptions = {}): Promise<ArrayRef> {
    return this.builtinMap('sub', a, undefined, options, b);
  }

  /** numpy's `a * b`. */
  mul(a: ArrayRef, b: ArrayRef, options: OpOptions = {}): Promise<ArrayRef> {
    return this.builtinMap('mul', a, undefined, options, b);
  }

  /** numpy's `a / b` (true division: float64 for integers). */
  div(a: ArrayRef, b: ArrayRef, options: OpOptions = {}): Promise<ArrayRef> {
    return this.builtinMap('div', a, undefined, options, b);
  }

  /** numpy's `np.dot(a.ravel(), b.ravel())` of two arrays of the same shape, accumulated in float64. */
  dot(a: ArrayRef, b: ArrayRef, options: JobOptions = {}): Promise<number> {
    return runDot(this.runJob, a, b, options);
  }

  /** numpy's `a @ v` (a 2-D, v of length cols): a new float64 array of shape [rows]. */
  async matvec(a: ArrayRef, v: ArrayLike<number> | ArrayBufferView, options: OpOptions = {}): Promise<ArrayRef<'float64'>> {
    return (await this.builtinMap('matvec', a, matvecParams(v), options)) as ArrayRef<'float64'>;
  }

  /**
   * A statistic of each row of a 2-D array (numpy's `a.sum(axis=1)`, `mean`, `min`, `max`,
   * `std(axis=1, ddof)`): a new array of shape [rows]; sum, mean and std in float64, min and
   * max in the array's dtype. What `a.sum({ axis: 1 })` and its siblings run.
   */
  async rowStatistic(a: ArrayRef, name: RowStatisticName, options: RowStatisticOptions = {}): Promise<ArrayRef> {
    const split = rowStatisticParams(name, options);
    return this.builtinMap(split.op, a, split.params, split.options);
  }

  /** ArrayOwner: ArrayRef's astype, scale, clip, abs, sqrt, slice, matvec come here. */
  async arrayOp<O extends keyof ArrayOpArgs>(op: O, array: ArrayRef, args: ArrayOpArgs[O], options: OpOptions): Promise<ArrayRef> {
    const split = arrayOpParams(op, array, args, options);
    return this.builtinMap(op, array, split.params, split.options);
  }

  /** Runs a built-in op making a new array. */
  private async builtinMap(op: BuiltinMap, array: ArrayRef, params: unknown, options: OpOptions, other?: ArrayRef): Promise<ArrayRef> {
    return new ArrayRef(this, await runBuiltinMap(this.runJob, op, array, params, options, other));
  }

  private readonly runJob: RunJob = (spec, input, options, detached) => this.runJobSpec(spec, input as ArrayRef, options, detached);

  /** The agents of the cluster. */
  async nodes(): Promise<NodeInfo[]> {
    const listed = await this.call({ type: 'nodes.list' });
    return listed.agents.map((a) => ({
      id: a.id,
      host: a.host,
      threads: a.threads,
      memoryBytes: a.memoryBytes,
      usedBytes: a.usedBytes,
      partitions: a.partitions,
      workInFlight: a.workInFlight,
      ...(a.direct === undefined ? {} : { direct: a.direct }),
      ...(a.httpUrl === undefined ? {} : { metricsUrl: `${a.httpUrl}/metrics` }),
      state: a.state,
    }));
  }

  /**
   * The jobs the coordinator has accepted, from every client: `state: 'running'`, or
   * `'queued'` while it waits for one of the coordinator's `maxRunningJobs` slots.
   */
  async runningJobs(): Promise<JobStatus[]> {
    const listed = await this.call({ type: 'jobs.list' });
    return listed.jobs;
  }

  /**
   * Cancels a running job of any client (ids as `runningJobs()` and `sharc status` show them):
   * resolves once every agent has been told to stop it (the threads running it are terminated)
   * and what it allocated (a map's output) is freed; its caller gets a CancelledError.
   * Rejects with JobNotFoundError when no running job has this id.
   */
  async cancel(jobId: string): Promise<void> {
    checkJobId(jobId, 'sharc status lists running jobs');
    await this.call({ type: 'job.cancel', jobId });
  }

  /** Disconnects; an embedded cluster is stopped and its memory freed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.submissions.close(new InvalidArgumentError('this cluster connection was closed while the call waited to be submitted'));
    this.jobRunner.close();
    this.direct.close();
    this.caller.close();
    await this.shutdown();
  }

  // ---- ArrayOwner ------------------------------------------------------------------------

  /** One reduce job of a built-in (its options checked by array-reductions.ts); partials merged left to right. */
  /** ArrayOwner: `a.sum({ axis: 1 })` and its siblings come here. */
  rowStatisticOf(meta: ArrayMeta, name: RowStatisticName, options: RowStatisticOptions): Promise<ArrayRef> {
    return this.rowStatistic(new ArrayRef(this, meta), name, options);
  }

  async runBuiltin(meta: ArrayMeta, kernel: BuiltinKernel, options: JobOptions): Promise<OpPartial> {
    options = checkCall('reduce', options);
    if (this.closed) throw new InvalidArgumentError('this cluster connection is closed');
    const spec: JobSpec = { kind: 'reduce', arrayId: meta.id, kernel: { kind: 'builtin', ...kernel } };
    const done = await this.submissions.run(options, (timeoutMs) => this.direct.run(spec, meta, withTimeout(options, timeoutMs)));
    return foldOp(kernel, meta.dtype, colsOf(meta.shape), done.partials);
  }

  async readPartitions(
    meta: ArrayMeta,
    each: (partition: PartitionMeta, bytes: Uint8Array) => Promise<void> | void,
    options: JobOptions,
    into?: Uint8Array,
  ): Promise<void> {
    options = checkCall('toArray', options);
    const info = await this.call({ type: 'array.locate', arrayId: meta.id });
    const agents = new Map(info.agents.map((a) => [a.id, a]));
    const rowBytes = colsOf(meta.shape) * bytesPerElement(meta.dtype);
    await this.forEachPartition(info.array, options, async (partition, signal) => {
      const offset = partition.rowStart * rowBytes;
      const target = into === undefined ? new Uint8Array(partition.byteLength) : into.subarray(offset, offset + partition.byteLength);
      await this.data.read(
        agentOf(agents, partition),
        { v: PROTOCOL_VERSION, op: 'read', arrayId: meta.id, partitionIndex: partition.index, byteOffset: 0, byteLength: partition.byteLength },
        target,
        signal,
      );
      await each(partition, target);
    });
  }

  async saveArray(meta: ArrayMeta, file: string, options: JobOptions): Promise<void> {
    options = checkCall('save', options);
    const rowBytes = colsOf(meta.shape) * bytesPerElement(meta.dtype);
    await writeNpy(file, meta.dtype, meta.shape, (writeAt) =>
      this.readPartitions(meta, (partition, bytes) => writeAt(bytes, partition.rowStart * rowBytes), options),
    );
  }

  async deleteArray(meta: ArrayMeta): Promise<void> {
    await this.call({ type: 'array.delete', arrayId: meta.id });
  }

  // ---- internals --------------------------------------------------------------------------

  private async call<T extends RequestType>(message: Request<T> & { type: T }, timeoutMs = this.options.requestTimeoutMs): Promise<ReplyOf<T>> {
    if (this.closed) throw new InvalidArgumentError('this cluster connection is closed');
    return this.caller.call<T>(subjectFor(this.options.cluster, { to: 'coordinator', verb: 'client' }), message, timeoutMs);
  }

  private runJobSpec(spec: JobSpec, input: ArrayRef, options: JobOptions, detached = false): Promise<JobResult> {
    if (this.closed) throw new InvalidArgumentError('this cluster connection is closed');
    return this.submissions.run(options, (timeoutMs) => this.direct.run(spec, input.meta, withTimeout(options, timeoutMs), detached));
  }

  /** One heartbeat: published, never waited on (a lost one is covered by the next). */
  private renewLease(): void {
    try {
      this.bus.publish(subjectFor(this.options.cluster, { to: 'coordinator', verb: 'client' }), {
        type: 'client.heartbeat',
        uploads: [...this.uploading],
        ...(this.creating > 0 ? { creating: this.creating } : {}),
      });
    } catch {
      // The connection is closing or reconnecting: nats.js buffers while it reconnects.
    }
  }

  private async prepareKernel(module: string | URL): Promise<KernelBundle> {
    const bundle = await this.bundler.bundle(module);
    if (!this.uploadedKernels.has(bundle.hash)) {
      await this.call({ type: 'kernel.put', hash: bundle.hash, code: bundle.code });
      this.uploadedKernels.add(bundle.hash);
    }
    return bundle;
  }

  /**
   * Runs `transfer` for every partition, a few at a time, reporting bytes as progress. The
   * caller's signal and timeout stop every transfer in flight (their sockets are closed), so
   * nothing keeps writing after the call has failed.
   */
  private async forEachPartition(
    array: ArrayMeta,
    options: JobOptions,
    transfer: (p: PartitionMeta, signal: AbortSignal) => Promise<void>,
    concurrency = TRANSFER_CONCURRENCY,
  ): Promise<void> {
    const total = array.partitions.reduce((sum, p) => sum + p.byteLength, 0);
    if (concurrency === TRANSFER_CONCURRENCY && array.partitions.length > 0) {
      const average = total / array.partitions.length;
      concurrency = Math.max(concurrency, Math.min(MAX_SMALL_TRANSFERS, Math.floor(TRANSFER_WINDOW_BYTES / Math.max(1, average))));
    }
    let done = 0;
    options.onProgress?.(0, total);
    const stop = new AbortController();
    // Each transfer in flight, one per copy of a partition, listens on it.
    setMaxListeners(concurrency * MAX_COPIES + 1, stop.signal);
    const onAbort = () => stop.abort(new CancelledError('transfer cancelled', { cause: options.signal?.reason }));
    if (options.signal?.aborted) onAbort();
    const stopListening = options.signal === undefined ? undefined : whenAborted(options.signal, onAbort);
    const timeout = options.timeoutMs;
    const timer =
      timeout === undefined ? undefined : setTimeout(() => stop.abort(new TimeoutError(`transfer did not finish within ${timeout} ms`)), timeout);
    const queue = array.partitions;
    // An index, not queue.shift(): shifting a long array costs O(length) each time.
    let next = 0;
    const worker = async () => {
      for (let partition = queue[next++]; partition !== undefined; partition = queue[next++]) {
        stop.signal.throwIfAborted();
        await transfer(partition, stop.signal);
        done += partition.byteLength;
        options.onProgress?.(done, total);
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
    } catch (error) {
      stop.abort(error);
      throw stop.signal.reason instanceof Error ? stop.signal.reason : error;
    } finally {
      clearTimeout(timer);
      stopListening?.();
    }
  }
}

/**
 * The file a fromFile / putFile call names, checked as far as this client can without reading
 * it: whoever reads it (`inspectFile`) decides .npy or raw by its first bytes and checks its size.
 */
function fileSource(file: string, options: FromFileOptions): FileSource {
  if (typeof file !== 'string' || file.length === 0) throw new InvalidArgumentError(`a file path is needed, got ${JSON.stringify(file)}`);
  if (options.byteOffset !== undefined && !(Number.isSafeInteger(options.byteOffset) && options.byteOffset >= 0)) {
    throw new InvalidArgumentError(`byteOffset must be a non-negative integer, got ${options.byteOffset}`);
  }
  const format = options.format;
  if (format !== undefined && format !== 'npy' && format !== 'raw') {
    throw new InvalidArgumentError(`format must be 'npy' or 'raw', got ${JSON.stringify(format)}`);
  }
  const source = {
    path: path.resolve(file),
    ...(format === undefined ? {} : { format }),
    ...(options.dtype === undefined ? {} : { dtype: parseDType(options.dtype) }),
    ...(options.shape === undefined ? {} : { shape: parseShape(options.shape) }),
    ...(options.byteOffset === undefined ? {} : { byteOffset: options.byteOffset }),
  };
  if (format === 'raw' && (source.dtype === undefined || source.shape === undefined)) {
    throw new InvalidArgumentError(`raw file ${file} needs { dtype, shape }`);
  }
  return source;
}

/**
 * A call's options with what is left of its timeout (it counts from the call, and the call
 * may have waited in the submission queue or for a retry).
 */
function withTimeout<T extends JobOptions>(options: T, timeoutMs: number | undefined): T {
  return timeoutMs === undefined ? options : { ...options, timeoutMs };
}

/** submit's options: a call that returns at once takes no onProgress or signal, and every submitted job is detached. */
function checkSubmitOptions(kind: 'reduce' | 'map', options: object, builtinKeys: readonly string[]): void {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`submit('${kind}')'s options must be an object`);
  const following = ['onProgress', 'signal'].find((key) => Object.hasOwn(options, key));
  if (following !== undefined) {
    throw new InvalidArgumentError(`submit returns as soon as the job is accepted, so it takes no ${following}: give it to handle.wait({ ${following} }) or handle.result({ ${following} })`);
  }
  if (Object.hasOwn(options, 'detached')) throw new InvalidArgumentError('every submitted job is detached: leave detached out');
  checkJobOptions(options, { of: `submit('${kind}')`, here: 'the options', keys: kind === 'reduce' ? [...SUBMIT_OPTION_KEYS, ...builtinKeys] : SUBMIT_MAP_OPTION_KEYS });
}

/** A built-in reduction's name (histogram included), or an error naming the nearest. */
function checkedBuiltinName(name: string): BuiltinOp {
  if (!(BUILTIN_OPS as readonly string[]).includes(name)) {
    const meant = nearestName(name, BUILTIN_OPS);
    throw new InvalidArgumentError(`unknown reduction '${name}': ${meant === undefined ? '' : `did you mean '${meant}'? `}use one of ${BUILTIN_OPS.join(', ')}, or a kernel module`);
  }
  return name as BuiltinOp;
}

/**
 * A submitted built-in's kernel, checked as its ArrayRef method checks it. Along axis 1 is a new
 * array, not a reduce; a histogram needs its range (the data's min and max are two more jobs).
 */
function submittedBuiltin(array: ArrayRef, op: BuiltinOp, options: SubmitBuiltinOptions): BuiltinKernel {
  if ((options.axis as number | undefined) === 1) {
    throw new InvalidArgumentError(`${op} along axis 1 makes a new array of one value per row, not a value: run array.${op}({ axis: 1 }) (sharc op NAME ${op} --axis 1 --out OUT)`, { details: { op } });
  }
  if (op === 'histogram' && options.range === undefined) {
    throw new InvalidArgumentError('a submitted histogram needs range: [lo, hi] (sharc submit: --range LO,HI); array.histogram() finds the data\'s min and max itself', { details: { op } });
  }
  return builtinKernelOf(array.meta, op, options, [...SUBMIT_OPTION_KEYS, ...BUILTIN_OWN_KEYS[op]]).kernel;
}

function checkModule(module: unknown, call: string): void {
  if (!(typeof module === 'string' && module.length > 0) && !(module instanceof URL)) {
    throw new InvalidArgumentError(`${call}'s kernel needs module: the path (or file URL) of a TS/JS module on this client, got ${JSON.stringify(module) ?? typeof module}`);
  }
}

function agentOf(agents: Map<string, AgentInfo>, partition: PartitionMeta): AgentInfo {
  const agent = agents.get(partition.agentId);
  if (agent === undefined) throw new InvalidArgumentError(`agent ${partition.agentId} of partition ${partition.index} is unknown`);
  return agent;
}

/** A job id as the coordinator takes it (1 to MAX_JOB_ID_LENGTH letters, digits, - and _); a bad one is shown cut short. */
function checkJobId(id: unknown, hint: string): void {
  if (typeof id === 'string' && id.length <= MAX_JOB_ID_LENGTH && isSubjectToken(id)) return;
  const shown = typeof id === 'string' && id.length > 40 ? `${JSON.stringify(id.slice(0, 40))}… (${id.length} characters)` : JSON.stringify(id);
  throw new InvalidArgumentError(`job id ${shown} is not a job id (1 to ${MAX_JOB_ID_LENGTH} letters, digits, - and _): ${hint}`);
}

/** The longest id the protocol carries. */
const MAX_JOB_ID_LENGTH = 128;

