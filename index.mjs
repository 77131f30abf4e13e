// The package's ESM entry (`import … from 'attnclust'`). It re-exports the CommonJS entry, so
// `import` and `require` share one module instance (one native addon, one thread pool, and
// `instanceof` works across both). Node finds the named exports in the compiled CommonJS by static
// analysis (cjs-module-lexer), so every export of src/index.ts is here without a list to keep in
// step; the install test checks that the names match `Object.keys(require('attnclust'))`.
export * from './index.js';
export { default } from './index.js';
