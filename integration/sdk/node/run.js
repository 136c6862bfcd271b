'use strict';
// Drives real Node WeChat SDKs, unchanged, for integration/sdk: each
// instance is its own SDK object with its own in-memory token cache, as
// separate processes would have. Config (JSON file, argv[2]):
//   {"durationMs":N, "pauseMs":N, "instances":[{
//      "name", "sdk": "co-wechat-api" | "wechat-jssdk", "appid", "secret",
//      "router": "http://127.0.0.1:port"   (the instance's egress: its token and
//                                           ticket calls go to tokend or to
//                                           the upstream, all else upstream),
//      "renewMs": N                        (wechat-jssdk: see below),
//      "signURL", "bearer"                 (wechat-jssdk behind tokend: compare
//                                           signatures with tokend's route)}]}
// Prints one JSON object with the counts of every instance.
const fs = require('fs');
const http = require('http');
const API = require('co-wechat-api');
// wechat-jssdk's own modules; its index also loads the MongoDB store,
// which these runs do not use.
const JSSDK = require('wechat-jssdk/lib/JSSDK');
const Store = require('wechat-jssdk/lib/store/Store');
const utils = require('wechat-jssdk/lib/utils');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const sleep = ms => new Promise(r => setTimeout(r, ms));

// request sends one HTTP request and resolves with the parsed JSON answer.
function request(method, url, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: headers || {}, timeout: 10000 }, res => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', c => (data += c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(data));
        } catch (e) {
          reject(new Error(`${method} ${url}: status ${res.statusCode}, not JSON`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

function count(m, k) {
  m[k] = (m[k] || 0) + 1;
}

// coWechatAPI: co-wechat-api's default in-memory token and ticket stores;
// its API base is the instance's egress (api.prefix, a public field).
async function coWechatAPI(inst, deadline, res) {
  const api = new API(inst.appid, inst.secret);
  api.prefix = inst.router + '/cgi-bin/';
  for (let i = 0; Date.now() < deadline; i++) {
    res.calls++;
    try {
      await api.getIp();
    } catch (e) {
      res.failed++;
      count(res.codes, String(e.code || e.name));
    }
    if (i % 5 === 0) {
      res.ticketCalls++;
      try {
        await api.getJsConfig({ url: 'http://127.0.0.1:3000/page' });
      } catch (e) {
        res.ticketFailed++;
        count(res.codes, 'ticket:' + String(e.code || e.name));
      }
    }
    await sleep(cfg.pauseMs);
  }
}

// wechatJSSDK: wechat-jssdk keeps its token and ticket for a fixed 119
// minutes; the run stands for that timer by calling the SDK's own renewal
// (getGlobalTokenAndTicket(true)) every renewMs. Its accessTokenUrl and
// ticketUrl options point at the instance's egress. The token it holds
// makes the instance's API calls (getcallbackip). Behind tokend, its
// signature of a page (its own generateSignature, with tokend's nonce and
// timestamp) must equal tokend's POST /v1/apps/{app}/signature.
async function wechatJSSDK(inst, deadline, res) {
  const sdk = new JSSDK({
    appId: inst.appid,
    appSecret: inst.secret,
    accessTokenUrl: inst.router + '/cgi-bin/token',
    ticketUrl: inst.router + '/cgi-bin/ticket/getticket',
    store: new Store(),
    clearCountInterval: 24 * 3600 * 1000,
  });
  let nextRenew = 0;
  for (let i = 0; Date.now() < deadline; i++) {
    if (Date.now() >= nextRenew) {
      nextRenew = Date.now() + inst.renewMs;
      try {
        await sdk.getGlobalTokenAndTicket(true);
      } catch (e) {
        res.ticketFailed++;
        count(res.codes, 'renew:' + String(e.errcode || e.name));
      }
    }
    const g = (await sdk.store.getGlobalToken()) || {};
    res.calls++;
    try {
      const ans = await request('GET', inst.router + '/cgi-bin/getcallbackip?access_token=' + encodeURIComponent(g.accessToken || ''));
      if (ans.errcode) {
        res.failed++;
        count(res.codes, String(ans.errcode));
      }
    } catch (e) {
      res.failed++;
      count(res.codes, e.message);
    }
    if (inst.signURL && g.jsapi_ticket && i % 5 === 0) {
      await compareSignature(inst, g, res);
    }
    await sleep(cfg.pauseMs);
  }
}

const page = 'http://127.0.0.1:3000/page?id=1&q=%E4%BD%A0&empty=#section';

async function compareSignature(inst, g, res) {
  const body = JSON.stringify({ url: page });
  const t = await request('POST', inst.signURL, body, { Authorization: 'Bearer ' + inst.bearer, 'Content-Type': 'application/json' });
  const nonce = JSSDK.createNonceStr;
  const ts = utils.timestamp;
  let s;
  JSSDK.createNonceStr = () => t.nonce_str;
  utils.timestamp = () => String(t.timestamp);
  try {
    s = JSSDK.generateSignature(page, g.accessToken, g.jsapi_ticket);
  } finally {
    JSSDK.createNonceStr = nonce;
    utils.timestamp = ts;
  }
  res.signatures++;
  if (s.signature !== t.signature || s.url !== t.url || !t.signature) {
    res.signatureMismatches++;
    if (!res.firstMismatch) res.firstMismatch = { sdkURL: s.url, tokendURL: t.url, tokend: t.error || 'signature differs' };
  }
}

async function main() {
  const deadline = Date.now() + cfg.durationMs;
  const results = cfg.instances.map(inst => ({
    name: inst.name, calls: 0, failed: 0, ticketCalls: 0, ticketFailed: 0,
    signatures: 0, signatureMismatches: 0, codes: {},
  }));
  await Promise.all(cfg.instances.map((inst, i) => {
    const run = inst.sdk === 'co-wechat-api' ? coWechatAPI : wechatJSSDK;
    return run(inst, deadline, results[i]).catch(e => {
      results[i].crashed = String(e && e.stack || e);
    });
  }));
  process.stdout.write(JSON.stringify({ instances: results }) + '\n');
  process.exit(0); // wechat-jssdk keeps an interval timer
}

main();
