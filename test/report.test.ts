// The report as a reader sees it (issue 11): the HTML shows inline code, not literal backticks;
// figures are shown at their own size (never shrunk to unreadable text); no legend entry hides
// another; the heat maps' colour scale gives equal magnitudes equal strength. Every experiment runs
// at `tiny` scale into one report. The last test opens the report in headless Chromium when it is
// installed (Debian: `apt-get install chromium`), and says plainly that it skips when it is not.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExperimentResult, silent } from '../packages/lab/src/experiments/common';
import { EXPERIMENTS } from '../packages/lab/src/experiments/index';
import { resolveConfig, runExperiment } from '../packages/lab/src/experiments/runner';
import { hconcat, heatmap, linePlot } from '../packages/lab/src/report/charts';
import { type IndexEntry, inlineHtml, writeExperiment, writeIndex } from '../packages/lab/src/report/write';

/** The first Chromium found on PATH, or undefined. */
function findChromium(): string | undefined {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return undefined;
}

type Box = { x1: number; y1: number; x2: number; y2: number; text: string; legend: number };
type SceneNode = { marktype?: string; role?: string; items?: SceneItem[] };
type SceneItem = SceneNode & { x?: number; y?: number; text?: string; bounds?: { x1: number; y1: number; x2: number; y2: number } };

/** A spec laid out by vega: its scenegraph root and the view (to read scales). */
async function layout(spec: Record<string, unknown>): Promise<{ root: SceneNode; view: vega.View }> {
  const view = new vega.View(vega.parse(compile(spec as never, { logger: vega.logger(vega.None) } as never).spec), { renderer: 'none' });
  await view.runAsync();
  return { root: (view.scenegraph() as unknown as { root: SceneNode }).root, view };
}

/** Absolute bounding boxes of every legend label (and which legend it belongs to) in a scenegraph. */
function legendLabels(node: SceneNode, ox = 0, oy = 0, legend = { n: 0, current: -1 }, out: Box[] = []): Box[] {
  const isLegend = node.role === 'legend';
  for (const item of node.items ?? []) {
    const cur = legend.current;
    if (isLegend) legend.current = legend.n++;
    if (node.role === 'legend-label' && item.bounds && item.text !== undefined) {
      const b = item.bounds;
      out.push({ x1: ox + b.x1, y1: oy + b.y1, x2: ox + b.x2, y2: oy + b.y2, text: String(item.text), legend: legend.current });
    }
    if (node.marktype === 'group') legendLabels(item, ox + (item.x ?? 0), oy + (item.y ?? 0), legend, out);
    else if (item.items) legendLabels(item, ox, oy, legend, out);
    if (isLegend) legend.current = cur;
  }
  return out;
}

type Line = { series: string; dash: string; points: [number, number][] };

/** Every drawn line (one per series and panel): its series, dash pattern and absolute points. */
function lines(node: SceneNode, ox = 0, oy = 0, out: Line[] = []): Line[] {
  if (node.marktype === 'line') {
    const items = (node.items ?? []) as (SceneItem & { strokeDash?: number[]; datum?: { series?: string } })[];
    if (items.length > 1) {
      out.push({ series: String(items[0]!.datum?.series), dash: JSON.stringify(items[0]!.strokeDash ?? [1, 0]), points: items.map((i) => [ox + (i.x ?? 0), oy + (i.y ?? 0)]) });
    }
    return out;
  }
  for (const item of node.items ?? []) {
    if (node.marktype === 'group') lines(item, ox + (item.x ?? 0), oy + (item.y ?? 0), out);
    else if (item.items) lines(item, ox, oy, out);
  }
  return out;
}

/** Lines that lie on each other (most points within 1.5 px) with the same dash pattern: the one below is hidden. */
function hiddenLines(ls: Line[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < ls.length; i++) {
    for (let j = i + 1; j < ls.length; j++) {
      const [a, b] = [ls[i]!, ls[j]!];
      if (a.dash !== b.dash || a.series === b.series) continue;
      const near = a.points.filter(([x, y]) => b.points.some(([u, v]) => Math.hypot(x - u, y - v) < 1.5)).length;
      if (near >= 0.8 * a.points.length) out.push(`'${a.series}' under '${b.series}'`);
    }
  }
  return out;
}

/** Overlap area of two boxes (0 when they only touch). */
function overlap(a: Box, b: Box): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  return w > 0 && h > 0 ? w * h : 0;
}

describe('the report as a reader sees it', () => {
  let dir: string;
  const results: ExperimentResult[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'attnclust-report-'));
    const entries: IndexEntry[] = [];
    for (const exp of EXPERIMENTS) {
      const r = await runExperiment(exp, 'tiny', resolveConfig(exp, 'tiny', {}), { progress: silent });
      results.push(r);
      entries.push({ id: r.id, title: r.title, text: r.text, seconds: r.seconds, scale: r.scale, files: await writeExperiment(r, dir) });
    }
    await writeIndex(dir, entries, 'A test report at scale `tiny`, generated by `attnclust reproduce`.');
  }, 600_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('renders inline code: no literal backtick in the text of index.html', () => {
    expect(inlineHtml('scale `tiny` <b>')).toBe('scale <code>tiny</code> &lt;b&gt;');
    const html = readFileSync(join(dir, 'index.html'), 'utf8');
    expect(html).toContain('<code>tiny</code>');
    const text = html.replace(/<style>[\s\S]*?<\/style>/, '').replace(/<[^>]+>/g, '');
    expect(text).not.toContain('`');
  });

  it('gives every figure its size in CSS px, so that the page never shrinks it', () => {
    const html = readFileSync(join(dir, 'index.html'), 'utf8');
    const imgs = [...html.matchAll(/<img src="([^"]+)" width="(\d+)" height="(\d+)"/g)];
    expect(imgs.length).toBe(results.reduce((n, r) => n + r.figures.length, 0));
    for (const [, src, w] of imgs) {
      const png = readFileSync(join(dir, src!));
      expect(Math.abs(png.readUInt32BE(16) - 2 * Number(w))).toBeLessThanOrEqual(2); // 2× PNG
    }
    expect(html).toMatch(/figure img\{[^}]*max-width:none/);
    expect(html).toMatch(/figure\{[^}]*overflow-x:auto/);
  });

  it('no legend entry overlaps another, in any figure', async () => {
    let checked = 0;
    for (const r of results) {
      for (const f of r.figures) {
        const labels = legendLabels((await layout(f.spec)).root);
        for (let i = 0; i < labels.length; i++) {
          for (let j = i + 1; j < labels.length; j++) {
            const a = labels[i]!;
            const b = labels[j]!;
            expect(overlap(a, b), `${r.id}-${f.name}: legend labels '${a.text}' and '${b.text}' overlap`).toBeLessThan(1);
          }
        }
        checked += labels.length;
      }
    }
    expect(checked).toBeGreaterThan(10); // the walk found the legends
    // No text cut short with an ellipsis (vega truncates labels longer than their limit).
    for (const r of results) for (const f of r.figures) expect(readFileSync(join(dir, `${r.id}-${f.name}.svg`), 'utf8'), `${r.id}-${f.name}`).not.toContain('…');
  });

  it('no line hides another: lines lying on each other differ in dash pattern', async () => {
    // E5's cluster-recovery panel (issue 11): the ARI on the outputs and on the prompt are both 1
    // for most λ, so the line drawn last covered the other; the legend listed a line one could not see.
    const ones = [1, 1, 1, 1, 0.98];
    const x = [0.01, 0.1, 1, 10, 30];
    const e5Like = hconcat([
      linePlot({ title: 'ratio', x: { label: 'λ', log: true }, y: { label: 'r' }, series: [{ name: 'identity attention', x, y: [0.9, 0.3, 0.1, 0.6, 1.2] }] }),
      linePlot({ title: 'ARI', x: { label: 'λ', log: true }, y: { label: 'ARI' }, series: [{ name: 'k-means on outputs Y', x, y: ones }, { name: 'k-means on prompt X', x, y: ones }] }),
    ]) as unknown as Record<string, unknown>;
    const synthetic = lines((await layout(e5Like)).root);
    expect(synthetic.length).toBe(3);
    expect(hiddenLines(synthetic)).toEqual([]);
    let drawn = 0;
    for (const r of results) {
      for (const f of r.figures) {
        const ls = lines((await layout(f.spec)).root);
        drawn += ls.length;
        expect(hiddenLines(ls), `${r.id}-${f.name}`).toEqual([]);
      }
    }
    expect(drawn).toBeGreaterThan(20);
  });

  it('the heat map colour scale is centred at 0 with equal strength for equal magnitudes', async () => {
    // E7's learned matrix had entries in [−0.07, 1]: −0.07 must look pale, not like +1.
    const spec = heatmap({ title: 'm', rows: 2, cols: 2, data: [1, -0.07, 0.3, 0.05] }) as unknown as Record<string, unknown>;
    const { view } = await layout(spec);
    const color = view.scale('color') as unknown as (v: number) => string;
    const rgb = (v: number) => {
      const s = color(v);
      const m = /rgb\((\d+), ?(\d+), ?(\d+)\)/.exec(s) ?? /#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})/i.exec(s);
      expect(m, `colour ${s}`).not.toBeNull();
      const parse = (x: string) => (s.startsWith('#') ? parseInt(x, 16) : Number(x));
      return [parse(m![1]!), parse(m![2]!), parse(m![3]!)];
    };
    /** Distance from white, 0 (white) to ≈ 441 (black). */
    const strength = (v: number) => Math.hypot(...rgb(v).map((c) => 255 - c));
    expect(strength(0)).toBeLessThan(40); // zero is the scheme's light middle (near white)
    expect(strength(-0.07)).toBeLessThan(0.25 * strength(1)); // a small negative entry is pale
    expect(Math.abs(strength(-1) - strength(1))).toBeLessThan(0.15 * strength(1)); // symmetric
  });

  const chromium = findChromium();
  it('headless Chromium: figures shown at full size, inline code rendered, screenshot taken', (ctx) => {
    if (!chromium) {
      const why = 'Chromium is not installed, so the report is not opened in a browser (Debian: apt-get install chromium)';
      console.warn(`report.test.ts: skipped: ${why}`);
      return ctx.skip(why);
    }
    // A copy of the report with a probe script that writes what the browser laid out into the DOM.
    const probe = `<script>addEventListener('load',()=>{const o=document.createElement('pre');o.id='probe';o.textContent=JSON.stringify({
      text:document.body.innerText,
      imgs:[...document.images].map(i=>({src:i.getAttribute('src'),attr:Number(i.getAttribute('width')),shown:i.getBoundingClientRect().width,natural:i.naturalWidth})),
      code:document.querySelectorAll('code').length});document.body.appendChild(o);});</script>`;
    const html = readFileSync(join(dir, 'index.html'), 'utf8');
    writeFileSync(join(dir, 'probe.html'), html.replace('</body>', `${probe}</body>`));
    // A 1024-px window: narrower than the widest figures, which must scroll, not shrink.
    const args = ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--window-size=1024,900', '--virtual-time-budget=15000'];
    const dom = spawnSync(chromium!, [...args, '--dump-dom', pathToFileURL(join(dir, 'probe.html')).href], { encoding: 'utf8', timeout: 120_000 });
    expect(dom.status, dom.stderr).toBe(0);
    const m = /<pre id="probe">([\s\S]*?)<\/pre>/.exec(dom.stdout);
    expect(m, 'the probe ran').not.toBeNull();
    const decoded = m![1]!.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
    const laid = JSON.parse(decoded) as { text: string; imgs: { src: string; attr: number; shown: number; natural: number }[]; code: number };
    expect(laid.text).not.toContain('`');
    expect(laid.code).toBeGreaterThan(0);
    expect(laid.imgs.length).toBeGreaterThan(8);
    for (const i of laid.imgs) {
      expect(i.natural, `${i.src} loaded`).toBeGreaterThan(0);
      // Shown at its own width in CSS px (its text at 12–15 px), even in a narrow window.
      expect(i.shown, `${i.src} shown ${i.shown} px wide, drawn for ${i.attr}`).toBeGreaterThanOrEqual(i.attr - 1);
      expect(i.shown).toBeGreaterThan(250);
      // ... and no wider than a laptop window shows whole (legends go below wide two-panel figures).
      expect(i.attr, `${i.src} is ${i.attr} px wide`).toBeLessThanOrEqual(1200);
    }
    // A full-page screenshot, for a person to look at (kept when ATTNCLUST_SCREENSHOT_DIR is set).
    const shotDir = process.env['ATTNCLUST_SCREENSHOT_DIR'] ?? dir;
    const shot = join(shotDir, 'report.png');
    const r = spawnSync(chromium!, [...args, '--window-size=1280,14000', `--screenshot=${shot}`, pathToFileURL(join(dir, 'index.html')).href], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(shot) && statSync(shot).size).toBeGreaterThan(50_000);
  }, 300_000);
});

describe("the README's numbers come from a run", () => {
  it('E5 at default scale gives the ratios the README quotes (claim 2)', async () => {
    const { fmt } = await import('../packages/lab/src/experiments/common');
    const { findExperiment } = await import('../packages/lab/src/experiments/index');
    const exp = findExperiment('e5')!;
    const r = await runExperiment(exp, 'default', resolveConfig(exp, 'default', {}), { progress: silent });
    const s = r.summary as Record<string, number>;
    const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8').replace(/\s+/g, ' ');
    const q = (k: string, d = 2) => fmt(s[k]!, d);
    expect(readme).toContain(`the median quantization ratio \`Σ‖y_i − μ_{z_i}‖² / Σ‖x_i − μ_{z_i}‖²\` is ${q('ratio median at λ=0.3')} at \`λ = 0.3\``);
    expect(readme).toContain(`(10–90 % quantiles ${q('ratio q10 at λ=0.3')}–${q('ratio q90 at λ=0.3')}, no prompt above 1)`);
    expect(s['failed prompts at λ=0.3']).toBe(0);
    expect(readme).toContain(`${q('ratio median at λ=3')} at \`λ = 3\` (${s['failed prompts at λ=3']} of 32 prompts above 1)`);
    expect(readme).toContain(`above 1 from \`λ = 5\` (${q('ratio median at λ=5', 3)}; ${s['failed prompts at λ=5']} of 32 prompts above 1)`);
    expect(s['ratio median at λ=2']).toBeLessThan(1);
    expect(s['ratio median at λ=3']).toBeLessThan(1);
    expect(s['ratio median at λ=5']).toBeGreaterThan(1);
    expect(s['highest λ with ratio median below 1']).toBe(3);
  }, 120_000);
});
