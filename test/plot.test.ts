import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hconcat, linePlot, scatterPlot } from '../packages/lab/src/report/charts';
import { plotFonts } from '../packages/lab/src/report/fonts';
import { render, writePlot } from '../packages/lab/src/report/render';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Width and height from the IHDR chunk, which must be the first chunk after the signature. */
function pngSize(png: Buffer): { width: number; height: number } {
  expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
  expect(png.toString('latin1', 12, 16)).toBe('IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

/** Width and height attributes of the root <svg> element. */
function svgSize(svg: string): { width: number; height: number } {
  const m = /<svg[^>]*\swidth="([\d.]+)"[^>]*\sheight="([\d.]+)"/.exec(svg);
  expect(m).not.toBeNull();
  return { width: Number(m![1]), height: Number(m![2]) };
}

function lineSpec() {
  const x = Array.from({ length: 50 }, (_, i) => i * 10);
  const mean = x.map((t) => 1 - Math.exp(-t / 120));
  return linePlot({
    title: 'E1 alignment vs iterations',
    x: { label: 'iteration' },
    y: { label: 'alignment', domain: [0, 1] },
    series: [
      { name: 'random init', x, y: mean, lo: mean.map((m) => Math.max(0, m - 0.1)), hi: mean.map((m) => Math.min(1, m + 0.1)) },
      { name: 'point init', x, y: mean.map((m) => m * 0.8) },
    ],
  });
}

function scatterSpec() {
  const points: { x: number; y: number; group: string }[] = [];
  for (let i = 0; i < 60; i++) {
    const a = (i * 2.399) % (2 * Math.PI);
    const r = 0.3 * Math.sqrt((i % 10) / 10);
    points.push({ x: 1 + r * Math.cos(a), y: r * Math.sin(a), group: 'cluster 1' });
    points.push({ x: -1 + r * Math.cos(a), y: r * Math.sin(a), group: 'cluster 2' });
  }
  return scatterPlot({
    title: 'E4 heads in 2-D',
    x: { label: 'x₁' },
    y: { label: 'x₂' },
    points,
    paths: [
      { name: 'head 1', x: [0, 0.4, 0.8, 0.95], y: [0.5, 0.3, 0.1, 0.02] },
      { name: 'head 2', x: [0.1, -0.3, -0.8, -0.97], y: [0.5, 0.35, 0.1, 0.01] },
    ],
    markers: [
      { x: 1, y: 0, label: 'μ₁' },
      { x: -1, y: 0, label: 'μ₂' },
    ],
  });
}

describe('report/plot', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('renders a line plot with a band', async () => {
    const spec = lineSpec();
    const { svg, png } = await render(spec);
    expect(svg).toContain('E1 alignment vs iterations');
    expect(svg).toContain('alignment');
    expect(svg).toContain('random init');
    expect(svg).toContain('<path');
    const s = svgSize(svg);
    const p = pngSize(png);
    expect(p.width).toBeGreaterThan(400);
    expect(p.height).toBeGreaterThan(300);
    expect(p.width).toBeLessThan(3000);
    expect(Math.abs(p.width - 2 * s.width)).toBeLessThanOrEqual(2); // default scale 2
    expect(Math.abs(p.height - 2 * s.height)).toBeLessThanOrEqual(2);
  });

  it('renders a scatter plot with paths and markers', async () => {
    const { svg, png } = await render(scatterSpec(), { scale: 1 });
    expect(svg).toContain('E4 heads in 2-D');
    expect(svg).toContain('<path');
    expect(svg).toContain('μ₁');
    expect(svg).toContain('head 2');
    const s = svgSize(svg);
    const p = pngSize(png);
    expect(Math.abs(p.width - s.width)).toBeLessThanOrEqual(1);
    expect(p.width).toBeGreaterThan(300);
    expect(p.height).toBeGreaterThan(300);
  });

  it('puts panels side by side', async () => {
    const spec = hconcat([scatterSpec(), scatterSpec()], { title: 'before / after', shared: ['x', 'y'] });
    const { svg, png } = await render(spec);
    expect(svg).toContain('before / after');
    const single = pngSize((await render(scatterSpec())).png);
    const both = pngSize(png);
    expect(both.width).toBeGreaterThan(1.7 * single.width);
    const grid = await render(hconcat([lineSpec(), lineSpec(), lineSpec()], { columns: 2 }));
    expect(pngSize(grid.png).height).toBeGreaterThan(1.7 * pngSize((await render(lineSpec())).png).height);
  });

  it('writes SVG and PNG files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'attnclust-plot-'));
    dirs.push(dir);
    const out = await writePlot(lineSpec(), join(dir, 'nested'), 'e1-alignment');
    expect(out.svg).toBe(join(dir, 'nested', 'e1-alignment.svg'));
    expect(out.png).toBe(join(dir, 'nested', 'e1-alignment.png'));
    expect(existsSync(out.svg) && existsSync(out.png)).toBe(true);
    expect(readFileSync(out.svg, 'utf8')).toContain('E1 alignment vs iterations');
    pngSize(readFileSync(out.png));
    expect(statSync(out.png).size).toBeGreaterThan(1000);
    await expect(writePlot(lineSpec(), dir, '../escape')).rejects.toThrow(RangeError);
  });

  it('rejects inconsistent series', () => {
    expect(() =>
      linePlot({ title: 't', x: { label: 'x' }, y: { label: 'y' }, series: [{ name: 'a', x: [1, 2], y: [1] }] }),
    ).toThrow(RangeError);
    expect(() =>
      linePlot({ title: 't', x: { label: 'x' }, y: { label: 'y' }, series: [{ name: 'a', x: [1], y: [1], lo: [0] }] }),
    ).toThrow(RangeError);
  });

  it('handles log axes and gaps', async () => {
    const spec = linePlot({
      title: 'log',
      x: { label: 'λ', log: true },
      y: { label: 'ratio', log: true },
      series: [{ name: 'a', x: [0, 0.1, 1, 10], y: [1, NaN, 0.5, 0.1], lo: [0.5, 0.1, 0.2, -1], hi: [2, 1, 1, 0.2] }],
    });
    const { svg } = await render(spec);
    expect(svg).toContain('<path');
  });

  it('finds a font for PNG text on this machine', () => {
    const f = plotFonts();
    // The CI / dev images have at least Debian's default fonts (fonts-dejavu-core).
    expect(f.source).not.toBe('none');
    if (f.source === 'preferred') expect(f.files.length).toBeGreaterThan(0);
  });
});
