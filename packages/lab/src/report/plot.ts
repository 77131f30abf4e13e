/**
 * Plotting layer of the experiment reports (SPEC §6 "Reports", §7).
 *
 * The builders ({@link linePlot}, {@link scatterPlot}, {@link hconcat}) return plain vega-lite
 * specs, so a report can also store the spec as JSON next to the figure; {@link render} turns a
 * spec into SVG (vega, headless) and PNG (resvg), and {@link writePlot} writes both files.
 *
 * Loading vega / vega-lite: both are ESM-only packages, while this package compiles to CommonJS.
 * TypeScript with `module: commonjs` rewrites `await import('vega')` into `require('vega')`, and
 * Node 20.20's `require(esm)` cannot load vega: its module graph contains a top-level `await`
 * (`ERR_REQUIRE_ASYNC_MODULE`), so require(esm) is not an option even on Node versions that
 * support it. We therefore call the real dynamic `import()` through `new Function`, which
 * TypeScript leaves untouched, and cache the resulting promise. Bare specifiers are resolved
 * relative to this file, so the package's own `node_modules` is used whatever the cwd is. Under
 * vm-based test runners (vitest) a `vm.Script` fallback does the same (see `importEsm`).
 *
 * Fonts: vega writes `font-family="sans-serif"` into the SVG, and resvg draws no text at all if
 * it has no font loaded. See {@link plotFonts} for how a font is chosen; on Debian the default
 * `fonts-dejavu-core` (DejaVu Sans) is used. With no font files on the machine at all, the SVGs
 * are still complete but the PNGs have no text; a one-time process warning says so.
 */

import { existsSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';
import { renderAsync, type ResvgRenderOptions } from '@resvg/resvg-js';
// Type-only imports (erased at run time). The project uses `moduleResolution: node`, which ignores
// package.json `exports`; vega ships a root `index.d.ts`, vega-lite only `build/index.d.ts`.
import type * as VegaModule from 'vega';
import type * as VegaLiteModule from 'vega-lite/build/index';
import type { TopLevelSpec } from 'vega-lite/build/index';

/** A vega-lite specification, as produced by the builders of this module and accepted by {@link render}. */
export type PlotSpec = TopLevelSpec;

/** One layer of a layered vega-lite spec (annotating with it gives contextual typing). */
type Layer = Extract<TopLevelSpec, { layer: unknown }>['layer'][number];
/** A positional (x/y) encoding. */
type Position = NonNullable<Extract<Layer, { mark: unknown }>['encoding']>['x'];

/** An axis of a {@link linePlot}. */
export interface LineAxis {
  /** Axis title. */
  label: string;
  /** Logarithmic scale; non-positive values are then left out (drawn as gaps). */
  log?: boolean;
  /** Fixed domain `[min, max]` (marks outside are clipped); default: fitted to the data. */
  domain?: [number, number];
}

/** One curve of a {@link linePlot}: a mean over seeds, with an optional band `[lo, hi]`. */
export interface LineSeries {
  /** Legend entry; must be unique within a plot. */
  name: string;
  /** Abscissae. */
  x: number[];
  /** Ordinates of the line, same length as `x`; non-finite values leave a gap. */
  mean: number[];
  /** Lower edge of the shaded band (e.g. min or a quantile over seeds); needs `hi`. */
  lo?: number[];
  /** Upper edge of the shaded band; needs `lo`. */
  hi?: number[];
}

/** Options of {@link linePlot}. */
export interface LinePlotOptions {
  /** Plot title. */
  title: string;
  /** Horizontal axis. */
  x: { label: string; log?: boolean };
  /** Vertical axis. */
  y: LineAxis;
  /** The curves, drawn in this order with the colours of the default categorical scheme. */
  series: LineSeries[];
  /** Legend title; default: no title. */
  legendTitle?: string;
  /** Draw a dot at every data point; default: when no series has more than 30 points. */
  points?: boolean;
  /** Width of the plotting area in px (default 420). */
  width?: number;
  /** Height of the plotting area in px (default 280). */
  height?: number;
}

/** A point of a {@link scatterPlot}. */
export interface ScatterPoint {
  x: number;
  y: number;
  /** Colour group (e.g. the mixture component or the layer output). */
  group: string;
}

/** A polyline of a {@link scatterPlot}, drawn in index order (e.g. a head's trajectory); its end is marked. */
export interface ScatterPath {
  /** Legend entry. */
  name: string;
  x: number[];
  y: number[];
}

/** A labelled marker of a {@link scatterPlot}, drawn as a black cross (e.g. a true centroid). */
export interface ScatterMarker {
  x: number;
  y: number;
  label: string;
}

/** Options of {@link scatterPlot}. */
export interface ScatterPlotOptions {
  /** Plot title. */
  title: string;
  /** Horizontal axis title (default `x`). */
  x?: { label: string };
  /** Vertical axis title (default `y`). */
  y?: { label: string };
  /** The points, coloured by `group` (groups keep their order of first appearance). */
  points: ScatterPoint[];
  /** Optional polylines, coloured by name with a separate legend. */
  paths?: ScatterPath[];
  /** Optional labelled crosses. */
  markers?: ScatterMarker[];
  /** Legend title of the point groups (default `group`). */
  groupTitle?: string;
  /** Legend title of the paths (default `path`). */
  pathTitle?: string;
  /**
   * Equal units on both axes (a circle looks round), with a square plotting area and common
   * padded domains; default true, as the scatter plots are 2-D illustrations.
   */
  equalAspect?: boolean;
  /** Width of the plotting area in px (default 360). */
  width?: number;
  /** Height of the plotting area in px (default: `width` if `equalAspect`, else 300). */
  height?: number;
  /** Point size in px² (default 18). */
  pointSize?: number;
}

/** Options of {@link hconcat}. */
export interface ConcatOptions {
  /** Overall title above the panels. */
  title?: string;
  /** Wrap the panels into rows of this many columns; default: a single row. */
  columns?: number;
  /** Channels whose scales (and thus domains and colours) the panels share; default: none. */
  shared?: ('x' | 'y' | 'color')[];
}

/** Options of {@link render} and {@link writePlot}. */
export interface RenderOptions {
  /** PNG pixels per SVG px (default 2, for crisp images). */
  scale?: number;
  /** PNG background colour (default `white`). */
  background?: string;
  /**
   * Font files to use for the PNG instead of the automatically chosen one (see {@link plotFonts});
   * the environment variable `ATTNCLUST_FONT_FILES` (a path list) has the same effect.
   */
  fontFiles?: string[];
  /** Family name inside `fontFiles` to use for `sans-serif` text; default: the first font loaded. */
  fontFamily?: string;
}

/** A rendered plot. */
export interface RenderedPlot {
  /** Standalone SVG document. */
  svg: string;
  /** PNG image. */
  png: Buffer;
}

/** Which font the PNG renderer uses; see {@link plotFonts}. */
export interface FontChoice {
  /** Family used for `sans-serif` text, when known. */
  family?: string;
  /** Font files loaded explicitly. */
  files: string[];
  /** Whether resvg scans the system font directories itself. */
  loadSystemFonts: boolean;
  /** `env`: `ATTNCLUST_FONT_FILES`; `preferred`: a known sans font; `system`: any system font; `none`: no font found. */
  source: 'env' | 'preferred' | 'system' | 'none';
}

// ---------------------------------------------------------------------------------------------
// Spec builders

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** Shared look: readable sizes, white background, sans-serif text (mapped to a real font by resvg). */
const BASE_CONFIG = {
  background: 'white',
  font: 'sans-serif',
  title: { fontSize: 15, anchor: 'start', offset: 10 },
  axis: { labelFontSize: 12, titleFontSize: 13, grid: true, gridOpacity: 0.5 },
  legend: { labelFontSize: 12, titleFontSize: 12, symbolSize: 120, labelLimit: 260 },
  view: { stroke: '#888' },
} as const;

function assertLength(what: string, arr: readonly unknown[] | undefined, n: number): void {
  if (arr !== undefined && arr.length !== n) {
    throw new RangeError(`${what} has length ${arr.length}, expected ${n}`);
  }
}

/** A finite value that a (log) scale can show, else `null` (vega-lite draws a gap). */
function clean(v: number | undefined, log: boolean): number | null {
  return v !== undefined && Number.isFinite(v) && (!log || v > 0) ? v : null;
}

/**
 * Builds a line plot: one line per series (the mean over seeds) and, for series with `lo`/`hi`,
 * a shaded band (opacity 0.2) between them in the same colour.
 *
 * @throws RangeError if a series' arrays have different lengths, only one of `lo`/`hi` is given,
 *   or two series share a name.
 */
export function linePlot(opts: LinePlotOptions): PlotSpec {
  const xLog = opts.x.log === true;
  const yLog = opts.y.log === true;
  const names: string[] = [];
  const rows: { series: string; x: number | null; mean: number | null; lo: number | null; hi: number | null }[] = [];
  let hasBand = false;
  let maxLen = 0;
  for (const s of opts.series) {
    if (names.includes(s.name)) throw new RangeError(`duplicate series name ${JSON.stringify(s.name)}`);
    names.push(s.name);
    const n = s.x.length;
    assertLength(`series ${s.name}: mean`, s.mean, n);
    assertLength(`series ${s.name}: lo`, s.lo, n);
    assertLength(`series ${s.name}: hi`, s.hi, n);
    if ((s.lo === undefined) !== (s.hi === undefined)) {
      throw new RangeError(`series ${s.name}: give both lo and hi, or neither`);
    }
    if (s.lo !== undefined) hasBand = true;
    maxLen = Math.max(maxLen, n);
    for (let i = 0; i < n; i++) {
      rows.push({
        series: s.name,
        x: clean(s.x[i], xLog),
        mean: clean(s.mean[i], yLog),
        lo: clean(s.lo?.[i], yLog),
        hi: clean(s.hi?.[i], yLog),
      });
    }
  }
  const clip = opts.y.domain !== undefined;
  const x: Position = {
    field: 'x',
    type: 'quantitative',
    title: opts.x.label,
    scale: xLog ? { type: 'log', nice: false } : { zero: false }, // a nice log domain can add a decade
  };
  const yScale = {
    ...(yLog ? { type: 'log' as const, nice: false } : { zero: false }),
    ...(opts.y.domain ? { domain: [...opts.y.domain], nice: false } : {}),
  };
  const layers: Layer[] = [];
  const color = {
    field: 'series',
    type: 'nominal',
    scale: { domain: names },
    sort: null,
  } as const;
  if (hasBand) {
    layers.push({
      transform: [{ filter: 'isValid(datum.x) && isValid(datum.lo) && isValid(datum.hi)' }],
      mark: { type: 'area', fillOpacity: 0.2, strokeWidth: 0, clip },
      encoding: {
        x,
        y: { field: 'lo', type: 'quantitative', title: opts.y.label, scale: yScale },
        y2: { field: 'hi' },
        color, // legend options live on the line layer (a `legend: null` here would disable it)
      },
    });
  }
  layers.push({
    mark: { type: 'line', strokeWidth: 2, clip, point: opts.points ?? maxLen <= 30 },
    encoding: {
      x,
      y: { field: 'mean', type: 'quantitative', title: opts.y.label, scale: yScale },
      // explicit symbol style: the merged legend would otherwise take the band's 0.2 opacity
      color: {
        ...color,
        legend: { title: opts.legendTitle ?? null, symbolType: 'stroke', symbolStrokeWidth: 3, symbolOpacity: 1 },
      },
    },
  });
  const spec: TopLevelSpec = {
    $schema: SCHEMA,
    title: opts.title,
    width: opts.width ?? 420,
    height: opts.height ?? 280,
    data: { values: rows },
    config: BASE_CONFIG,
    layer: layers,
  };
  return spec;
}

/** `[lo, hi]` domains with equal spans on both axes, covering all values with 5 % padding. */
function equalDomains(xs: number[], ys: number[]): { x: [number, number]; y: [number, number] } | undefined {
  const ext = (v: number[]): [number, number] | undefined => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const a of v) {
      if (!Number.isFinite(a)) continue;
      if (a < lo) lo = a;
      if (a > hi) hi = a;
    }
    return lo <= hi ? [lo, hi] : undefined;
  };
  const ex = ext(xs);
  const ey = ext(ys);
  if (!ex || !ey) return undefined;
  const span = Math.max(ex[1] - ex[0], ey[1] - ey[0], 1e-9) * 1.1;
  const cx = (ex[0] + ex[1]) / 2;
  const cy = (ey[0] + ey[1]) / 2;
  return { x: [cx - span / 2, cx + span / 2], y: [cy - span / 2, cy + span / 2] };
}

/**
 * Builds a 2-D scatter plot: points coloured by group; optional polylines drawn in index order
 * (encoding `order` on the point index) with a diamond at their last point; optional labelled
 * black crosses. Points and paths have separate colour legends.
 *
 * @throws RangeError if a path's `x` and `y` have different lengths.
 */
export function scatterPlot(opts: ScatterPlotOptions): PlotSpec {
  const equal = opts.equalAspect ?? true;
  const width = opts.width ?? 360;
  const height = opts.height ?? (equal ? width : 300);
  const paths = opts.paths ?? [];
  const markers = opts.markers ?? [];

  const groups: string[] = [];
  const seen = new Set<string>();
  const pointRows = opts.points.map((p) => {
    if (!seen.has(p.group)) {
      seen.add(p.group);
      groups.push(p.group);
    }
    return { x: clean(p.x, false), y: clean(p.y, false), group: p.group };
  });
  const pathRows: { name: string; i: number; last: boolean; x: number | null; y: number | null }[] = [];
  for (const p of paths) {
    assertLength(`path ${p.name}: y`, p.y, p.x.length);
    p.x.forEach((xv, i) => {
      pathRows.push({ name: p.name, i, last: i === p.x.length - 1, x: clean(xv, false), y: clean(p.y[i], false) });
    });
  }
  const markerRows = markers.map((m) => ({ x: clean(m.x, false), y: clean(m.y, false), label: m.label }));

  const all = [...pointRows, ...pathRows, ...markerRows];
  const dom = equal
    ? equalDomains(
        all.map((r) => r.x ?? NaN),
        all.map((r) => r.y ?? NaN),
      )
    : undefined;
  const x: Position = {
    field: 'x',
    type: 'quantitative',
    title: opts.x?.label ?? 'x',
    scale: dom ? { domain: dom.x, nice: false, zero: false } : { zero: false },
  };
  const y: Position = {
    field: 'y',
    type: 'quantitative',
    title: opts.y?.label ?? 'y',
    scale: dom ? { domain: dom.y, nice: false, zero: false } : { zero: false },
  };
  const pathColor = {
    field: 'name',
    type: 'nominal',
    scale: { scheme: 'dark2', domain: paths.map((p) => p.name) },
    sort: null,
  } as const;

  const layers: Layer[] = [
    {
      data: { values: pointRows },
      mark: { type: 'circle', size: opts.pointSize ?? 18, opacity: 0.65 },
      encoding: {
        x,
        y,
        color: {
          field: 'group',
          type: 'nominal',
          scale: groups.length > 0 ? { domain: groups } : {},
          sort: null,
          legend: { title: opts.groupTitle ?? 'group' },
        },
      },
    },
  ];
  if (paths.length > 0) {
    // One sub-layer, so that the lines and their end diamonds share one colour scale and legend
    // (the outer `resolve` makes the point groups and the paths independent).
    layers.push({
      data: { values: pathRows },
      layer: [
        {
          mark: { type: 'line', strokeWidth: 2.5, point: { filled: true, size: 16 } },
          encoding: {
            x,
            y,
            color: { ...pathColor, legend: { title: opts.pathTitle ?? 'path', symbolType: 'stroke', symbolStrokeWidth: 3 } },
            order: { field: 'i', type: 'quantitative' },
          },
        },
        {
          transform: [{ filter: 'datum.last' }],
          mark: { type: 'point', shape: 'diamond', filled: true, size: 110, stroke: 'white', strokeWidth: 1, opacity: 1 },
          encoding: { x, y, color: pathColor },
        },
      ],
    });
  }
  if (markers.length > 0) {
    const text = { field: 'label', type: 'nominal' } as const;
    const label = { type: 'text', align: 'left', baseline: 'bottom', dx: 8, dy: -6, fontSize: 13, fontWeight: 'bold' } as const;
    layers.push({
      data: { values: markerRows },
      layer: [
        {
          mark: { type: 'point', shape: 'cross', filled: true, size: 230, color: 'black', stroke: 'white', strokeWidth: 1, opacity: 1 },
          encoding: { x, y },
        },
        // a white halo under the label keeps it legible on top of the points
        { mark: { ...label, color: 'white', stroke: 'white', strokeWidth: 3, strokeJoin: 'round' }, encoding: { x, y, text } },
        { mark: { ...label, color: 'black' }, encoding: { x, y, text } },
      ],
    });
  }

  const spec: TopLevelSpec = {
    $schema: SCHEMA,
    title: opts.title,
    width,
    height,
    config: BASE_CONFIG,
    layer: layers,
    ...(paths.length > 0 ? { resolve: { scale: { color: 'independent' } } } : {}),
  };
  return spec;
}

/** Properties only allowed on a top-level spec; removed from panels before concatenation. */
const TOP_LEVEL_ONLY = ['$schema', 'config', 'background', 'padding', 'autosize', 'datasets', 'usermeta'] as const;

/**
 * Puts several plots side by side (e.g. before/after panels): a single row, or rows of
 * `columns` panels. Each panel keeps its own title, scales and legends unless listed in `shared`;
 * shared scales take the union of the panels' domains (vega-lite logs a warning when the panels
 * fixed different domains, as {@link scatterPlot} does with `equalAspect`).
 * The config of the first panel is kept for the whole figure.
 *
 * @throws RangeError if `panels` is empty or `columns` is not a positive integer.
 */
export function hconcat(panels: PlotSpec[], opts: ConcatOptions = {}): PlotSpec {
  if (panels.length === 0) throw new RangeError('hconcat: no panels');
  if (opts.columns !== undefined && !(Number.isInteger(opts.columns) && opts.columns > 0)) {
    throw new RangeError(`hconcat: columns must be a positive integer, got ${opts.columns}`);
  }
  const inner = panels.map((p) => {
    const copy: Record<string, unknown> = { ...p };
    for (const k of TOP_LEVEL_ONLY) delete copy[k];
    return copy;
  });
  const shared = Object.fromEntries((opts.shared ?? []).map((c) => [c, 'shared']));
  const base = {
    $schema: SCHEMA,
    ...(opts.title !== undefined ? { title: opts.title } : {}),
    config: (panels[0] as { config?: unknown }).config ?? BASE_CONFIG,
    ...(opts.shared && opts.shared.length > 0 ? { resolve: { scale: shared } } : {}),
  };
  // The panels were valid top-level specs and only lost top-level-only properties, so they are
  // valid inner specs; the cast only bridges vega-lite's TopLevel<...> wrapper types.
  return (opts.columns !== undefined
    ? { ...base, columns: opts.columns, concat: inner }
    : { ...base, hconcat: inner }) as unknown as PlotSpec;
}

// ---------------------------------------------------------------------------------------------
// Rendering

type Vega = typeof VegaModule;
type VegaLite = typeof VegaLiteModule;

/**
 * Real dynamic `import()`, hidden from TypeScript's CommonJS rewrite (see the module comment).
 * `new Function` code resolves bare specifiers relative to this file. Under test runners that
 * evaluate modules with `vm` (vitest, jest) such code has no dynamic-import callback and fails
 * with `ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING`; we then compile the same one-liner with
 * `vm.Script` and `importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER`
 * (Node ≥ 20.12; Node prints an ExperimentalWarning once), which uses Node's own loader.
 */
const nativeImport = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;
let vmImport: ((specifier: string) => Promise<unknown>) | undefined;

/**
 * `specifier` resolved with CommonJS rules from this file (the packages' `exports` have a
 * `default` condition), as a file URL, so that the ESM loader and `require` agree (this also
 * honours `NODE_PATH`); the bare specifier if that fails.
 */
function resolveEsm(specifier: string): string {
  try {
    return pathToFileURL(require.resolve(specifier)).href;
  } catch {
    return specifier;
  }
}

async function importEsm(bare: string): Promise<unknown> {
  const specifier = resolveEsm(bare);
  if (vmImport) return vmImport(specifier);
  try {
    return await nativeImport(specifier);
  } catch (err) {
    const loader = vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER;
    if ((err as { code?: unknown }).code !== 'ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING' || loader === undefined) throw err;
    const script = new vm.Script('(specifier) => import(specifier)', {
      filename: typeof __filename === 'string' ? __filename : join(process.cwd(), 'plot.js'),
      importModuleDynamically: loader,
    });
    vmImport = script.runInThisContext() as (specifier: string) => Promise<unknown>;
    return vmImport(specifier);
  }
}

/** Memoises an async loader; a failed load is retried on the next call. */
function cached<T>(load: () => Promise<T>): () => Promise<T> {
  let promise: Promise<T> | undefined;
  return () => {
    if (!promise) {
      promise = load();
      promise.catch(() => (promise = undefined));
    }
    return promise;
  };
}

const loadVega = cached(async () => (await importEsm('vega')) as Vega);
const loadVegaLite = cached(async () => (await importEsm('vega-lite')) as VegaLite);

/** Known sans-serif fonts, best first: family name and file names (regular, then bold). */
const PREFERRED_FONTS: { family: string; regular: string[]; bold: string[] }[] = [
  { family: 'DejaVu Sans', regular: ['DejaVuSans.ttf'], bold: ['DejaVuSans-Bold.ttf'] },
  { family: 'Liberation Sans', regular: ['LiberationSans-Regular.ttf'], bold: ['LiberationSans-Bold.ttf'] },
  { family: 'Noto Sans', regular: ['NotoSans-Regular.ttf'], bold: ['NotoSans-Bold.ttf'] },
  { family: 'FreeSans', regular: ['FreeSans.ttf', 'FreeSans.otf'], bold: ['FreeSansBold.ttf', 'FreeSansBold.otf'] },
  { family: 'Arial', regular: ['Arial.ttf', 'arial.ttf'], bold: ['Arial Bold.ttf', 'Arial_Bold.ttf', 'arialbd.ttf'] },
];

/** The directories resvg (fontdb) scans for system fonts, on Linux, macOS and Windows. */
function fontDirs(): string[] {
  const home = homedir();
  const dataHome = process.env['XDG_DATA_HOME'] ?? join(home, '.local', 'share');
  return [
    '/usr/share/fonts',
    '/usr/local/share/fonts',
    join(home, '.fonts'),
    join(dataHome, 'fonts'),
    '/System/Library/Fonts',
    '/Library/Fonts',
    join(home, 'Library', 'Fonts'),
    join(process.env['WINDIR'] ?? 'C:\\Windows', 'Fonts'),
  ];
}

/** Font files under `dirs` (depth ≤ 5, at most 20 000 files), by lower-case base name. */
function scanFonts(dirs: string[]): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (dir: string, depth: number): void => {
    if (depth > 5 || found.size >= 20000) return;
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p, depth + 1);
      else if (/\.(ttf|otf|ttc|otc)$/i.test(e.name) && !found.has(e.name.toLowerCase())) {
        found.set(e.name.toLowerCase(), p);
      }
    }
  };
  for (const d of dirs) if (existsSync(d)) walk(d, 0);
  return found;
}

let fontChoice: FontChoice | undefined;
let warnedNoFonts = false;

/**
 * The font used for the text of PNG plots (chosen once, then cached):
 * 1. the files listed in `ATTNCLUST_FONT_FILES` (path-list separated) if set;
 * 2. else the first known sans font found in the system font directories — DejaVu Sans (Debian's
 *    default `fonts-dejavu-core`), Liberation Sans, Noto Sans, FreeSans, Arial — loaded on its own
 *    (regular and bold) and mapped to `sans-serif`, which is also faster than a full system scan;
 * 3. else all system fonts (resvg then falls back to the first font it finds);
 * 4. else none: the PNGs have no text (the SVGs are unaffected) and a warning is emitted once.
 */
export function plotFonts(): FontChoice {
  if (fontChoice) return fontChoice;
  const env = (process.env['ATTNCLUST_FONT_FILES'] ?? '').split(delimiter).filter((f) => f !== '' && existsSync(f));
  if (env.length > 0) {
    fontChoice = { files: env, loadSystemFonts: false, source: 'env' };
    return fontChoice;
  }
  const found = scanFonts(fontDirs());
  for (const f of PREFERRED_FONTS) {
    const pick = (names: string[]): string | undefined =>
      names.map((n) => found.get(n.toLowerCase())).find((p) => p !== undefined);
    const regular = pick(f.regular);
    if (regular === undefined) continue;
    const bold = pick(f.bold);
    fontChoice = { family: f.family, files: bold ? [regular, bold] : [regular], loadSystemFonts: false, source: 'preferred' };
    return fontChoice;
  }
  fontChoice =
    found.size > 0
      ? { files: [], loadSystemFonts: true, source: 'system' }
      : { files: [], loadSystemFonts: false, source: 'none' };
  return fontChoice;
}

function resvgFontOptions(opts: RenderOptions): NonNullable<ResvgRenderOptions['font']> {
  if (opts.fontFiles && opts.fontFiles.length > 0) {
    const fam = opts.fontFamily ? { defaultFontFamily: opts.fontFamily, sansSerifFamily: opts.fontFamily } : {};
    return { loadSystemFonts: false, fontFiles: opts.fontFiles, ...fam };
  }
  const choice = plotFonts();
  if (choice.source === 'none' && !warnedNoFonts) {
    warnedNoFonts = true;
    process.emitWarning(
      'attnclust: no font files found; PNG plots will have no text (SVG plots are complete). ' +
        'Install a font (e.g. Debian/Ubuntu: apt-get install fonts-dejavu-core) or set ATTNCLUST_FONT_FILES.',
      { code: 'ATTNCLUST_NO_FONTS' },
    );
  }
  const fam = choice.family ? { defaultFontFamily: choice.family, sansSerifFamily: choice.family } : {};
  return { loadSystemFonts: choice.loadSystemFonts, fontFiles: choice.files, ...fam };
}

/**
 * Renders a vega-lite spec: compiles it to vega, runs a headless vega View (`renderer: 'none'`)
 * to get the SVG, and rasterises that SVG with resvg (default: 2× scale, white background) off
 * the event loop.
 */
export async function render(spec: PlotSpec, opts: RenderOptions = {}): Promise<RenderedPlot> {
  const [vega, vl] = await Promise.all([loadVega(), loadVegaLite()]);
  // A silent logger: panels with their own domains make vega-lite warn about merged scales, which is intended.
  const vgSpec = vl.compile(spec, { logger: vega.logger(vega.None) }).spec;
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none' });
  let svg: string;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }
  const scale = opts.scale ?? 2;
  if (!(scale > 0 && Number.isFinite(scale))) throw new RangeError(`render: scale must be positive, got ${scale}`);
  const image = await renderAsync(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: opts.background ?? 'white',
    font: resvgFontOptions(opts),
    logLevel: 'off',
  });
  return { svg, png: image.asPng() };
}

/**
 * Renders `spec` and writes `<dir>/<baseName>.svg` and `<dir>/<baseName>.png` (creating `dir`).
 *
 * @returns the paths of the two files.
 * @throws RangeError if `baseName` is empty or contains a path separator.
 */
export async function writePlot(
  spec: PlotSpec,
  dir: string,
  baseName: string,
  opts: RenderOptions = {},
): Promise<{ svg: string; png: string }> {
  if (baseName === '' || basename(baseName) !== baseName || baseName.includes('/') || baseName.includes('\\')) {
    throw new RangeError(`writePlot: bad file base name ${JSON.stringify(baseName)}`);
  }
  const { svg, png } = await render(spec, opts);
  await mkdir(dir, { recursive: true });
  const paths = { svg: join(dir, `${baseName}.svg`), png: join(dir, `${baseName}.png`) };
  await Promise.all([writeFile(paths.svg, svg, 'utf8'), writeFile(paths.png, png)]);
  return paths;
}
