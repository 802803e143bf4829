// examples/postman/ from the merged OpenAPI (docker/nginx/api-docs/openapi.json):
//
//   node tools/api/postman.mjs            # rewrite the collection and the environment (make postman)
//   node tools/api/postman.mjs --check    # fail if the committed files are stale
//
// * Every operation of the document, converted by openapi-to-postmanv2 (one folder per tag), with
//   the collection's bearer auth ({{apiKey}}) inherited by every request.
// * "Main flow": the hand-written, tested flow of examples/postman/flow/ (flow.json + one test
//   script per step, <step name with dashes>.js). Each step's METHOD and path must be an operation
//   of the document, so the flow cannot drift from the API either.
// The output is stable (ids derived from names, not random), so --check can compare bytes.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

// openapi-to-postmanv2 fakes example bodies with json-schema-faker, which draws from Math.random
// (free-form objects get random keys): a seeded generator makes the output reproducible.
function seedRandom(seed) {
  let a = seed >>> 0;
  Math.random = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// (seeded before the converter loads: json-schema-faker keeps a reference to Math.random)
seedRandom(14);
const require = createRequire(import.meta.url);
const Converter = require("openapi-to-postmanv2");

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const OPENAPI = join(ROOT, "docker/nginx/api-docs/openapi.json");
const OUT_DIR = join(ROOT, "examples/postman");
const FLOW_DIR = join(OUT_DIR, "flow");
const COLLECTION = join(OUT_DIR, "tradeopt.postman_collection.json");
const ENVIRONMENT = join(OUT_DIR, "tradeopt.postman_environment.json");
const NUMERIC_VARS = ["timesteps"]; // "{{timesteps}}" in a flow body is sent as a JSON number

function stableId(...parts) {
  const h = createHash("sha256").update(parts.join("\u0000")).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function convert(spec) {
  const options = {
    folderStrategy: "Tags",
    requestNameSource: "Fallback",
    parametersResolution: "Schema",
    enableOptionalParameters: false,
    alwaysInheritAuthentication: true,
    includeAuthInfoInExample: false,
  };
  return new Promise((ok, fail) => {
    Converter.convert({ type: "json", data: spec }, options, (err, result) => {
      if (err) return fail(err);
      if (!result.result) return fail(new Error(`openapi-to-postmanv2: ${result.reason}`));
      ok(result.output[0].data);
    });
  });
}

// Drop the converter's random ids and random example values' noise: ids become stable hashes of
// the item's position; response examples are dropped (the document has the schemas).
function stabilise(node, path = "collection") {
  if (Array.isArray(node)) return node.map((v, i) => stabilise(v, `${path}/${i}`));
  if (node === null || typeof node !== "object") return node;
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "id" || key === "_postman_id") continue;
    if (key === "response") continue;
    out[key] = stabilise(value, `${path}/${key}`);
  }
  if ("request" in node && "name" in node) out.id = stableId(path, node.name);
  return out;
}

function operations(spec) {
  const ops = new Set();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of Object.keys(item)) ops.add(`${method.toUpperCase()} ${path}`);
  }
  return ops;
}

function flowFolder(spec) {
  const flow = JSON.parse(readFileSync(join(FLOW_DIR, "flow.json"), "utf8"));
  const known = operations(spec);
  const items = flow.steps.map((step) => {
    if (!known.has(`${step.method} ${step.path}`)) {
      throw new Error(`flow step "${step.name}": ${step.method} ${step.path} is not in ${OPENAPI}`);
    }
    const script = readFileSync(join(FLOW_DIR, `${step.name.replaceAll(" ", "-")}.js`), "utf8");
    let url = step.path;
    for (const [param, variable] of Object.entries(step.vars ?? {})) {
      url = url.replace(`{${param}}`, `{{${variable}}}`);
    }
    if (/\{[a-z_]+\}/.test(url)) throw new Error(`flow step "${step.name}": unbound ${url}`);
    const header = [{ key: "Accept", value: "application/json, text/html" }];
    const request = { method: step.method, header, url: { raw: `{{baseUrl}}${url}` } };
    request.url.host = ["{{baseUrl}}"];
    request.url.path = url.split("/").filter(Boolean);
    if (step.body !== undefined) {
      let raw = JSON.stringify(step.body, null, 2);
      for (const name of NUMERIC_VARS) raw = raw.replaceAll(`"{{${name}}}"`, `{{${name}}}`);
      header.push({ key: "Content-Type", value: "application/json" });
      request.body = { mode: "raw", raw, options: { raw: { language: "json" } } };
    }
    if (step.idempotency) {
      header.push({ key: "Idempotency-Key", value: `{{flowKey}}-${step.idempotency}` });
    }
    const event = [{ listen: "test", script: { type: "text/javascript", exec: script.trimEnd().split("\n") } }];
    if (step.poll) {
      // Wait between polls (not before the first one).
      const wait = [
        "// Polling: wait {{pollMs}} ms before every repeat of this request.",
        'if (Number(pm.collectionVariables.get("polls") || 0) > 0) {',
        '  setTimeout(() => {}, Number(pm.variables.get("pollMs") || 1000));',
        "}",
      ];
      event.unshift({ listen: "prerequest", script: { type: "text/javascript", exec: wait } });
    }
    return { id: stableId("flow", step.name), name: step.name, event, request };
  });
  const first = [
    "// One Idempotency-Key prefix per run of the flow (replays within the run reuse it).",
    'if (pm.info.requestName === "' + flow.steps[0].name + '") {',
    '  pm.collectionVariables.set("flowKey", "postman-" + pm.variables.replaceIn("{{$guid}}"));',
    '  pm.collectionVariables.set("polls", 0);',
    "}",
  ];
  return {
    folder: { name: "Main flow", description: flow.description, item: items },
    prerequest: first,
  };
}

async function build() {
  const spec = JSON.parse(readFileSync(OPENAPI, "utf8"));
  const generated = stabilise(await convert(spec));
  const { folder, prerequest } = flowFolder(spec);
  const collection = {
    info: {
      _postman_id: stableId("tradeopt collection"),
      name: "tradeopt API",
      description:
        "Generated by tools/api/postman.mjs (`make postman`) from the merged OpenAPI " +
        "(/api/v1/openapi.json) with openapi-to-postmanv2, plus the hand-written, tested " +
        '"Main flow" of examples/postman/flow/. Do not edit: change the flow or the services and ' +
        "regenerate. Set baseUrl and apiKey in the environment (tradeopt.postman_environment.json).",
      schema: "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
    },
    auth: { type: "bearer", bearer: [{ key: "token", value: "{{apiKey}}", type: "string" }] },
    event: [{ listen: "prerequest", script: { type: "text/javascript", exec: prerequest } }],
    item: [folder, ...generated.item],
    variable: [
      { key: "flowKey", value: "" },
      { key: "polls", value: "0" },
      { key: "datasetId", value: "" },
      { key: "runId", value: "" },
      { key: "modelId", value: "" },
      { key: "evaluationId", value: "" },
    ],
  };
  const environment = {
    id: stableId("tradeopt environment"),
    name: "tradeopt local fleet",
    values: [
      { key: "baseUrl", value: "http://localhost:8080", type: "default", enabled: true },
      { key: "apiKey", value: "", type: "secret", enabled: true },
      { key: "timesteps", value: "2048", type: "default", enabled: true },
      { key: "maxPolls", value: "600", type: "default", enabled: true },
      { key: "pollMs", value: "1000", type: "default", enabled: true },
    ],
    _postman_variable_scope: "environment",
  };
  return {
    [COLLECTION]: JSON.stringify(collection, null, 1) + "\n",
    [ENVIRONMENT]: JSON.stringify(environment, null, 1) + "\n",
  };
}

const check = process.argv.includes("--check");
const files = await build();
let stale = 0;
for (const [path, text] of Object.entries(files)) {
  if (check) {
    let current = "";
    try {
      current = readFileSync(path, "utf8");
    } catch {}
    if (current !== text) {
      console.error(`${path} is stale: run \`make postman\``);
      stale += 1;
    }
  } else {
    writeFileSync(path, text);
    console.log(`postman: wrote ${path}`);
  }
}
process.exit(stale ? 1 : 0);
