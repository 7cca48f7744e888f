// validate.mjs — validates the OpenAPI document with @apidevtools/swagger-parser (structure
// against the official OpenAPI 3.1 schema, every $ref resolved), then checks that it still
// describes every endpoint and error code of docs/http-api.md.  Exit 0 on pass, 1 on fail.
import SwaggerParser from '@apidevtools/swagger-parser';

const file = process.argv[2];
if (!file) {
  console.error('usage: node validate.mjs openapi.yaml');
  process.exit(2);
}

const problems = [];
let api;
try {
  // validate() dereferences, so keep a separate parse for the raw document
  await SwaggerParser.validate(file);
  api = await SwaggerParser.parse(file);
} catch (e) {
  console.error(`openapi: FAIL: ${file} is not a valid OpenAPI document:\n${e.message}`);
  process.exit(1);
}

if (!/^3\.1\.\d+$/.test(api.openapi)) problems.push(`openapi version is ${api.openapi}, expected 3.1.x`);

// every endpoint of the contract, with its method
const want = {
  '/rooms/{room_id}/save': ['post'],
  '/rooms/{room_id}/state': ['get', 'delete'],
  '/rooms/{room_id}/versions': ['get'],
  '/livekit/token': ['post'],
  '/healthz': ['get'],
  '/readyz': ['get'],
  '/metrics': ['get'],
};
for (const [path, methods] of Object.entries(want)) {
  for (const m of methods) {
    if (!api.paths?.[path]?.[m]) problems.push(`missing operation ${m.toUpperCase()} ${path}`);
  }
}
// every error code the server uses has a Problem schema
const codes = ['not-found', 'method-not-allowed', 'unauthorized', 'bad-room-id',
  'unsupported-media-type', 'payload-too-large', 'malformed-json', 'invalid-document',
  'precondition-failed', 'bad-request', 'not-ready', 'service-unavailable', 'internal'];
const text = JSON.stringify(api.components?.schemas ?? {});
for (const c of codes) {
  if (!text.includes(`https://roomstate.dev/problems/${c}`)) problems.push(`no problem type for ${c}`);
}
// bearer security everywhere but the operations endpoints
if (api.components?.securitySchemes?.bearerAuth?.scheme !== 'bearer') problems.push('no bearer security scheme');
for (const p of ['/healthz', '/readyz', '/metrics']) {
  const sec = api.paths?.[p]?.get?.security;
  if (!Array.isArray(sec) || sec.length !== 0) problems.push(`${p} must need no token (security: [])`);
}
// every operation: error responses are problem documents
for (const [path, item] of Object.entries(api.paths ?? {})) {
  for (const [m, op] of Object.entries(item)) {
    if (typeof op !== 'object' || !op.responses) continue;
    if (!op.operationId) problems.push(`${m.toUpperCase()} ${path} has no operationId`);
    for (const [status, resp] of Object.entries(op.responses)) {
      if (!/^[45]/.test(status)) continue;
      let r = resp;
      if (r.$ref) r = api.components.responses[r.$ref.split('/').pop()];
      if (!r?.content?.['application/problem+json']) {
        problems.push(`${m.toUpperCase()} ${path} ${status} is not application/problem+json`);
      }
    }
  }
}

if (problems.length) {
  console.error(`openapi: FAIL: ${file}:`);
  for (const p of problems) console.error(`  - ${p}`);
  process.exit(1);
}
const ops = Object.values(api.paths).reduce((n, it) => n + Object.keys(it).filter((k) => it[k]?.responses).length, 0);
console.log(`openapi: PASS: ${file} is valid OpenAPI ${api.openapi} (${Object.keys(api.paths).length} paths, ${ops} operations, ${Object.keys(api.components.schemas).length} schemas)`);
