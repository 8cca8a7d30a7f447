// Microsoft's own Teams manifest validator, offline: `validateManifestAgainstSchema` with the
// schema kept in the repository (`validateManifest` would download it).
// Usage: node validate-manifest.js MANIFEST.json SCHEMA.json
// Prints one line per problem and exits 1, or prints "valid" and exits 0.
"use strict";
const fs = require("fs");
const { ManifestUtil } = require("@microsoft/teams-manifest");

async function main([manifestPath, schemaPath]) {
  if (!manifestPath || !schemaPath) {
    console.error("usage: node validate-manifest.js MANIFEST.json SCHEMA.json");
    return 2;
  }
  const manifest = JSON.parse(fs.readFileSync(manifestPath, "utf8"));
  const schema = JSON.parse(fs.readFileSync(schemaPath, "utf8"));
  const problems = await ManifestUtil.validateManifestAgainstSchema(manifest, schema);
  for (const problem of problems) console.log(problem);
  if (problems.length === 0) console.log("valid");
  return problems.length === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then((code) => process.exit(code));
