// Type-checks a consumer project under several module resolutions in one process (the install
// test runs it on each Node line): `node typecheck-modes.cjs <typescript dir> <project dir>
// <modes.json>`, where modes.json maps a mode name to `{ compilerOptions, files }`. Prints JSON
// `{ [mode]: string[] }`, the formatted diagnostics of each mode (empty when it type-checks).
//
// What `tsc -p` would report, minus the semantic check of @types/* and TypeScript's own lib files
// (the slow part of `skipLibCheck: false`, and not this package's types): options, global and
// syntactic diagnostics of every file, semantic diagnostics of the consumer's files and of every
// other declaration file (attnclust's). Parsed files are shared between the modes.
'use strict';
const { readFileSync } = require('node:fs');
const { join, resolve, sep } = require('node:path');

const [tsDir, dir, modesFile] = process.argv.slice(2);
const ts = require(resolve(tsDir));
const modes = JSON.parse(readFileSync(modesFile, 'utf8'));
const cache = new Map();
const out = {};
for (const [mode, { compilerOptions, files }] of Object.entries(modes)) {
  const { options, errors } = ts.convertCompilerOptionsFromJson(compilerOptions, dir);
  const host = ts.createCompilerHost(options, true);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
    const key = `${fileName}\0${JSON.stringify(languageVersion)}`;
    if (!cache.has(key)) cache.set(key, getSourceFile(fileName, languageVersion, onError, shouldCreate));
    return cache.get(key);
  };
  const program = ts.createProgram({ rootNames: files.map((f) => join(dir, f)), options, host });
  const checked = (sf) => !program.isSourceFileDefaultLibrary(sf) && !sf.fileName.includes(`${sep}@types${sep}`) && !sf.fileName.includes('/@types/');
  const diagnostics = [
    ...errors,
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...program.getSyntacticDiagnostics(),
    ...program.getSourceFiles().filter(checked).flatMap((sf) => program.getSemanticDiagnostics(sf)),
  ];
  const formatHost = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => dir, getNewLine: () => '\n' };
  out[mode] = diagnostics.map((d) => ts.formatDiagnostic(d, formatHost).trim());
  // The files the mode resolved 'attnclust' to, so the caller can see each mode took its own entry.
  out[`${mode}:attnclust`] = program
    .getSourceFiles()
    .map((sf) => sf.fileName)
    .filter((f) => /node_modules\/attnclust\/index\.d\.m?ts$/.test(f))
    .map((f) => f.slice(f.lastIndexOf('/') + 1));
}
process.stdout.write(JSON.stringify(out));
