/**
 * The `sweep` and `merge` commands' actions (registered in `main.ts`).
 *
 * `sweep` stops after the current point on the first SIGINT/SIGTERM (exit code 130/143, the shard
 * file valid; rerunning the command resumes) and exits at once on a second one.
 */
import { setThreads } from 'attnclust';
import { loadSweep } from '../sweep/config';
import { canonicalJson, type Shard } from '../sweep/grid';
import { mergeShards } from '../sweep/merge';
import { runSweep } from '../sweep/run';
import { stderrProgress } from './progress';

const SIGNAL_CODES: Record<string, number> = { SIGINT: 2, SIGTERM: 15 };

/** `attnclust sweep <config> --out <dir> [--shard i/n] [--threads n] [--json]`. */
export async function sweepCommand(configFile: string, o: { out: string; shard: Shard; threads?: number; json?: boolean }): Promise<void> {
  const sweep = await loadSweep(configFile);
  if (o.threads !== undefined) setThreads(o.threads);
  const ac = new AbortController();
  let signalled: string | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled) process.exit(128 + (SIGNAL_CODES[sig] ?? 15));
    signalled = sig;
    process.stderr.write(`\nattnclust: ${sig}; stopping after the current point (send it again to quit now; finished points are on disk)\n`);
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const tty = process.stderr.isTTY;
  const name = `${sweep.exp.id} shard ${o.shard.index}/${o.shard.count}`;
  try {
    const r = await runSweep(
      sweep,
      {
        out: o.out,
        shard: o.shard,
        progress: stderrProgress(),
        signal: ac.signal,
        // Plain lines for logs (Slurm, Kubernetes); a terminal has the bar.
        onPoint: tty ? undefined : (p) => process.stderr.write(`${name}: point ${p.index} ${canonicalJson(p.point)} seed ${p.seed} in ${p.seconds.toFixed(2)} s\n`),
      },
      (s) => {
        process.stderr.write(`sweep ${s.experiment} (scale ${s.scale}): ${s.points} points; shard ${s.shard.index}/${s.shard.count} has ${s.shardPoints}, ${s.resumed} already in ${s.file}, ${s.remaining} to run\n`);
        if (s.repaired) process.stderr.write(`${s.file}: dropped a torn last line (line ${s.repaired.line}: ${s.repaired.reason}); that point runs again\n`);
      },
    );
    const done = r.resumed + r.ran;
    if (r.stopped) {
      process.stderr.write(`${name}: stopped with ${done}/${r.shardPoints} points in ${r.file}; run the same command again to resume\n`);
      process.exitCode = 128 + (SIGNAL_CODES[signalled ?? 'SIGINT'] ?? 2);
    } else {
      process.stderr.write(`${name}: ${done}/${r.shardPoints} points in ${r.file} (${r.ran} run now in ${r.seconds.toFixed(1)} s)\n`);
    }
    if (o.json) process.stdout.write(JSON.stringify(r, null, 1) + '\n');
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** `attnclust merge <dir-or-file>… --out <file.jsonl> [--json]`. */
export function mergeCommand(inputs: string[], o: { out: string; json?: boolean }): void {
  const r = mergeShards(inputs, o.out);
  for (const t of r.torn) process.stderr.write(`merge: skipped the torn last line ${t.line} of ${t.file} (${t.reason}); resume that shard to finish its point\n`);
  process.stderr.write(`merge: ${r.points} points from ${r.files.length} file${r.files.length === 1 ? '' : 's'}${r.duplicates ? ` (${r.duplicates} identical duplicates dropped)` : ''} into ${r.out}\n`);
  if (r.sweep?.missing) {
    process.stderr.write(`merge: ${r.sweep.missing} of the sweep's ${r.sweep.points} points are missing, e.g. ${r.sweep.firstMissing.join(', ')}\n`);
  }
  if (o.json) process.stdout.write(JSON.stringify(r, null, 1) + '\n');
}
