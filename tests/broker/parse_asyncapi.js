// Parses each file given with the official AsyncAPI parser; prints {file: {ok, errors}} as JSON.
const fs = require('fs');
const { Parser } = require('@asyncapi/parser');

(async () => {
  const out = {};
  for (const file of process.argv.slice(2)) {
    const { document, diagnostics } = await new Parser().parse(fs.readFileSync(file, 'utf8'));
    const errors = diagnostics.filter((d) => d.severity === 0);
    out[file] = { ok: !!document, errors: errors.map((d) => `${d.message} at ${d.path.join('/')}`) };
  }
  console.log(JSON.stringify(out));
})();
