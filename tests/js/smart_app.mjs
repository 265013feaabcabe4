// A tiny SMART app built on the unchanged SMART JS client (`fhirclient`, node adapter),
// the way an app developer's backend would use the gateway. Driven by
// tests/fhircache/test_js_client.py:
//
//   GET /launch?iss=<gateway>/fhir  -> fhirclient's standalone launch (discovery, PKCE S256)
//   GET /callback?code&state        -> fhirclient exchanges the code; answers its context
//   GET /read                       -> with the stored token: read the patient, search EOBs
//
// Env: PORT, CLIENT_ID, SCOPE. Sessions are in memory, keyed by a cookie (the node
// adapter keeps its state in `request.session`).
import http from "node:http";
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const smart = require("fhirclient/lib/entry/node");

const sessions = new Map();

function withSession(req, res) {
  const match = /(?:^|;\s*)sid=([\w-]+)/.exec(req.headers.cookie || "");
  let sid = match && sessions.has(match[1]) ? match[1] : null;
  if (!sid) {
    sid = randomUUID();
    sessions.set(sid, {});
    res.setHeader("Set-Cookie", `sid=${sid}; Path=/; HttpOnly`);
  }
  req.session = sessions.get(sid);
}

function answer(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

async function route(req, res) {
  const url = new URL(req.url, `http://${req.headers.host}`);
  withSession(req, res);
  if (url.pathname === "/launch") {
    return smart(req, res).authorize({
      clientId: process.env.CLIENT_ID,
      scope: process.env.SCOPE,
      redirectUri: "/callback",
      iss: url.searchParams.get("iss"),
      pkceMode: "required",
    });
  }
  if (url.pathname === "/callback") {
    const client = await smart(req, res).ready();
    return answer(res, 200, {
      patient: client.getPatientId(),
      scope: client.state.tokenResponse.scope,
      consent_id: client.state.tokenResponse.consent_id,
    });
  }
  if (url.pathname === "/read") {
    const client = await smart(req, res).ready();
    const patient = await client.patient.read();
    const eobs = await client.request(
      `ExplanationOfBenefit?patient=${encodeURIComponent(client.getPatientId())}&_count=2`,
      { pageLimit: 0, flat: true },
    );
    return answer(res, 200, { patient, eob_ids: eobs.map((r) => r.id) });
  }
  return answer(res, 404, { error: "not found" });
}

const server = http.createServer((req, res) => {
  route(req, res).catch((error) => {
    answer(res, 500, { error: String(error && error.message ? error.message : error) });
  });
});
server.listen(Number(process.env.PORT), "127.0.0.1", () => {
  console.log(`smart app listening on ${process.env.PORT}`);
});
