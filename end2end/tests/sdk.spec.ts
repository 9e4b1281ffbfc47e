// The browser SDK (public/sdk.js) as a customer installs it: on a page of
// ANOTHER origin than userdeck, so CORS is really exercised, checked through
// the REST API with the secret key.
import { test, expect, type Page, type ConsoleMessage } from "@playwright/test";
import * as http from "node:http";
import * as fs from "node:fs";
import * as path from "node:path";
import { createHmac } from "node:crypto";
import type { AddressInfo } from "node:net";
import { BASE_URL, keys } from "../e2e-env";

const SDK_FILE = path.join(__dirname, "..", "..", "public", "sdk.js");
const JIMER_ID = /^j_[A-Za-z0-9]{22}$/;
// Development aid: USERDECK_E2E_LOCAL_SDK=1 serves public/sdk.js from the work
// tree instead of the copy embedded in the binary (which is only as new as the
// last release build).
const LOCAL_SDK = process.env.USERDECK_E2E_LOCAL_SDK === "1";

// --- the customer's site: a tiny static server on its own port --------------

const pages = new Map<string, string>();
let site: http.Server;
let siteOrigin = "";

test.beforeAll(async () => {
  site = http.createServer((req, res) => {
    const html = pages.get((req.url ?? "/").split("?")[0]);
    if (html === undefined) {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found");
      return;
    }
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" }).end(html);
  });
  await new Promise<void>((resolve) => site.listen(0, "127.0.0.1", resolve));
  siteOrigin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
  expect(siteOrigin).not.toBe(BASE_URL);
});

test.afterAll(async () => {
  await new Promise((resolve) => site.close(resolve));
});

test.beforeEach(async ({ page }) => {
  if (LOCAL_SDK) {
    await page.route(`${BASE_URL}/sdk.js`, (route) =>
      route.fulfill({ path: SDK_FILE, contentType: "application/javascript; charset=utf-8" }),
    );
  }
});

let pageCount = 0;

/** A customer page that queues `commands` (JS source) before the async SDK tag. */
function customerPage(commands: string): string {
  const url = `/page-${++pageCount}.html`;
  pages.set(
    url,
    `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Customer app</title>
<link rel="icon" href="data:,">
<script>
  window.userdeck = window.userdeck || [];
  window.USERDECK_KEY = ${JSON.stringify(keys().sdk_key)};
  window.__done = {};
${commands}
</script>
<script async src="${BASE_URL}/sdk.js"></script>
</head>
<body><h1>Customer app</h1></body>
</html>`,
  );
  return siteOrigin + url;
}

// --- helpers -----------------------------------------------------------------

async function api(method: string, url: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(BASE_URL + url, {
    method,
    headers: { Authorization: `Bearer ${keys().secret_key}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

async function getUser(userId: string): Promise<any> {
  const { status, json } = await api("GET", `/api/v1/users/${encodeURIComponent(userId)}`);
  expect(status, JSON.stringify(json)).toBe(200);
  return json;
}

async function search(q: string): Promise<any> {
  const { status, json } = await api("GET", `/api/v1/users?q=${encodeURIComponent(q)}`);
  expect(status, JSON.stringify(json)).toBe(200);
  return json;
}

function attribute(user: any, name: string): any {
  return (user.attributes as any[]).find((a) => a.name === name);
}

function userHash(userId: string): string {
  return createHmac("sha256", keys().identify_secret).update(userId).digest("hex");
}

async function storedJimerId(page: Page): Promise<string | null> {
  return page.evaluate(() => window.localStorage.getItem("userdeck:jimer_id"));
}

/** Waits until a page callback set `window.__done[key]`. */
async function waitDone(page: Page, key: string): Promise<void> {
  await page.waitForFunction((k) => (window as any).__done && (window as any).__done[k] !== undefined, key);
}

/** Runs `["get", "user:id"]` after everything pushed so far and returns its answer. */
async function currentUserId(page: Page): Promise<string | null> {
  return page.evaluate(
    () => new Promise<string | null>((resolve) => (window as any).userdeck.push(["get", "user:id", [resolve]])),
  );
}

function isTimestamp(v: unknown): boolean {
  return typeof v === "string" && v.length > 0 && !Number.isNaN(Date.parse(v));
}

// --- tests -------------------------------------------------------------------

test("userdeck serves sdk.js", async () => {
  const res = await fetch(`${BASE_URL}/sdk.js`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type") ?? "").toMatch(/javascript/);
  const body = await res.text();
  if (!LOCAL_SDK) {
    // The binary embeds public/ at build time: a mismatch means a stale build.
    expect(body, "the served sdk.js differs from public/sdk.js: rebuild the release binary").toBe(
      fs.readFileSync(SDK_FILE, "utf8"),
    );
  }
});

test("commands queued before load identify the visitor and fill the profile", async ({ page }) => {
  const sdkRequests: { url: string; method: string; contentType: string; body: any }[] = [];
  page.on("request", (req) => {
    if (req.url().startsWith(`${BASE_URL}/sdk/v1/`)) {
      sdkRequests.push({
        url: req.url().slice(BASE_URL.length),
        method: req.method(),
        contentType: req.headers()["content-type"] ?? "",
        body: req.postDataJSON(),
      });
    }
  });

  const url = customerPage(`
  userdeck.push(["do", "identify", ["e2e-user-1", function (result, error) {
    window.__done.identify = { result: result, error: error ? error.message : null };
  }, { userHash: ${JSON.stringify(userHash("e2e-user-1"))} }]]);
  userdeck.push(["set", "user:attributes", [
    { plan: "Pro", seats: 3, beta: true, signup: "2024-06-15", tools: ["a", "b"], temp: "removed later" },
    { refetchBoosted: true, removeUnspecified: false }
  ]]);
  // Positional booleans: refetchBoosted, removeUnspecified. Drops "temp".
  userdeck.push(["set", "user:attributes", [
    { plan: "Pro", seats: 3, beta: true, signup: "2024-06-15", tools: ["a", "b"] }, false, true
  ]]);
  userdeck.push(["set", "user:name", ["Eve Example"]]);
  userdeck.push(["set", "user:email", ["eve@example.com"]]);
  userdeck.push(["set", "user:language", ["fr"]]);
  userdeck.push(["get", "user:id", [function (id) { window.__done.userId = id; }]]);
  userdeck.push(["get", "user:attributes", [function (attrs, error) {
    window.__done.attributes = { attrs: attrs, error: error ? error.message : null };
  }]]);
`);
  await page.goto(url);
  await waitDone(page, "attributes");

  const done = await page.evaluate(() => (window as any).__done);
  const jimerId = await storedJimerId(page);
  expect(jimerId).toMatch(JIMER_ID);
  expect(done.identify).toEqual({ result: { jimer_id: jimerId, user_id: "e2e-user-1" }, error: null });
  expect(done.userId).toBe("e2e-user-1");
  expect(done.attributes.error).toBeNull();
  expect(done.attributes.attrs).toMatchObject({ plan: "Pro", seats: 3, beta: true, tools: ["a", "b"] });
  expect(String(done.attributes.attrs.signup)).toContain("2024-06-15");
  expect(done.attributes.attrs).not.toHaveProperty("temp");

  // Every call is a CORS simple request: POST, text/plain, key and jimer id in the body.
  expect(sdkRequests[0].url).toBe("/sdk/v1/visit");
  for (const r of sdkRequests) {
    expect(r.method).toBe("POST");
    expect(r.contentType).toMatch(/^text\/plain/);
    expect(r.body.key).toBe(keys().sdk_key);
    expect(r.body.jimer_id).toMatch(JIMER_ID);
  }
  expect(sdkRequests.map((r) => r.url)).toEqual([
    "/sdk/v1/visit",
    "/sdk/v1/identify",
    "/sdk/v1/update",
    "/sdk/v1/update",
    "/sdk/v1/update",
    "/sdk/v1/update",
    "/sdk/v1/update",
    "/sdk/v1/me",
  ]);
  expect(sdkRequests[1].body).toMatchObject({ user_id: "e2e-user-1", user_hash: userHash("e2e-user-1") });
  expect(sdkRequests[2].body.remove_unspecified ?? false).toBe(false);
  expect(sdkRequests[3].body.remove_unspecified).toBe(true);

  // What the server kept, seen through the REST API.
  const user = await getUser("e2e-user-1");
  expect(user.user_id).toBe("e2e-user-1");
  expect(user.jimer_id).toBe(jimerId);
  expect(user.name).toBe("Eve Example");
  expect(user.email).toBe("eve@example.com");
  expect(user.language).toBe("fr");
  expect(user.sessions).toBeGreaterThanOrEqual(1);
  expect(isTimestamp(user.first_seen), `first_seen ${user.first_seen}`).toBe(true);
  expect(isTimestamp(user.last_activity), `last_activity ${user.last_activity}`).toBe(true);

  const expected: [string, string, unknown][] = [
    ["plan", "string", "Pro"],
    ["seats", "number", 3],
    ["beta", "boolean", true],
    ["tools", "array", ["a", "b"]],
  ];
  for (const [name, type, value] of expected) {
    const a = attribute(user, name);
    expect(a, `attribute ${name}`).toBeTruthy();
    expect(a).toMatchObject({ type, value, source: "custom" });
    expect(isTimestamp(a.updated_at)).toBe(true);
  }
  const signup = attribute(user, "signup");
  expect(signup).toMatchObject({ type: "date", source: "custom" });
  expect(String(signup.value)).toContain("2024-06-15");
  expect(attribute(user, "temp"), "removeUnspecified should have removed temp").toBeUndefined();
});

test("commands pushed after load run in order; a throwing callback does not stop the queue", async ({ page }) => {
  const errors: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(msg.text());
  });
  await page.goto(customerPage(""));
  await page.waitForFunction(() => (window as any).userdeck && !Array.isArray((window as any).userdeck));

  const order = await page.evaluate(
    () =>
      new Promise<number[]>((resolve) => {
        const order: number[] = [];
        const ud = (window as any).userdeck;
        // A request, then a local answer: without the chain 2 would come first.
        ud.push(["get", "user:attributes", [() => order.push(1)]]);
        ud.push(["get", "user:id", [() => order.push(2)]]);
        ud.push(["get", "user:id", [() => { throw new Error("customer bug"); }]]);
        ud.push(["get", "user:attributes", [() => order.push(3)]]);
        ud.push(["get", "user:id", [() => { order.push(4); resolve(order); }]]);
      }),
  );
  expect(order).toEqual([1, 2, 3, 4]);
  expect(errors.filter((e) => e.includes("[userdeck]") && e.includes("customer bug"))).toHaveLength(1);
});

test("identify of an existing user folds the anonymous visitor into it", async ({ page }) => {
  const existingId = `e2e-existing-${Date.now()}`;
  const created = await api("POST", "/api/v1/identify", { user_id: existingId, attributes: { company: "Acme" } });
  expect(created.status, JSON.stringify(created.json)).toBe(200);
  const existingJimerId: string = created.json.jimer_id;
  expect(existingJimerId).toBeTruthy();

  // An anonymous visitor gives us an attribute before logging in.
  await page.goto(
    customerPage(`
  userdeck.push(["set", "user:attributes", [{ favorite_color: "blue" }]]);
  userdeck.push(["get", "user:id", [function (id) { window.__done.anonymous = id; }]]);
`),
  );
  await waitDone(page, "anonymous");
  expect(await page.evaluate(() => (window as any).__done.anonymous)).toBeNull();
  const anonymousJimerId = await storedJimerId(page);
  expect(anonymousJimerId).toMatch(JIMER_ID);
  expect(anonymousJimerId).not.toBe(existingJimerId);
  const before = await search(anonymousJimerId!);
  expect(before.total, "the anonymous profile should exist before identify").toBe(1);

  // Log in as the existing user ([userId, options] form).
  const id = await page.evaluate(
    ([userId, hash]) =>
      new Promise((resolve) => {
        const ud = (window as any).userdeck;
        ud.push(["do", "identify", [userId, { userHash: hash }]]);
        ud.push(["get", "user:id", [resolve]]);
      }),
    [existingId, userHash(existingId)],
  );
  expect(id).toBe(existingId);
  expect(await storedJimerId(page), "the SDK must adopt the existing user's jimer id").toBe(existingJimerId);

  const user = await getUser(existingId);
  expect(user.jimer_id).toBe(existingJimerId);
  expect(attribute(user, "company")).toMatchObject({ value: "Acme" });
  expect(attribute(user, "favorite_color")).toMatchObject({ value: "blue", source: "custom" });
  expect((await search(anonymousJimerId!)).total, "the anonymous profile should be gone").toBe(0);

  // Later calls land on the existing profile.
  const attrs: any = await page.evaluate(
    () =>
      new Promise((resolve) => {
        const ud = (window as any).userdeck;
        ud.push(["set", "user:attributes", [{ after_fold: "yes" }]]);
        ud.push(["get", "user:attributes", [resolve]]);
      }),
  );
  expect(attrs).toMatchObject({ company: "Acme", favorite_color: "blue", after_fold: "yes" });
});

test("a reload within 30 minutes adds no session; reset starts a new anonymous visitor", async ({ page }) => {
  const userId = `e2e-reload-${Date.now()}`;
  await page.goto(
    customerPage(`
  userdeck.push(["do", "identify", [${JSON.stringify(userId)}, function (r, e) { window.__done.identify = e ? e.message : r; }]]);
`),
  );
  await waitDone(page, "identify");
  const jimerId = await storedJimerId(page);
  const first = await getUser(userId);
  expect(first.sessions).toBe(1);

  await page.reload();
  await waitDone(page, "identify");
  expect(await page.evaluate(() => (window as any).__done.identify)).toEqual({ jimer_id: jimerId, user_id: userId });
  expect(await storedJimerId(page)).toBe(jimerId);
  expect((await getUser(userId)).sessions, "a reload within 30 minutes is the same session").toBe(1);

  // Logout.
  const afterReset = await page.evaluate(
    () =>
      new Promise((resolve) => {
        const ud = (window as any).userdeck;
        ud.push(["do", "reset", []]);
        ud.push(["get", "user:id", [resolve]]);
      }),
  );
  expect(afterReset).toBeNull();
  const newJimerId = await storedJimerId(page);
  expect(newJimerId).toMatch(JIMER_ID);
  expect(newJimerId).not.toBe(jimerId);
  // reset registers a visit for the new anonymous visitor.
  const anon = await search(newJimerId!);
  expect(anon.total).toBe(1);
  expect(anon.users[0].jimer_id).toBe(newJimerId);
  expect(anon.users[0].user_id ?? null).toBeNull();
  expect(anon.users[0].sessions).toBe(1);
  // The logged-out user keeps its profile.
  expect((await getUser(userId)).jimer_id).toBe(jimerId);
});

test("a 429 answer is retried after Retry-After", async ({ page }) => {
  let refused = 0;
  await page.route(`${BASE_URL}/sdk/v1/update`, async (route) => {
    if (refused < 2) {
      refused++;
      await route.fulfill({
        status: 429,
        headers: {
          "Access-Control-Allow-Origin": "*",
          "Access-Control-Expose-Headers": "Retry-After",
          "Retry-After": "0",
        },
        contentType: "application/json",
        body: JSON.stringify({ error: { code: "rate_limited", message: "slow down" } }),
      });
    } else {
      await route.continue();
    }
  });
  const userId = `e2e-retry-${Date.now()}`;
  await page.goto(
    customerPage(`
  userdeck.push(["do", "identify", [${JSON.stringify(userId)}]]);
  userdeck.push(["set", "user:attributes", [{ retried: "yes" }]]);
  userdeck.push(["get", "user:attributes", [function (a, e) { window.__done.attrs = e ? e.message : a; }]]);
`),
  );
  await waitDone(page, "attrs");
  expect(refused).toBe(2);
  expect(await page.evaluate(() => (window as any).__done.attrs)).toMatchObject({ retried: "yes" });
});

test("the SDK causes no console errors; user:segments answers the visitor's segments; personalize renders for the visitor", async ({ page, request }) => {
  // A segment the visitor will be in once the page has set plan = Pro.
  const auth = { Authorization: `Bearer ${keys().secret_key}` };
  const seed = await request.post(`${BASE_URL}/api/v1/identify`, { headers: auth, data: { user_id: "e2e-seg-seed", attributes: { plan: "Free" } } });
  expect(seed.status()).toBe(200);
  const made = await request.post(`${BASE_URL}/api/v1/segments`, {
    headers: auth,
    data: { name: "E2E SDK Pro", condition: { attribute: "plan", op: "is", value: "pro" } },
  });
  expect([201, 409]).toContain(made.status());
  const listed = await (await request.get(`${BASE_URL}/api/v1/segments`, { headers: auth })).json();
  const segment = listed.segments.find((s: { name: string }) => s.name === "E2E SDK Pro");

  const errors: string[] = [];
  const warnings: string[] = [];
  page.on("console", (msg: ConsoleMessage) => {
    const where = msg.location().url ?? "";
    if (msg.type() === "error") errors.push(`${msg.text()} (${where})`);
    if (msg.type() === "warning") warnings.push(msg.text());
  });
  page.on("pageerror", (err) => errors.push(`pageerror: ${err.message}`));

  await page.goto(
    customerPage(`
  function record(key) {
    return function (result, error) {
      window.__done[key] = { result: result === undefined ? null : result,
                             error: error ? { message: error.message, code: error.code } : null };
    };
  }
  userdeck.push(["do", "identify", ["e2e-console-user", record("identify")]]);
  userdeck.push(["set", "user:attributes", [{ plan: "Pro" }, true, false]]);
  userdeck.push(["get", "user:segments", [record("segments")]]);
  userdeck.push(["do", "personalize", ["Hello {plan|friend}", record("personalize")]]);
  userdeck.push(["do", "fly", []]);
  userdeck.push(["get", "user:attributes", [record("attributes")]]);
`),
  );
  await waitDone(page, "attributes");
  const done = await page.evaluate(() => (window as any).__done);
  expect(done.identify.error).toBeNull();
  expect(done.attributes.result).toMatchObject({ plan: "Pro" });

  expect(done.segments.error).toBeNull();
  expect(done.segments.result).toContainEqual({ id: segment.id, name: "E2E SDK Pro" });
  expect(done.personalize).toEqual({ result: { text: "Hello Pro", missing: [], unknown: [] }, error: null });
  expect(warnings.some((w) => w.includes('"do fly"') && w.includes("Valid commands"))).toBe(true);
  expect(errors).toEqual([]);
});

test("personalize puts the result into an element as text: a hostile value stays text", async ({ page }) => {
  const dialogs: string[] = [];
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await page.goto(
    customerPage(`
  var greeting = document.createElement("p");
  greeting.id = "greeting";
  document.documentElement.appendChild(greeting);
  userdeck.push(["set", "user:attributes", [{ bio: "<img src=x onerror=alert(1)><b>bold</b>" }]]);
  userdeck.push(["do", "personalize", ["Hi {firstName|there}: {bio}", "#greeting"]]);
  userdeck.push(["do", "personalize", ["{nope|fallback} {{braces}}", function (r, e) { window.__done.second = { r: r, e: e }; }]]);
  userdeck.push(["do", "personalize", ["{unclosed", function (r, e) { window.__done.bad = { r: r, e: e && { code: e.code, message: e.message } }; }]]);
`),
  );
  await waitDone(page, "bad");
  await expect(page.locator("#greeting")).toHaveText("Hi there: <img src=x onerror=alert(1)><b>bold</b>");
  await expect(page.locator("#greeting img, #greeting b")).toHaveCount(0);
  const done = await page.evaluate(() => (window as any).__done);
  expect(done.second.r).toEqual({ text: "fallback {braces}", missing: [], unknown: ["nope"] });
  expect(done.bad.r).toBeNull();
  expect(done.bad.e.code).toBe("invalid_template");
  expect(done.bad.e.message).toContain("line 1, column 1");
  expect(dialogs).toEqual([]);
});
