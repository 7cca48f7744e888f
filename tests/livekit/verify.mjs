// verify.mjs — checks a LiveKit access token with LiveKit's own TokenVerifier
// (livekit-server-sdk), and that the header's alg is exactly HS256 (the SDK's verifier
// also accepts HS512, which a LiveKit server refuses).
// usage: node verify.mjs API_KEY API_SECRET TOKEN [EXPECT_JSON]
// EXPECT_JSON: {"identity": "...", "name": "...", "room": "..."} checked against the claims.
// Prints one JSON line with the verified claims; exit 0 when valid, 1 otherwise.
import { TokenVerifier } from 'livekit-server-sdk';

const [apiKey, apiSecret, token, expectJson] = process.argv.slice(2);
function fail(msg) {
  console.log(JSON.stringify({ ok: false, error: msg }));
  process.exit(1);
}
if (!apiKey || !apiSecret || !token) fail('usage: node verify.mjs API_KEY API_SECRET TOKEN [EXPECT_JSON]');
let header;
try {
  header = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8'));
} catch (e) {
  fail('header is not JSON: ' + e.message);
}
if (header.alg !== 'HS256') fail('header alg is ' + header.alg + ', not HS256');
let claims;
try {
  claims = await new TokenVerifier(apiKey, apiSecret).verify(token);
} catch (e) {
  fail('TokenVerifier refused the token: ' + e.message);
}
if (expectJson) {
  const want = JSON.parse(expectJson);
  if (want.identity !== undefined && claims.sub !== want.identity) fail(`sub ${claims.sub} != ${want.identity}`);
  if (want.name !== undefined && claims.name !== want.name) fail(`name ${claims.name} != ${want.name}`);
  const v = claims.video || {};
  if (want.room !== undefined && v.room !== want.room) fail(`video.room ${v.room} != ${want.room}`);
  for (const g of ['roomJoin', 'canPublish', 'canSubscribe', 'canPublishData'])
    if (v[g] !== true) fail(`video.${g} is not true`);
  if (claims.iss !== apiKey) fail(`iss ${claims.iss} != ${apiKey}`);
}
console.log(JSON.stringify({ ok: true, claims }));
