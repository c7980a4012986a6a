#!/usr/bin/env node
// Validates AsyncAPI documents with the official parser (@asyncapi/parser).
// Usage: node validate.js FILE_OR_FOLDER...   (files without a top-level `asyncapi:` key, i.e.
// shared schema fragments, are skipped). Prints one JSON report on stdout; exit 1 when any
// document has an error-level diagnostic, 2 on usage errors.
'use strict';

const fs = require('fs');
const path = require('path');
const { Parser, DiagnosticSeverity } = require('@asyncapi/parser');

function collect(args) {
  const files = [];
  for (const arg of args) {
    const stat = fs.statSync(arg);
    if (stat.isDirectory()) {
      for (const name of fs.readdirSync(arg).sort()) {
        if (/\.ya?ml$/.test(name)) files.push(path.join(arg, name));
      }
    } else {
      files.push(arg);
    }
  }
  return files;
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length === 0) {
    process.stderr.write('usage: node validate.js FILE_OR_FOLDER...\n');
    process.exit(2);
  }
  const parser = new Parser();
  const report = [];
  let failed = false;
  for (const file of collect(args)) {
    const text = fs.readFileSync(file, 'utf8');
    if (!/^asyncapi\s*:/m.test(text)) {
      report.push({ file, skipped: true, errors: [], warnings: 0 });
      continue;
    }
    // `source` lets the parser resolve $refs to sibling files.
    const { document, diagnostics } = await parser.parse(text, { source: path.resolve(file) });
    const errors = diagnostics
      .filter((d) => d.severity === DiagnosticSeverity.Error)
      .map((d) => ({ code: String(d.code), message: d.message, path: '/' + d.path.join('/') }));
    const warnings = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Warning).length;
    if (errors.length > 0 || document === undefined) failed = true;
    report.push({ file, skipped: false, parsed: document !== undefined, errors, warnings });
  }
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n');
  process.exit(2);
});
