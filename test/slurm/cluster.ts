// A real single-node Slurm cluster for `npm run test:slurm`: Debian's slurm-wlm (22.05) and munge,
// configured in a scratch directory (SLURM_CONF), localhost only, on free ports, every daemon
// started here and stopped by its PID. Needs root (the daemons run as root, as do the jobs).
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';

const SBIN = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function findProgram(name: string): string {
  for (const d of [...SBIN, ...(process.env.PATH ?? '').split(':')]) {
    const p = join(d, name);
    if (existsSync(p)) return p;
  }
  throw new Error(`${name} not found: install Debian's slurm-wlm and munge (apt-get install -y slurm-wlm munge)`);
}

/** A TCP port nobody listens on now (the kernel's choice). */
function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every `everyMs` until it returns a value (not undefined/false) or `timeoutMs` passes. */
export async function until<T>(what: string, cond: () => T | undefined | false, timeoutMs: number, everyMs = 500): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = cond();
    if (v !== undefined && v !== false) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${(timeoutMs / 1000).toFixed(0)} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface Cluster {
  dir: string;
  node: string;
  /** Environment for Slurm's commands (SLURM_CONF) and for jobs submitted from here. */
  env: NodeJS.ProcessEnv;
  /** Runs a Slurm command; throws with its stderr on a non-zero exit. */
  run(cmd: string, args: string[], opts?: { cwd?: string; env?: NodeJS.ProcessEnv }): string;
  /** `scontrol show job <id>` as key → value (the first record). */
  job(id: string): Record<string, string>;
  /** The node's state and reason (`sinfo`), e.g. "idle" or "drained: Kill task failed". */
  nodeState(): { state: string; reason: string };
  /** Cancels what is left, waits for the queue to drain, stops the daemons by PID. */
  stop(): Promise<void>;
  /** The daemons' log files (to print when something fails). */
  logs(): string;
}

interface Daemon {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
}

function startDaemon(name: string, program: string, args: string[], env: NodeJS.ProcessEnv, log: string): Daemon {
  const out = `${log}.stdout`;
  const child = spawn(program, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const keep = (d: Buffer) => {
    text += d.toString();
    writeFileSync(out, text);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((res) => child.on('exit', () => res()));
  return { name, child, exited };
}

async function stopDaemon(d: Daemon): Promise<void> {
  if (d.child.exitCode !== null || d.child.signalCode !== null) return;
  d.child.kill('SIGTERM');
  const done = await Promise.race([d.exited.then(() => true), sleep(15_000).then(() => false)]);
  if (!done) {
    d.child.kill('SIGKILL');
    await d.exited;
  }
}

/** Starts munged, slurmctld and slurmd; resolves once the node is idle. */
export async function startCluster(): Promise<Cluster> {
  if (process.getuid?.() !== 0) throw new Error('test:slurm starts slurmctld and slurmd, which need root');
  const munged = findProgram('munged');
  const slurmctld = findProgram('slurmctld');
  const slurmd = findProgram('slurmd');
  findProgram('sbatch');
  const dir = mkdtempSync(join(tmpdir(), 'attnclust-slurm-'));
  chmodSync(dir, 0o755); // munged wants its socket's directory searchable by all
  for (const d of ['state', 'spool', 'jobs']) mkdirSync(join(dir, d));
  const key = join(dir, 'munge.key');
  writeFileSync(key, randomBytes(1024), { mode: 0o600 });
  const sock = join(dir, 'munge.socket');
  const node = hostname().split('.')[0]!;
  const [ctldPort, dPort] = [await freePort(), await freePort()];
  const conf = join(dir, 'slurm.conf');
  writeFileSync(
    conf,
    [
      'ClusterName=attnclust-test',
      `SlurmctldHost=${node}(127.0.0.1)`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${dPort}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      'AuthType=auth/munge',
      `AuthInfo=socket=${sock}`,
      'CredType=cred/munge',
      `StateSaveLocation=${dir}/state`,
      `SlurmdSpoolDir=${dir}/spool`,
      `SlurmctldPidFile=${dir}/slurmctld.pid`,
      `SlurmdPidFile=${dir}/slurmd.pid`,
      `SlurmctldLogFile=${dir}/slurmctld.log`,
      `SlurmdLogFile=${dir}/slurmd.log`,
      // As the issue requires: no cgroups, processes tracked through their parent pids.
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SwitchType=switch/none',
      'MpiDefault=none',
      'ReturnToService=2',
      'SchedulerType=sched/builtin',
      'SchedulerParameters=sched_interval=2',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_Core',
      'JobCompType=jobcomp/none',
      'AccountingStorageType=accounting_storage/none',
      'JobAcctGatherType=jobacct_gather/none',
      // Four task slots on any machine (the jobs are single-threaded and short).
      'SlurmdParameters=config_overrides',
      'KillWait=30',
      'MinJobAge=3600',
      `NodeName=${node} NodeAddr=127.0.0.1 CPUs=4 RealMemory=4000 State=UNKNOWN`,
      `PartitionName=debug Nodes=${node} Default=YES MaxTime=INFINITE State=UP`,
      '',
    ].join('\n'),
  );
  const env = { ...process.env, SLURM_CONF: conf };
  const daemons: Daemon[] = [];
  const logs = () =>
    ['slurmctld.log', 'slurmd.log', 'slurmctld.log.stdout', 'slurmd.log.stdout', 'munged.log.stdout']
      .map((f) => join(dir, f))
      .filter(existsSync)
      .map((f) => `--- ${f} (last 40 lines)\n${readFileSync(f, 'utf8').split('\n').slice(-40).join('\n')}`)
      .join('\n');
  const run = (cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string => {
    const r = spawnSync(cmd, args, { env: opts.env ?? env, cwd: opts.cwd ?? dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const stop = async (): Promise<void> => {
    try {
      const left = run('squeue', ['-h', '-o', '%A']).split('\n').filter(Boolean);
      if (left.length) {
        spawnSync('scancel', left, { env });
        await until('the queue to drain', () => run('squeue', ['-h', '-o', '%A']).trim() === '', 90_000);
      }
    } catch {
      /* the controller may be gone already */
    }
    for (const d of [...daemons].reverse()) await stopDaemon(d);
  };
  try {
    daemons.push(startDaemon('munged', munged, ['-F', '-f', `--key-file=${key}`, `--socket=${sock}`, `--pid-file=${dir}/munged.pid`, `--seed-file=${dir}/munged.seed`, `--log-file=${dir}/munged.log`], env, join(dir, 'munged.log')));
    await until('munged', () => existsSync(sock), 20_000, 100);
    daemons.push(startDaemon('slurmctld', slurmctld, ['-D', '-i'], env, join(dir, 'slurmctld.log')));
    await until('slurmctld', () => spawnSync('scontrol', ['ping'], { env, encoding: 'utf8' }).stdout?.includes('UP'), 30_000);
    daemons.push(startDaemon('slurmd', slurmd, ['-D', '-N', node], env, join(dir, 'slurmd.log')));
    const cluster: Cluster = {
      dir,
      node,
      env,
      run,
      job(id) {
        const text = execFileSync('scontrol', ['show', 'job', '-o', id], { env, encoding: 'utf8' }).split('\n')[0] ?? '';
        const rec: Record<string, string> = {};
        for (const m of text.matchAll(/(\w+)=(\S*)/g)) if (!(m[1]! in rec)) rec[m[1]!] = m[2]!;
        return rec;
      },
      nodeState() {
        const [state = '', ...reason] = run('sinfo', ['-h', '-N', '-n', node, '-o', '%T|%E']).trim().split('|');
        return { state, reason: reason.join('|') };
      },
      stop,
      logs,
    };
    await until('the node to be idle', () => cluster.nodeState().state === 'idle', 60_000);
    return cluster;
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}\n${logs()}`);
  }
}
