/**
 * The `sweep` and `merge` commands' actions (registered in `main.ts`).
 *
 * Signals, as schedulers and people send them:
 * - SIGTERM (Slurm's `scancel --signal=TERM`, `--signal=TERM@120` before a time limit, the TERM of
 *   a requeue or preemption; Kubernetes pod deletion) asks for a graceful stop: the current point
 *   finishes, is written, and the command exits with {@link EXIT_STOPPED} (75, `EX_TEMPFAIL`) when
 *   points of the shard are left, so a job script can requeue the task. Any number of SIGTERMs is
 *   one stop (Slurm can deliver TERM twice).
 * - SIGINT (Ctrl-C) stops the same way, with exit code 130; a second SIGINT exits at once (the
 *   point in progress is lost, the file stays valid).
 * - SIGKILL is immediate: a torn last line is repaired when the shard resumes.
 * A stop that comes during the shard's last point exits 0: nothing is left to do.
 */
import { setThreads } from 'attnclust';
import { loadSweep } from '../sweep/config';
import { canonicalJson, type Shard } from '../sweep/grid';
import { mergeShards } from '../sweep/merge';
import { runSweep } from '../sweep/run';
import { stderrProgress } from './progress';

/** Exit code of a graceful stop (SIGTERM) with points left: `EX_TEMPFAIL`, "try again later". */
export const EXIT_STOPPED = 75;
/** Exit code of a Ctrl-C stop with points left (128 + SIGINT), and of a second Ctrl-C. */
export const EXIT_INTERRUPTED = 130;

/** `attnclust sweep <config> --out <dir> [--shard i/n] [--threads n] [--json]`. */
export async function sweepCommand(configFile: string, o: { out: string; shard: Shard; threads?: number; json?: boolean }): Promise<void> {
  const ac = new AbortController();
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled && sig === 'SIGINT') {
      process.stderr.write(`\nattnclust: ${sig} again; quitting now (finished points are on disk)\n`);
      process.exit(EXIT_INTERRUPTED); // the 'exit' handler releases the shard lock
    }
    if (signalled) return; // a repeated SIGTERM is the same request
    signalled = sig;
    const again = sig === 'SIGINT' ? ' (Ctrl-C again to quit now)' : '';
    process.stderr.write(`\nattnclust: ${sig}; stopping after the current point${again}; finished points are on disk\n`);
    ac.abort();
  };
  // Installed first, so a TERM while the config loads or the lock is awaited is a graceful stop too.
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const sweep = await loadSweep(configFile);
    if (o.threads !== undefined) setThreads(o.threads);
    const tty = process.stderr.isTTY;
    const name = `${sweep.exp.id} shard ${o.shard.index}/${o.shard.count}`;
    const r = await runSweep(
      sweep,
      {
        out: o.out,
        shard: o.shard,
        progress: stderrProgress(),
        signal: ac.signal,
        lock: { onWait: (h) => process.stderr.write(`${name}: waiting for pid ${h.pid} on host ${h.host} to release the shard (lock held since ${h.since})\n`) },
        // Plain lines for logs (Slurm, Kubernetes); a terminal has the bar.
        onPoint: tty ? undefined : (p) => process.stderr.write(`${name}: point ${p.index} ${canonicalJson(p.point)} seed ${p.seed} in ${p.seconds.toFixed(2)} s\n`),
      },
      (s) => {
        process.stderr.write(`sweep ${s.experiment} (scale ${s.scale}): ${s.points} points; shard ${s.shard.index}/${s.shard.count} has ${s.shardPoints}, ${s.resumed} already in ${s.file}, ${s.remaining} to run\n`);
        if (s.tookLock) {
          const h = s.tookLock.holder;
          process.stderr.write(`${s.file}: took over a stale lock${h ? ` of pid ${h.pid} on host ${h.host}` : ''} (${s.tookLock.reason})\n`);
        }
        if (s.repaired) process.stderr.write(`${s.file}: dropped a torn last line (line ${s.repaired.line}: ${s.repaired.reason}); that point runs again\n`);
      },
    );
    const done = r.resumed + r.ran;
    if (r.stopped) {
      process.exitCode = signalled === 'SIGINT' ? EXIT_INTERRUPTED : EXIT_STOPPED;
      process.stderr.write(`${name}: stopped with ${done}/${r.shardPoints} points in ${r.file} (exit ${process.exitCode}); run the same command again to resume\n`);
    } else {
      process.stderr.write(`${name}: ${done}/${r.shardPoints} points in ${r.file} (${r.ran} run now in ${r.seconds.toFixed(1)} s)\n`);
    }
    if (o.json) process.stdout.write(JSON.stringify(r, null, 1) + '\n');
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** `attnclust merge <dir-or-file>… --out <file.jsonl> [--allow-missing] [--json]`. */
export function mergeCommand(inputs: string[], o: { out: string; allowMissing?: boolean; json?: boolean }): void {
  const r = mergeShards(inputs, o.out, { allowMissing: o.allowMissing });
  for (const t of r.torn) process.stderr.write(`merge: skipped the torn last line ${t.line} of ${t.file} (${t.reason}); resume that shard to finish its point\n`);
  process.stderr.write(`merge: ${r.points} points from ${r.files.length} file${r.files.length === 1 ? '' : 's'}${r.duplicates ? ` (${r.duplicates} identical duplicates dropped)` : ''} into ${r.out}\n`);
  if (r.sweep?.missing) {
    process.stderr.write(`merge: --allow-missing: ${r.sweep.missing} of the sweep's ${r.sweep.points} points are missing: ${r.sweep.firstMissing.join(', ')}${r.sweep.missing > r.sweep.firstMissing.length ? ', …' : ''}\n`);
  }
  if (o.json) process.stdout.write(JSON.stringify(r, null, 1) + '\n');
}
