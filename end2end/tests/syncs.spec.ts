// Pull syncs: a fake HubSpot (node's http module, on a free local port)
// answers CRM v3 list pages; HubSpot is set up in Settings > Integrations
// with its base URL, a token and a field mapping, a Full sync runs with its
// progress bar and ends with its counts, and the synced attribute shows
// HubSpot's logo in the profile's Source column. A bad token and bad input
// are refused with a clear message.
import { test, expect, type Page } from "@playwright/test";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { BASE_URL, keys } from "../e2e-env";
import { signInAt } from "../sign-in";
import { watchErrors } from "../watch";

const TOKEN = "pat-na1-e2e-token-1234";
const CONTACTS = Array.from({ length: 5 }, (_, i) => ({
  id: String(900 + i),
  email: i < 2 ? `sync-e2e-${i}@example.com` : `stranger-${i}@example.com`,
  plan: ["Pro", "Team", "Free", "Free", "Free"][i],
  updatedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
}));

let server: http.Server;
let hubspotUrl = "";
const seen: string[] = [];

test.beforeAll(async ({ request }) => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    seen.push(`${req.method} ${url.pathname} ${req.headers.authorization ?? ""}`);
    res.setHeader("Content-Type", "application/json");
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.statusCode = 401;
      res.end(JSON.stringify({ status: "error", message: "Authentication credentials not found.", category: "INVALID_AUTHENTICATION" }));
      return;
    }
    if (req.method === "POST" && url.pathname === "/crm/v3/objects/contacts/search") {
      // A full sync first counts the records with a search for nothing.
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const asked = JSON.parse(body);
        if (asked.filterGroups) {
          res.statusCode = 400;
          res.end(JSON.stringify({ status: "error", message: "this fake only counts" }));
          return;
        }
        res.end(JSON.stringify({ total: CONTACTS.length, results: [], paging: { next: { after: "1" } } }));
      });
      return;
    }
    if (req.method !== "GET" || url.pathname !== "/crm/v3/objects/contacts") {
      res.statusCode = 404;
      res.end(JSON.stringify({ status: "error", message: `no route ${req.method} ${url.pathname}` }));
      return;
    }
    const properties = (url.searchParams.get("properties") ?? "").split(",");
    const after = Number(url.searchParams.get("after") ?? "0");
    const page = CONTACTS.slice(after, after + 2).map((c) => ({
      id: c.id,
      properties: Object.fromEntries(properties.map((p) => [p, (c as Record<string, string>)[p] ?? null])),
      createdAt: c.updatedAt,
      updatedAt: c.updatedAt,
      archived: false,
    }));
    const body: Record<string, unknown> = { results: page };
    if (after + 2 < CONTACTS.length) body.paging = { next: { after: String(after + 2) } };
    // Slow enough that the progress bar is seen.
    setTimeout(() => res.end(JSON.stringify(body)), 400);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  hubspotUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const auth = { Authorization: `Bearer ${keys().secret_key}` };
  for (const i of [0, 1]) {
    const res = await request.post(`${BASE_URL}/api/v1/identify`, {
      headers: auth,
      data: { user_id: `sync-e2e-${i}`, email: `sync-e2e-${i}@example.com` },
    });
    expect(res.status()).toBe(200);
  }
});

test.afterAll(async () => {
  await new Promise((ok) => server.close(ok));
});

function card(page: Page) {
  return page.locator("article[data-sync='hubspot']");
}

async function fillHubSpot(page: Page, token: string) {
  const c = card(page);
  await c.getByLabel("Base URL").fill(hubspotUrl);
  await c.getByLabel("Private app access token").fill(token);
  await c.getByLabel("Object").selectOption("contacts");
  await c.getByLabel("Remote field", { exact: true }).fill("email");
  await c.getByLabel("Remote field 1").fill("plan");
  await c.getByLabel("Attribute 1").fill("crm_plan");
}

test("HubSpot: set up, full sync with progress, the attribute shows HubSpot's logo", async ({ page }) => {
  const errors = watchErrors(page);
  await signInAt(page, "/settings");
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  const c = card(page);
  await expect(c.getByRole("heading", { name: "HubSpot" })).toBeVisible();

  // Bad input is refused with what to fix; nothing saved.
  await fillHubSpot(page, TOKEN);
  await c.getByLabel("Attribute 1").fill("email");
  await c.getByRole("button", { name: "Save HubSpot" }).click();
  await expect(c.getByRole("alert")).toContainText("row 1: `email` is a native field");
  await expect(c.locator("[data-token-hint]")).toHaveText("No token saved yet.");

  // A second row, added then removed, and the good settings saved.
  await c.getByLabel("Attribute 1").fill("crm_plan");
  await c.getByRole("button", { name: "Add a field" }).click();
  await c.getByLabel("Remote field 2").fill("bad field!");
  await c.getByRole("button", { name: "Remove row 2" }).click();
  await expect(c.getByLabel("Remote field 2")).toHaveCount(0);
  await c.getByRole("button", { name: "Save HubSpot" }).click();
  await expect(c.getByRole("status").filter({ hasText: "Saved." })).toBeVisible();
  // The token is never shown again, only its last characters.
  await expect(c.locator("[data-token-hint]")).toHaveText("Saved token: ••••••••1234");
  await expect(c.getByLabel("Private app access token")).toHaveValue("");
  await expect(c.locator("[data-on]")).toHaveText("Off");

  await c.getByRole("button", { name: "Full sync" }).click();
  await expect(c.locator("[data-running] progress")).toBeVisible();
  await expect(c.locator("[data-running]")).toContainText(/Full sync running: \d of 5 records read/);
  const last = c.locator(".sync-last");
  await expect(last).toHaveAttribute("data-last-status", "ok", { timeout: 15_000 });
  await expect(c.locator("[data-running]")).toHaveCount(0);
  await expect(last.locator("[data-count='read']")).toHaveText("5");
  await expect(last.locator("[data-count='updated']")).toHaveText("2");
  await expect(last.locator("[data-count='not_matched']")).toHaveText("3");
  await expect(c.locator(".integration-log")).toContainText("3 records matched no user by email");
  expect(seen.filter((s) => s.startsWith("GET /crm/v3/objects/contacts")).length).toBe(3);
  await c.locator(".integration-log summary").click();
  await c.screenshot({ path: "test-results/syncs.png" });
  expect(seen.every((s) => s.endsWith(`Bearer ${TOKEN}`))).toBe(true);

  // The profile shows where the value came from.
  await signInAt(page, "/users?q=sync-e2e-0");
  await page.locator("table.users tbody .who").first().click();
  const row = page.locator("tr[data-attribute='crm_plan']");
  await expect(row).toContainText("Pro");
  await expect(row.locator(".source[data-source='hubspot'] img")).toHaveAttribute("alt", "HubSpot");
  expect(errors).toEqual([]);
});

test("HubSpot: a bad token fails the run with a clear error and changes nothing", async ({ page }) => {
  const errors = watchErrors(page);
  await signInAt(page, "/settings");
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  const c = card(page);
  await fillHubSpot(page, "pat-na1-revoked");
  // Switched on: the schedule may start the same failing run first.
  await c.getByLabel("Sync on an interval").check();
  await c.getByRole("button", { name: "Save HubSpot" }).click();
  await expect(c.locator("[data-token-hint]")).toHaveText("Saved token: ••••••••oked");
  await expect(c.locator("[data-on]")).toHaveText("On");
  await expect(c.locator("[data-next-sync]")).toContainText("Next sync on the interval:");
  await c.getByRole("button", { name: "Sync now" }).click();
  const last = c.locator(".sync-last");
  await expect(last).toHaveAttribute("data-last-status", "failed", { timeout: 15_000 });
  await expect(last.locator("[data-sync-error]")).toContainText("HubSpot refused the token (401");
  await expect(last.locator("[data-count='updated']")).toHaveText("0");
  expect(errors).toEqual([]);
});

test("Salesforce: the sign-in address is refused with what to use instead; nothing saved", async ({ page }) => {
  const errors = watchErrors(page);
  await signInAt(page, "/settings");
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  const c = page.locator("article[data-sync='salesforce']");
  await c.getByLabel("Instance URL").fill("https://login.salesforce.com");
  await c.getByLabel("OAuth access token").fill("00Dxx!token");
  await c.getByLabel("Remote field 1").fill("Plan__c");
  await c.getByLabel("Attribute 1").fill("sf_plan");
  await c.getByLabel("Read as 1").selectOption("string");
  await c.getByRole("button", { name: "Save Salesforce" }).click();
  await expect(c.getByRole("alert")).toContainText("login.salesforce.com is Salesforce's sign-in address: use your instance URL");
  await c.screenshot({ path: "test-results/syncs-salesforce.png" });
  await signInAt(page, "/settings");
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await expect(c.locator("[data-token-hint]")).toHaveText("No token saved yet.");
  await expect(c.getByLabel("Instance URL")).toHaveValue("");
  await c.getByRole("button", { name: "Sync now" }).click();
  await expect(c.getByRole("alert")).toContainText("save the settings first");
  expect(errors).toEqual([]);
});
