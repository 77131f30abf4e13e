/**
 * Crash-safe JSON Lines files: one record per line, appended with a single `write` and `fsync`ed
 * before the next point starts, so a finished point survives `SIGKILL` and power loss.
 *
 * A process killed while writing can leave a torn last line (no trailing newline, or bytes that do
 * not parse). {@link scanJsonl} finds the end of the last good line; {@link JsonlAppender.open}
 * truncates the file there before appending. A bad line followed by good ones is not a kill artifact: it is reported as an
 * error naming the file and line, and nothing is truncated.
 */
import { closeSync, fsyncSync, openSync, readFileSync, writeSync, ftruncateSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../experiments/runner';

/** Checks a parsed line: returns the record, or throws an `Error` saying what is wrong. */
export type Check<T> = (v: unknown) => T;

/** What a file holds. */
export interface JsonlScan<T> {
  /** Good records with their 1-based line numbers. */
  records: { value: T; line: number }[];
  /** Byte length of the good prefix (up to and including the last good line's newline). */
  goodBytes: number;
  /** Byte length of the file. */
  totalBytes: number;
  /** The torn last line, if any: its line number and why it is not good. */
  torn?: { line: number; reason: string };
}

/** Splits `buf` into lines and checks each; throws `ConfigError` on a bad line that is not the last. */
export function scanJsonl<T>(buf: Buffer, check: Check<T>, file: string): JsonlScan<T> {
  const records: JsonlScan<T>['records'] = [];
  let start = 0;
  let line = 0;
  let torn: JsonlScan<T>['torn'];
  while (start < buf.length) {
    line++;
    const nl = buf.indexOf(0x0a, start);
    const end = nl < 0 ? buf.length : nl;
    let reason: string | undefined;
    if (nl < 0) reason = 'no trailing newline';
    else {
      let v: unknown;
      try {
        v = JSON.parse(buf.toString('utf8', start, end));
      } catch (e) {
        reason = `not JSON (${(e as Error).message})`;
      }
      if (!reason) {
        try {
          records.push({ value: check(v), line });
        } catch (e) {
          reason = (e as Error).message;
        }
      }
    }
    if (reason) {
      if (nl >= 0 && nl + 1 < buf.length) throw new ConfigError(`${file}:${line}: ${reason}; only a torn last line is repaired, so this file needs a look`);
      torn = { line, reason };
      break;
    }
    start = nl + 1;
  }
  return { records, goodBytes: torn ? start : buf.length, totalBytes: buf.length, torn };
}

/** Reads a JSONL file (a missing file is empty) without changing it. */
export function readJsonl<T>(file: string, check: Check<T>): JsonlScan<T> {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], goodBytes: 0, totalBytes: 0 };
    throw e;
  }
  return scanJsonl(buf, check, file);
}

/** `fsync`s a directory, so a file created or renamed in it survives a crash (best effort). */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* some platforms and filesystems cannot fsync a directory */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** An append-only JSONL file: each {@link append} is one `write` of a whole line, then `fsync`. */
export class JsonlAppender {
  private constructor(
    readonly file: string,
    private fd: number | undefined,
  ) {}

  /**
   * Opens `file` for appending (creating it), after truncating a torn last line away. Returns the
   * appender and the scan of what the file held.
   */
  static open<T>(file: string, check: Check<T>): { appender: JsonlAppender; scan: JsonlScan<T> } {
    const fd = openSync(file, 'a+');
    try {
      const scan = scanJsonl(readFileSync(fd), check, file);
      if (scan.torn) {
        ftruncateSync(fd, scan.goodBytes);
        fsyncSync(fd);
      }
      fsyncDir(dirname(file));
      return { appender: new JsonlAppender(file, fd), scan };
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** Appends `line` (JSON text without a newline) and flushes it to disk. */
  append(line: string): void {
    if (this.fd === undefined) throw new Error(`${this.file} is closed`);
    if (line.includes('\n')) throw new Error('a JSONL line cannot contain a newline');
    const buf = Buffer.from(line + '\n', 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
