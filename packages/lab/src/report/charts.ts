/**
 * Vega-lite spec builders of the experiment reports (SPEC §6 "Reports", §7): line plots with
 * quantile bands, 2-D scatter plots, heat maps, and panels side by side. They return plain
 * vega-lite specs, so a report stores the spec as JSON next to the figure; `render.ts` draws them.
 */

// Type-only import (erased at run time). The project uses `moduleResolution: node`, which ignores
// package.json `exports`; vega-lite ships its types under `build/index.d.ts`.
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

/**
 * One curve of a {@link linePlot}: a line (in the experiments, the median over seeds), an optional
 * band `[lo, hi]` (the 10–90 % quantiles over seeds) and optional single runs marked as failed.
 */
export interface LineSeries {
  /** Legend entry; must be unique within a plot. */
  name: string;
  /** Abscissae. */
  x: number[];
  /** Ordinates of the line, same length as `x`; non-finite values leave a gap. */
  y: number[];
  /** Lower edge of the shaded band (e.g. the 10 % quantile over seeds); needs `hi`. */
  lo?: number[];
  /** Upper edge of the shaded band; needs `lo`. */
  hi?: number[];
  /** Single runs counted as failed, drawn one by one as crosses in the series' colour. */
  failed?: { x: number; y: number }[];
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
  /** A dashed grey horizontal reference line at this ordinate (e.g. a ratio of 1); default: none. */
  yRule?: number;
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
  /**
   * Legends below the panels, in rows of up to 4 entries, instead of to their right: keeps a
   * figure of two wide panels within about 1100 px (a laptop window) at its designed size.
   * Default false.
   */
  legendBelow?: boolean;
}



const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** Shared look: readable sizes, white background, sans-serif text (mapped to a real font by resvg). */
const BASE_CONFIG = {
  background: 'white',
  font: 'sans-serif',
  title: { fontSize: 15, anchor: 'start', offset: 10 },
  axis: { labelFontSize: 12, titleFontSize: 13, grid: true, gridOpacity: 0.5 },
  legend: { labelFontSize: 12, titleFontSize: 12, symbolSize: 120, labelLimit: 400 },
  view: { stroke: '#888' },
} as const;

/** Dash patterns of the lines of a {@link linePlot}, series by series: solid first. */
const DASHES: readonly (readonly number[])[] = [[1, 0], [7, 4], [2, 3], [9, 3, 2, 3], [4, 4], [12, 4], [2, 6], [7, 3, 2, 3, 2, 3]];

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
 * Builds a line plot: one line per series and, for series with `lo`/`hi`, a shaded band
 * (opacity 0.2) between them in the same colour; the failed runs of a series are crosses in its
 * colour; `yRule` adds a dashed reference line.
 *
 * @throws RangeError if a series' arrays have different lengths, only one of `lo`/`hi` is given,
 *   or two series share a name.
 */
export function linePlot(opts: LinePlotOptions): PlotSpec {
  const xLog = opts.x.log === true;
  const yLog = opts.y.log === true;
  const names: string[] = [];
  const rows: { series: string; x: number | null; y: number | null; lo: number | null; hi: number | null }[] = [];
  const failedRows: { series: string; x: number | null; y: number | null }[] = [];
  let hasBand = false;
  let maxLen = 0;
  for (const s of opts.series) {
    if (names.includes(s.name)) throw new RangeError(`duplicate series name ${JSON.stringify(s.name)}`);
    names.push(s.name);
    const n = s.x.length;
    assertLength(`series ${s.name}: y`, s.y, n);
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
        y: clean(s.y[i], yLog),
        lo: clean(s.lo?.[i], yLog),
        hi: clean(s.hi?.[i], yLog),
      });
    }
    for (const f of s.failed ?? []) failedRows.push({ series: s.name, x: clean(f.x, xLog), y: clean(f.y, yLog) });
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
      y: { field: 'y', type: 'quantitative', title: opts.y.label, scale: yScale },
      // explicit symbol style: the merged legend would otherwise take the band's 0.2 opacity
      color: {
        ...color,
        legend: { title: opts.legendTitle ?? null, symbolType: 'stroke', symbolStrokeWidth: 3, symbolOpacity: 1 },
      },
      // Each series its own dash pattern (the legend shows it too): a line lying exactly on another
      // (e.g. two ARIs both at 1) still shows, in the gaps of the one drawn above it.
      strokeDash: {
        field: 'series',
        type: 'nominal',
        // the whole list, not one pattern per name: panels that share the scale (hconcat) take the union of
        // their domains with one range, which must then still have a pattern for every name
        scale: { domain: names, range: DASHES.map((d) => [...d]) },
        sort: null,
        legend: { title: opts.legendTitle ?? null, symbolType: 'stroke', symbolStrokeWidth: 3, symbolOpacity: 1 },
      },
    },
  });
  if (failedRows.length > 0) {
    layers.push({
      data: { values: failedRows },
      transform: [{ filter: 'isValid(datum.x) && isValid(datum.y)' }],
      mark: { type: 'point', shape: 'cross', filled: true, size: 70, opacity: 0.9, stroke: 'white', strokeWidth: 0.5, clip },
      encoding: { x, y: { field: 'y', type: 'quantitative', title: opts.y.label, scale: yScale }, color },
    });
  }
  if (opts.yRule !== undefined) {
    layers.push({
      data: { values: [{ rule: opts.yRule }] },
      mark: { type: 'rule', color: '#555', strokeDash: [5, 4], strokeWidth: 1.2, clip },
      encoding: { y: { field: 'rule', type: 'quantitative', scale: yScale } },
    });
  }
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

/** Options of {@link heatmap}. */
export interface HeatmapOptions {
  /** Plot title. */
  title: string;
  /** The matrix, row-major, `rows × cols` entries. */
  rows: number;
  cols: number;
  data: ArrayLike<number>;
  /** Colour legend title (default `value`). */
  valueTitle?: string;
  /** Side of a cell in px (default: the plot is about 220 px wide). */
  cell?: number;
}

/**
 * Builds a heat map of a signed matrix (rows top to bottom, columns left to right) with a
 * diverging colour scale on the symmetric domain `[−m, m]`, `m = max |entry|`: zero is white and
 * equal magnitudes have equal colour strength whatever their sign (blue negative, red positive),
 * so a small negative entry is a pale blue, never the full colour of the extreme.
 *
 * @throws RangeError if `data` does not have `rows × cols` entries.
 */
export function heatmap(opts: HeatmapOptions): PlotSpec {
  const n = opts.rows * opts.cols;
  if (opts.data.length !== n) throw new RangeError(`heatmap: data has ${opts.data.length} entries, expected ${opts.rows} × ${opts.cols}`);
  let m = 0;
  for (let t = 0; t < n; t++) if (Number.isFinite(opts.data[t])) m = Math.max(m, Math.abs(opts.data[t] as number));
  if (m === 0) m = 1;
  const values = Array.from({ length: n }, (_, t) => ({ i: Math.floor(t / opts.cols) + 1, j: (t % opts.cols) + 1, v: clean(opts.data[t], false) }));
  const cell = opts.cell ?? Math.max(8, Math.round(220 / Math.max(opts.rows, opts.cols)));
  return {
    $schema: SCHEMA,
    title: opts.title,
    width: cell * opts.cols,
    height: cell * opts.rows,
    data: { values },
    config: BASE_CONFIG,
    mark: 'rect',
    encoding: {
      x: { field: 'j', type: 'ordinal', title: 'column' },
      y: { field: 'i', type: 'ordinal', title: 'row' },
      color: { field: 'v', type: 'quantitative', title: opts.valueTitle ?? 'value', scale: { scheme: 'redblue', reverse: true, domain: [-m, m], nice: false } },
    },
  };
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
  const config = ((panels[0] as { config?: unknown }).config ?? BASE_CONFIG) as typeof BASE_CONFIG;
  const base = {
    $schema: SCHEMA,
    ...(opts.title !== undefined ? { title: opts.title } : {}),
    config: opts.legendBelow ? { ...config, legend: { ...config.legend, orient: 'bottom', direction: 'horizontal', columns: 4, columnPadding: 18 } } : config,
    ...(opts.shared && opts.shared.length > 0 ? { resolve: { scale: shared } } : {}),
  };
  // The panels were valid top-level specs and only lost top-level-only properties, so they are
  // valid inner specs; the cast only bridges vega-lite's TopLevel<...> wrapper types.
  return (opts.columns !== undefined
    ? { ...base, columns: opts.columns, concat: inner }
    : { ...base, hconcat: inner }) as unknown as PlotSpec;
}
