/**
 * The font of the PNG plots. vega writes `font-family="sans-serif"` into the SVG, and resvg draws
 * no text at all if it has no font loaded. See {@link plotFonts} for how a font is chosen; on
 * Debian the default `fonts-dejavu-core` (DejaVu Sans) is used. With no font files on the machine
 * at all, the SVGs are still complete but the PNGs have no text; a one-time process warning says so.
 */

import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { ResvgRenderOptions } from '@resvg/resvg-js';

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

/**
 * resvg's font options: the explicit `fontFiles` (with `fontFamily` for `sans-serif`, default the
 * first font loaded) if given, else {@link plotFonts}' choice (warning once when there is none).
 */
export function resvgFontOptions(opts: { fontFiles?: string[]; fontFamily?: string }): NonNullable<ResvgRenderOptions['font']> {
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
