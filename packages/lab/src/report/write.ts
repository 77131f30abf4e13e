/**
 * Writes an experiment's results to disk: `<id>-result.json` (config, summary, every table),
 * `<id>-<table>.csv`, and for each figure `<id>-<name>.vl.json` (the vega-lite spec), `.svg` and
 * `.png`; then `index.md` and `index.html` showing every plot with its paragraph.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExperimentResult, Table } from '../experiments/common';
import type { PlotSpec } from './charts';
import { writePlot } from './render';

/** One CSV cell: numbers as they are (NaN empty), strings quoted when needed. */
function cell(v: number | string): string {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  return /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** A table as CSV text. */
export function toCsv(t: Table): string {
  return [t.columns.join(','), ...t.rows.map((r) => r.map(cell).join(','))].join('\n') + '\n';
}

/** Files written for one experiment, relative to the output directory. */
export interface WrittenFiles {
  json: string;
  csv: string[];
  /** Per figure its files, and its size in CSS px (the PNG has twice as many pixels). */
  figures: { name: string; title: string; caption: string; svg: string; png: string; spec: string; width: number; height: number }[];
}

/** Writes one experiment's files into `dir`. */
export async function writeExperiment(r: ExperimentResult, dir: string): Promise<WrittenFiles> {
  await mkdir(dir, { recursive: true });
  const json = `${r.id}-result.json`;
  const body = { id: r.id, title: r.title, scale: r.scale, seconds: r.seconds, config: r.config, summary: r.summary, text: r.text, tables: r.tables };
  await writeFile(join(dir, json), JSON.stringify(body, null, 1) + '\n');
  const csv: string[] = [];
  for (const t of r.tables) {
    const name = `${r.id}-${t.name}.csv`;
    await writeFile(join(dir, name), toCsv(t));
    csv.push(name);
  }
  const figures: WrittenFiles['figures'] = [];
  for (const f of r.figures) {
    const base = `${r.id}-${f.name}`;
    await writeFile(join(dir, `${base}.vl.json`), JSON.stringify(f.spec) + '\n');
    const { width, height } = await writePlot(f.spec as unknown as PlotSpec, dir, base);
    figures.push({ name: f.name, title: f.title, caption: f.caption, svg: `${base}.svg`, png: `${base}.png`, spec: `${base}.vl.json`, width, height });
  }
  const files = { json, csv, figures };
  await writeFile(join(dir, `${r.id}-files.json`), JSON.stringify({ result: r.id, title: r.title, text: r.text, seconds: r.seconds, scale: r.scale, ...files }, null, 1) + '\n');
  return files;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * Text with Markdown inline code (`` `x` ``, as the experiments' texts and the report header use
 * it) as HTML: escaped, with each backtick pair turned into `<code>`; an unpaired backtick stays.
 */
export function inlineHtml(s: string): string {
  return escapeHtml(s).replace(/`([^`]+)`/g, '<code>$1</code>');
}

/**
 * The report's style. Text keeps a readable line length; a figure is shown at its own size in CSS
 * px (its text at the size it was designed for) and never shrunk: a figure wider than the window
 * scrolls sideways inside its frame instead.
 */
const STYLE = [
  'body{font-family:system-ui,sans-serif;margin:2em auto;padding:0 1em;line-height:1.45;max-width:1400px}',
  'p,h1,h2,figcaption{max-width:75em}',
  'figure{margin:1.5em 0;overflow-x:auto}',
  'figure img{display:block;max-width:none;height:auto;border:1px solid #ddd}',
  'figcaption{color:#444;font-size:.92em;margin-top:.4em}',
  'code{background:#f3f3f3;padding:0 .2em;border-radius:3px}',
].join('');

/** Everything the index needs about one experiment. */
export interface IndexEntry {
  id: string;
  title: string;
  text: string;
  seconds: number;
  scale: string;
  files: WrittenFiles;
}

/** Reads back the index entry of an experiment written earlier into `dir`. */
export async function readEntry(dir: string, id: string): Promise<IndexEntry | undefined> {
  try {
    const f = JSON.parse(await readFile(join(dir, `${id}-files.json`), 'utf8')) as { result: string; title: string; text: string; seconds: number; scale: string } & WrittenFiles;
    return { id: f.result, title: f.title, text: f.text, seconds: f.seconds, scale: f.scale, files: { json: f.json, csv: f.csv, figures: f.figures } };
  } catch {
    return undefined;
  }
}

/** Writes `index.md` and `index.html` for the given experiments. */
export async function writeIndex(dir: string, entries: IndexEntry[], header: string): Promise<void> {
  const md: string[] = ['# attnclust report', '', header, ''];
  const html: string[] = [
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>attnclust report</title>',
    `<style>${STYLE}</style>`,
    '</head><body>',
    '<h1>attnclust report</h1>',
    `<p>${inlineHtml(header)}</p>`,
  ];
  for (const e of entries) {
    md.push(`## ${e.id.toUpperCase()} — ${e.title}`, '', e.text, '');
    html.push(`<h2 id="${e.id}">${e.id.toUpperCase()} — ${escapeHtml(e.title)}</h2>`, `<p>${inlineHtml(e.text)}</p>`);
    for (const f of e.files.figures) {
      md.push(`![${f.title}](${f.png})`, '', `*${f.caption}* ([SVG](${f.svg}), [spec](${f.spec}))`, '');
      // Width and height in CSS px: the PNG has 2× the pixels, and shown at this size its text has its designed size.
      const size = Number.isFinite(f.width) && Number.isFinite(f.height) ? ` width="${Math.round(f.width)}" height="${Math.round(f.height)}"` : '';
      html.push(`<figure><img src="${f.png}"${size} alt="${escapeHtml(f.title)}"><figcaption>${inlineHtml(f.caption)} (<a href="${f.svg}">SVG</a>, <a href="${f.spec}">vega-lite spec</a>)</figcaption></figure>`);
    }
    const data = [e.files.json, ...e.files.csv];
    md.push(`Data: ${data.map((d) => `[${d}](${d})`).join(', ')}. Scale \`${e.scale}\`, ${e.seconds.toFixed(1)} s.`, '');
    html.push(`<p>Data: ${data.map((d) => `<a href="${d}">${d}</a>`).join(', ')}. Scale <code>${e.scale}</code>, ${e.seconds.toFixed(1)} s.</p>`);
  }
  html.push('</body></html>');
  await writeFile(join(dir, 'index.md'), md.join('\n'));
  await writeFile(join(dir, 'index.html'), html.join('\n') + '\n');
}
