// Validates an AsyncAPI document with the official parser (npm @asyncapi/parser): exit 0 when it parses
// without errors, else print every error diagnostic and exit 1.
const fs = require("fs");
const { Parser } = require("@asyncapi/parser");

async function main() {
  const text = fs.readFileSync(process.argv[2], "utf8");
  const { document, diagnostics } = await new Parser().parse(text);
  const errors = diagnostics.filter((d) => d.severity === 0);
  for (const d of diagnostics) {
    console.log(`${["error", "warning", "info", "hint"][d.severity]} ${d.code} ${d.path.join(".")}: ${d.message}`);
  }
  if (!document || errors.length) process.exit(1);
  console.log(`valid AsyncAPI ${document.version()}: ${document.channels().length} channels, ` +
              `${document.operations().length} operations, ${document.components().messages().length} messages`);
}

main().catch((err) => { console.error(err); process.exit(2); });
