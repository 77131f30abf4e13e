/**
 * One line of a shard file: `{"point":{…},"result":{"seed":…,"summary":{…}}}`, written as
 * canonical JSON (sorted keys, no spaces) so the same result is the same bytes on every machine.
 *
 * `result` holds only deterministic output: the derived seed and the experiment's `summary`
 * (never timings). JSON has no NaN or ±Infinity; such summary numbers are written as `null`.
 */
import { z } from 'zod';
import { type Json, type Point, canonicalJson } from './grid';

/** A finished point. */
export interface SweepRecord {
  point: Point;
  result: { seed?: number; summary?: Record<string, Json> } & Record<string, Json>;
}

const recordSchema = z
  .object({
    point: z.record(z.string(), z.unknown()),
    result: z.record(z.string(), z.unknown()),
  })
  .strict();

/** Checks a parsed line (throws an `Error` saying what is wrong). */
export function checkRecord(v: unknown): SweepRecord {
  const r = recordSchema.safeParse(v);
  if (!r.success) throw new Error(`not a sweep record {"point": {…}, "result": {…}} (${r.error.issues.map((i) => `${i.path.join('.') || 'line'}: ${i.message}`).join('; ')})`);
  return r.data as SweepRecord;
}

/** The record for a point and an experiment's summary, with non-finite numbers as `null`. */
export function makeRecord(point: Point, seed: number, summary: Record<string, unknown>): SweepRecord {
  const clean: Record<string, Json> = {};
  for (const [k, v] of Object.entries(summary)) clean[k] = typeof v === 'number' && !Number.isFinite(v) ? null : (v as Json);
  return { point, result: { seed, summary: clean } };
}

/** The line (without newline) for a record. */
export function recordLine(r: SweepRecord): string {
  return canonicalJson(r);
}

/** The identity of a record's point. */
export function pointKey(p: Point): string {
  return canonicalJson(p);
}
