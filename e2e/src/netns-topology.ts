/**
 * A small switched LAN made of Linux network namespaces: one namespace holds a bridge (the
 * switch), each host is a namespace whose `eth0` is a veth cable plugged into the bridge, with
 * address 10.200.<octet>.<index>/24. Every interface is created inside a run-private namespace,
 * so nothing is ever added to the root namespace, and two runs never see each other.
 */
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { runCommand } from './processes.js';
import { cleanUpOnExit } from './exit-cleanup.js';

const IP_TIMEOUT_MS = 10_000;

export interface NetnsHost {
  /** 1-based; the last octet of its address. */
  readonly index: number;
  readonly namespace: string;
  /** Its IPv4 address on the LAN (reachable only from the other namespaces of this run). */
  readonly address: string;
  /** Its cable's end on the switch, inside the switch namespace. */
  readonly switchPort: string;
}

export interface NetnsTopology {
  readonly switchNamespace: string;
  /** e.g. '10.200.37.0/24'. */
  readonly subnet: string;
  readonly hosts: readonly NetnsHost[];
  host(index: number): NetnsHost;
  /** The command and arguments that run `command args` inside `host`'s namespace. */
  exec(host: NetnsHost, command: string, args: readonly string[]): [string, string[]];
  /** Unplugs (`up: false`) or plugs back `host`'s cable at the switch. */
  setCable(host: NetnsHost, up: boolean): Promise<void>;
  /** Kills whatever still runs in the namespaces and deletes them. Safe to call twice. */
  destroy(): void;
}

export interface TopologyOptions {
  hostCount: number;
  /** Third octet of 10.200.X.0/24. @default random */
  octet?: number;
}

/** Throws, saying what is needed, unless this process can create network namespaces. */
export function checkNetnsPrivileges(): void {
  if (process.platform !== 'linux') throw new Error(`the netns e2e backend needs Linux network namespaces; this is ${process.platform}`);
  if (process.getuid?.() !== 0) {
    throw new Error('the netns e2e backend needs root to create network namespaces: run it as root (e.g. `sudo node --test e2e/dist/test/netns.test.js`)');
  }
  const ip = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (ip.error !== undefined || ip.status !== 0) {
    throw new Error('the netns e2e backend needs the `ip` command (iproute2): install it with `apt-get install -y iproute2`');
  }
}

/** Builds the LAN. On failure, whatever was made is removed before the error is thrown. */
export async function createTopology(options: TopologyOptions): Promise<NetnsTopology> {
  checkNetnsPrivileges();
  const octet = options.octet ?? 1 + (randomBytes(1)[0]! % 254);
  // Short and unique per run: namespace names show up in `ip netns list` and in every command.
  const tag = `sx${(process.pid % 1296).toString(36)}${randomBytes(2).toString('hex')}`;
  const switchNamespace = `${tag}sw`;
  const hosts: NetnsHost[] = Array.from({ length: options.hostCount }, (_, i) => ({
    index: i + 1,
    namespace: `${tag}h${i + 1}`,
    address: `10.200.${octet}.${i + 1}`,
    switchPort: `vh${i + 1}`,
  }));
  const created: string[] = [];
  const destroy = () => {
    forgetOnExit();
    // Hosts first: deleting a host namespace also deletes its cable's switch end.
    for (const namespace of [...created].reverse()) deleteNamespace(namespace);
    created.length = 0;
  };
  const forgetOnExit = cleanUpOnExit(destroy);
  const ip = (args: string[]) => runCommand('ip', args, { timeoutMs: IP_TIMEOUT_MS });
  try {
    await ip(['netns', 'add', switchNamespace]);
    created.push(switchNamespace);
    await ip(['-n', switchNamespace, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', switchNamespace, 'link', 'set', 'br0', 'up']);
    for (const host of hosts) {
      await ip(['netns', 'add', host.namespace]);
      created.push(host.namespace);
      // Made inside the switch namespace with its peer born in the host's: never in the root namespace.
      await ip(['-n', switchNamespace, 'link', 'add', host.switchPort, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.namespace]);
      await ip(['-n', switchNamespace, 'link', 'set', host.switchPort, 'master', 'br0']);
      await ip(['-n', switchNamespace, 'link', 'set', host.switchPort, 'up']);
      await ip(['-n', host.namespace, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
      await ip(['-n', host.namespace, 'link', 'set', 'eth0', 'up']);
      await ip(['-n', host.namespace, 'link', 'set', 'lo', 'up']);
    }
  } catch (error) {
    destroy();
    throw error;
  }
  return {
    switchNamespace,
    subnet: `10.200.${octet}.0/24`,
    hosts,
    host(index) {
      const host = hosts[index - 1];
      if (host === undefined) throw new RangeError(`no host ${index}: hosts are 1..${hosts.length}`);
      return host;
    },
    exec: (host, command, args) => ['ip', ['netns', 'exec', host.namespace, command, ...args]],
    async setCable(host, up) {
      await ip(['-n', switchNamespace, 'link', 'set', host.switchPort, up ? 'up' : 'down']);
    },
    destroy,
  };
}

/**
 * SIGKILLs every process still inside `namespace` (all started by this run: services, clients
 * and their children) and deletes it. A namespace with live processes would outlive `ip netns delete`.
 */
function deleteNamespace(namespace: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', namespace], { encoding: 'utf8' });
  for (const pid of (pids.stdout ?? '').split(/\s+/).filter((p) => /^\d+$/.test(p))) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  spawnSync('ip', ['netns', 'delete', namespace], { encoding: 'utf8' });
}
