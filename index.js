'use strict';
// The package entry: the compiled TypeScript API (`npm run build` writes dist/).
module.exports = require('./dist/src/index.js');
