/**
 * Draws the vega-lite specs of `charts.ts`: {@link render} turns a spec into SVG (vega, headless)
 * and PNG (resvg), and {@link writePlot} writes both files.
 *
 * Loading vega / vega-lite: both are ESM-only packages, while this package compiles to CommonJS.
 * TypeScript with `module: commonjs` rewrites `await import('vega')` into `require('vega')`, and
 * Node 20.20's `require(esm)` cannot load vega: its module graph contains a top-level `await`
 * (`ERR_REQUIRE_ASYNC_MODULE`), so require(esm) is not an option even on Node versions that
 * support it. We therefore call the real dynamic `import()` through `new Function`, which
 * TypeScript leaves untouched, and cache the resulting promise. Bare specifiers are resolved
 * relative to this file, so the package's own `node_modules` is used whatever the cwd is. Under
 * vm-based test runners (vitest) a `vm.Script` fallback does the same (see `importEsm`).
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';
import { renderAsync } from '@resvg/resvg-js';
// Type-only imports (erased at run time). The project uses `moduleResolution: node`, which ignores
// package.json `exports`; vega ships a root `index.d.ts`, vega-lite only `build/index.d.ts`.
import type * as VegaModule from 'vega';
import type * as VegaLiteModule from 'vega-lite/build/index';
import type { PlotSpec } from './charts';
import { resvgFontOptions } from './fonts';

/** Options of {@link render} and {@link writePlot}. */
export interface RenderOptions {
  /** PNG pixels per SVG px (default 2, for crisp images). */
  scale?: number;
  /** PNG background colour (default `white`). */
  background?: string;
  /**
   * Font files to use for the PNG instead of the automatically chosen one (see `plotFonts` in `fonts.ts`);
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
  /** PNG image (`scale` × the SVG's size in pixels). */
  png: Buffer;
  /** Width of the SVG in CSS px: the size at which the plot's text has its designed size. */
  width: number;
  /** Height of the SVG in CSS px. */
  height: number;
}

/** Width and height of the root `<svg>` element (CSS px). */
function svgSize(svg: string): { width: number; height: number } {
  const m = /<svg[^>]*?\swidth="([\d.]+)"[^>]*?\sheight="([\d.]+)"/.exec(svg);
  return m ? { width: Number(m[1]), height: Number(m[2]) } : { width: NaN, height: NaN };
}

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
  return { svg, png: image.asPng(), ...svgSize(svg) };
}

/**
 * Renders `spec` and writes `<dir>/<baseName>.svg` and `<dir>/<baseName>.png` (creating `dir`).
 *
 * @returns the paths of the two files and the plot's size in CSS px (see {@link RenderedPlot}).
 * @throws RangeError if `baseName` is empty or contains a path separator.
 */
export async function writePlot(
  spec: PlotSpec,
  dir: string,
  baseName: string,
  opts: RenderOptions = {},
): Promise<{ svg: string; png: string; width: number; height: number }> {
  if (baseName === '' || basename(baseName) !== baseName || baseName.includes('/') || baseName.includes('\\')) {
    throw new RangeError(`writePlot: bad file base name ${JSON.stringify(baseName)}`);
  }
  const { svg, png, width, height } = await render(spec, opts);
  await mkdir(dir, { recursive: true });
  const paths = { svg: join(dir, `${baseName}.svg`), png: join(dir, `${baseName}.png`) };
  await Promise.all([writeFile(paths.svg, svg, 'utf8'), writeFile(paths.png, png)]);
  return { ...paths, width, height };
}
