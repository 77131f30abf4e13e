#!/usr/bin/env node
'use strict';
// The `attnclust` command: the compiled CLI (`npm run build` writes dist/).
require('../dist/src/cli/main.js').main(process.argv).catch((e) => {
  process.stderr.write(`attnclust: ${e && e.message ? e.message : e}\n`);
  process.exitCode = process.exitCode || 1;
});
