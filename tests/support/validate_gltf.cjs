// Runs the Khronos glTF validator on one glTF binary and prints its JSON report on stdout.
// Usage: node validate_gltf.cjs VALIDATOR_PREFIX FILE.glb   (VALIDATOR_PREFIX: the `npm install --prefix` folder)
"use strict";
const fs = require("fs");
const path = require("path");

const [prefix, file] = process.argv.slice(2);
if (!prefix || !file) {
  process.stderr.write("usage: node validate_gltf.cjs VALIDATOR_PREFIX FILE.glb\n");
  process.exit(2);
}
const validator = require(path.join(path.resolve(prefix), "node_modules", "gltf-validator"));
const options = { uri: path.basename(file), format: "glb", maxIssues: 0 };
validator
  .validateBytes(new Uint8Array(fs.readFileSync(file)), options)
  .then((report) => process.stdout.write(JSON.stringify(report) + "\n"))
  .catch((error) => {
    process.stderr.write(`validation failed to run: ${error}\n`);
    process.exit(2);
  });
