// The public types for `import … from 'attnclust'` (the compiled TypeScript API, `npm run build`).
import * as api from './dist/src/index.js';

export * from './dist/src/index.js';
export default api;
