// The package's public types: the compiled TypeScript API (`npm run build` writes dist/).
export * from './dist/src/index';
