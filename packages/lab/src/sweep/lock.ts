/**
 * One writer per shard file: `<shard file>.lock` names the process that holds it, so an orphaned
 * task and its requeued copy (or two replacement pods) can never interleave lines in one file.
 *
 * - The lock is a small JSON file `{ host, pid, bootId, pidNs, startTime, token, since }`, created
 *   atomically (a fully written temporary file hard-linked into place; `O_EXCL` where links are not
 *   supported), and its modification time is the holder's heartbeat (refreshed every
 *   `heartbeatSeconds` and before every write).
 * - A lock left by a process on this machine (same host name, kernel boot id and PID namespace) is
 *   stale as soon as that process is gone: its pid no longer exists, or now belongs to a process
 *   started at another time (pid reuse), or is our own pid (a previous container incarnation).
 * - A lock from another machine cannot be checked by pid: it is stale once its heartbeat is older
 *   than `staleSeconds` (default 120). A fresh one is waited for, up to `staleSeconds`, then the run
 *   fails with {@link ShardLocked} naming the holder.
 * - Breaking a stale lock is serialised by `<lock>.break` (itself stale after 30 s), and only removes
 *   the lock if it still holds the content judged stale.
 * - The holder checks before each write that the lock is still its own ({@link ShardLock.check});
 *   if another process took it over (say, this one was stopped for longer than `staleSeconds`),
 *   the run stops with {@link LockLost} without writing.
 * - The lock is released when the run ends, and on `process.exit` (a second Ctrl-C); a SIGKILLed
 *   holder leaves it behind, and the next run on the same machine takes it over at once.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, readlinkSync, statSync, unlinkSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { ConfigError } from '../experiments/runner';

/** Who holds a lock (the lock file's content). */
export interface LockHolder {
  host: string;
  pid: number;
  /** `/proc/sys/kernel/random/boot_id` (Linux): tells a reboot or another machine of the same name. */
  bootId?: string;
  /** `/proc/self/ns/pid` (Linux): tells another container on the same machine. */
  pidNs?: string;
  /** The process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22): tells pid reuse. */
  startTime?: string;
  /** Random, per acquisition. */
  token: string;
  /** ISO time of acquisition. */
  since: string;
}

/** Options of {@link ShardLock.acquire}. */
export interface LockOptions {
  /** A lock from another machine whose heartbeat is older than this is stale. Default 120. */
  staleSeconds?: number;
  /** How often the holder refreshes its heartbeat. Default 15 (at most `staleSeconds / 4`). */
  heartbeatSeconds?: number;
  /** Called once when the lock is held by a process on another machine and the run starts waiting. */
  onWait?: (holder: LockHolder) => void;
}

/** The shard is being written by another live process. */
export class ShardLocked extends ConfigError {
  constructor(
    message: string,
    readonly holder: LockHolder | undefined,
  ) {
    super(message);
    this.name = 'ShardLocked';
  }
}

/** Another process took this process's lock over; nothing more may be written. */
export class LockLost extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'LockLost';
  }
}

function readOr(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Field 22 of `/proc/<pid>/stat` (after the parenthesised command name, which may hold spaces). */
function procStartTime(pid: number): string | undefined {
  const stat = readOr(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function pidNamespace(): string | undefined {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
}

function describe(h: LockHolder | undefined): string {
  return h ? `pid ${h.pid} on host ${h.host} (since ${h.since})` : 'an unreadable lock';
}

/** Locks held by this process, by lock path → token (tells "ours" from a previous incarnation's). */
const held = new Map<string, string>();

type Verdict = 'mine' | 'alive' | 'dead' | 'fresh' | 'stale';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A held lock on one shard file. */
export class ShardLock {
  private timer: NodeJS.Timeout | undefined;
  private readonly onExit = (): void => this.release();

  private constructor(
    /** The lock file. */
    readonly path: string,
    /** What this process wrote into it. */
    readonly holder: LockHolder,
  ) {}

  /**
   * Takes the lock `<file>.lock`, taking over a stale one (`took` says whose and why), waiting for a
   * fresh one from another machine, and failing with {@link ShardLocked} if it stays held.
   */
  static async acquire(file: string, opts: LockOptions = {}): Promise<{ lock: ShardLock; took?: { holder: LockHolder | undefined; reason: string } }> {
    const stale = (opts.staleSeconds ?? 120) * 1000;
    const beat = Math.min((opts.heartbeatSeconds ?? 15) * 1000, stale / 4);
    const path = `${file}.lock`;
    const me: LockHolder = {
      host: hostname(),
      pid: process.pid,
      bootId: readOr('/proc/sys/kernel/random/boot_id'),
      pidNs: pidNamespace(),
      startTime: procStartTime(process.pid),
      token: randomBytes(8).toString('hex'),
      since: new Date().toISOString(),
    };
    const text = JSON.stringify(me) + '\n';
    let took: { holder: LockHolder | undefined; reason: string } | undefined;
    let waitUntil: number | undefined;
    for (;;) {
      if (create(path, text, me.token)) {
        const lock = new ShardLock(path, me);
        held.set(path, me.token);
        lock.timer = setInterval(() => lock.touch(), beat);
        lock.timer.unref();
        process.on('exit', lock.onExit);
        return { lock, took };
      }
      let seen: string;
      let mtime: number;
      try {
        seen = readFileSync(path, 'utf8');
        mtime = statSync(path).mtimeMs;
      } catch {
        continue; // released between our attempt and our look: try again
      }
      let holder: LockHolder | undefined;
      try {
        holder = JSON.parse(seen) as LockHolder;
        if (typeof holder.pid !== 'number' || typeof holder.host !== 'string') holder = undefined;
      } catch {
        holder = undefined;
      }
      const verdict = judge(path, holder, me, Date.now() - mtime, stale);
      if (verdict === 'dead' || verdict === 'stale') {
        if (await breakLock(path, seen)) {
          const age = ((Date.now() - mtime) / 1000).toFixed(0);
          took = { holder, reason: verdict === 'dead' ? 'that process is gone' : `no heartbeat for ${age} s` };
        }
        continue;
      }
      if (verdict === 'mine') throw new ShardLocked(`${file} is already being written by this process`, holder);
      if (verdict === 'alive') {
        throw new ShardLocked(`${file} is being written by ${describe(holder)}, which is still running; two writers would interleave lines. Stop it or let it finish, then run again`, holder);
      }
      // Fresh, from another machine (or unreadable): wait for its release or for its heartbeat to stop.
      const now = Date.now();
      if (waitUntil === undefined) {
        waitUntil = now + stale + beat;
        if (holder) opts.onWait?.(holder);
      }
      if (now > waitUntil) {
        throw new ShardLocked(`${file} is being written by ${describe(holder)}, whose heartbeat (${path}) stayed fresh for ${(stale / 1000).toFixed(0)} s; two writers would interleave lines. Stop it or let it finish, then run again`, holder);
      }
      await sleep(Math.min(2000, Math.max(20, stale / 8)));
    }
  }

  /** Refreshes the heartbeat (best effort). */
  private touch(): void {
    try {
      const now = new Date();
      utimesSync(this.path, now, now);
    } catch {
      /* check() reports a lost lock before the next write */
    }
  }

  /** Throws {@link LockLost} unless the lock file still holds this process's token; refreshes the heartbeat. */
  check(): void {
    let token: string | undefined;
    let other: LockHolder | undefined;
    try {
      other = JSON.parse(readFileSync(this.path, 'utf8')) as LockHolder;
      token = other.token;
    } catch {
      other = undefined;
    }
    if (token !== this.holder.token) {
      throw new LockLost(`lost the lock ${this.path} (now ${other ? describe(other) : 'removed'}); stopping without writing, so the shard keeps one writer`);
    }
    this.touch();
  }

  /** Removes the lock if it is still this process's (idempotent). */
  release(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    process.off('exit', this.onExit);
    if (held.get(this.path) !== this.holder.token) return;
    held.delete(this.path);
    try {
      if ((JSON.parse(readFileSync(this.path, 'utf8')) as LockHolder).token === this.holder.token) unlinkSync(this.path);
    } catch {
      /* already gone, or not ours */
    }
  }
}

/** Creates `path` holding `text` if it does not exist; false if it does. */
function create(path: string, text: string, token: string): boolean {
  const tmp = `${path}.${token}.tmp`;
  writeFileSync(tmp, text);
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // Filesystems without hard links: O_EXCL (a reader may briefly see it empty, which reads as "fresh").
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e2;
    }
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
    return true;
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      /* gone */
    }
  }
}

function judge(path: string, h: LockHolder | undefined, me: LockHolder, ageMs: number, staleMs: number): Verdict {
  const local = h !== undefined && h.host === me.host && h.bootId === me.bootId && h.pidNs === me.pidNs;
  if (!local) return ageMs > staleMs ? 'stale' : 'fresh';
  if (h.pid === me.pid) return held.get(path) === h.token ? 'mine' : 'dead';
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return 'dead';
  }
  if (h.startTime !== undefined) {
    const now = procStartTime(h.pid);
    if (now !== undefined && now !== h.startTime) return 'dead';
  }
  return 'alive';
}

/** Removes `path` if it still holds `seen`, one breaker at a time. True if this call removed it. */
async function breakLock(path: string, seen: string): Promise<boolean> {
  const breaker = `${path}.break`;
  for (;;) {
    let fd: number;
    try {
      fd = openSync(breaker, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      try {
        if (Date.now() - statSync(breaker).mtimeMs > 30_000) unlinkSync(breaker); // its breaker died
      } catch {
        /* released meanwhile */
      }
      await sleep(50);
      continue;
    }
    closeSync(fd);
    try {
      let now: string | undefined;
      try {
        now = readFileSync(path, 'utf8');
      } catch {
        now = undefined;
      }
      if (now !== seen) return false; // someone else broke it, or it was released: look again
      unlinkSync(path);
      return true;
    } finally {
      unlinkSync(breaker);
    }
  }
}
