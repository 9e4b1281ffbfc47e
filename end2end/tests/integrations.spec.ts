// Receivers: each tool's real npm client, pointed at userdeck, sends user
// properties; the attributes arrive with that tool as their source. The
// integration is switched on in Settings, its key read there, and its log
// shows a value that conflicts with an attribute's type.
import { test, expect, type Page } from "@playwright/test";
import { Analytics } from "@segment/analytics-node";
import { PostHog } from "posthog-node";
import Mixpanel from "mixpanel";
import { init as ampInit, identify as ampIdentify, Identify, flush as ampFlush } from "@amplitude/analytics-node";
import { BASE_URL, keys } from "../e2e-env";
import { signInAt } from "../sign-in";
import { watchErrors } from "../watch";

/** Switches `kind` on in Settings > Integrations and answers its key. */
async function switchOn(page: Page, kind: string, label: string): Promise<string> {
  await signInAt(page, "/settings");
  const item = page.locator(`li[data-integration='${kind}']`);
  if ((await item.getAttribute("data-enabled")) !== "true") {
    await item.getByRole("button", { name: `Switch on ${label}` }).click();
  }
  await expect(item).toHaveAttribute("data-enabled", "true");
  await expect(item.locator("[data-address]")).toHaveText(`${BASE_URL}/integrations/${kind}`);
  return (await item.locator("[data-key]").textContent())!.trim();
}

async function user(userId: string) {
  const res = await fetch(`${BASE_URL}/api/v1/users/${encodeURIComponent(userId)}`, {
    headers: { Authorization: `Bearer ${keys().secret_key}` },
  });
  return { status: res.status, body: res.status === 200 ? await res.json() : null };
}

/** The user's attributes as {name: [value, source]}, once `name` has arrived. */
async function attributesOf(userId: string, name: string, clientErrors: unknown[] = []): Promise<Record<string, [unknown, string]>> {
  let out: Record<string, [unknown, string]> = {};
  await expect
    .poll(
      async () => {
        const u = await user(userId);
        out = Object.fromEntries((u.body?.attributes ?? []).map((a: any) => [a.name, [a.value, a.source]]));
        return name in out;
      },
      { message: `${userId} has ${name} (client errors: ${JSON.stringify(clientErrors)})`, timeout: 20_000 },
    )
    .toBe(true);
  return out;
}

test("Segment: the analytics-node client's identify traits arrive, with Segment's logo in the profile", async ({ page }) => {
  const errors = watchErrors(page);
  const key = await switchOn(page, "segment", "Segment");
  const analytics = new Analytics({ writeKey: key, host: BASE_URL, path: "/integrations/segment/v1/batch", flushAt: 1 });
  // The client retries and then gives up quietly: keep what it reports.
  const clientErrors: unknown[] = [];
  analytics.on("error", (e) => clientErrors.push(String((e as any)?.reason ?? e)));
  analytics.identify({ userId: "int-seg-1", traits: { name: "Sega Trait", email: "sega@example.com", int_plan: "Pro", company: { name: "Acme", seats: 12 } } });
  analytics.track({ userId: "int-seg-1", event: "Clicked" });
  await analytics.closeAndFlush();
  const attrs = await attributesOf("int-seg-1", "company.name", clientErrors);
  expect(attrs["int_plan"]).toEqual(["Pro", "segment"]);
  expect(attrs["company.name"]).toEqual(["Acme", "segment"]);
  expect(attrs["company.seats"]).toEqual([12, "segment"]);
  const u = (await user("int-seg-1")).body;
  expect([u.name, u.email]).toEqual(["Sega Trait", "sega@example.com"]);

  // A value the key's type cannot take is refused and logged, not dropped silently.
  const again = new Analytics({ writeKey: key, host: BASE_URL, path: "/integrations/segment/v1/batch", flushAt: 1 });
  again.identify({ userId: "int-seg-1", traits: { "company.seats": "lots" } });
  await again.closeAndFlush();
  await signInAt(page, "/settings");
  const item = page.locator("li[data-integration='segment']");
  await expect(item.locator(".integration-log")).toContainText("int-seg-1");
  await expect(item.locator(".integration-log")).toContainText("company.seats");
  expect((await attributesOf("int-seg-1", "company.seats"))["company.seats"]).toEqual([12, "segment"]);

  // The profile shows where the values came from.
  await signInAt(page, `/users?q=int-seg-1`);
  await page.locator("table.users tbody .who").first().click();
  const row = page.locator("tr[data-attribute='int_plan']");
  await expect(row.locator(".source[data-source='segment'] img")).toHaveAttribute("alt", "Segment");
  expect(errors).toEqual([]);
});

test("PostHog: posthog-node's $set, $set_once and $unset apply to the distinct id", async ({ page }) => {
  const key = await switchOn(page, "posthog", "PostHog");
  const ph = new PostHog(key, { host: `${BASE_URL}/integrations/posthog`, flushAt: 1, flushInterval: 0 });
  ph.identify({ distinctId: "int-ph-1", properties: { ph_plan: "Team", ph_old: "x", email: "ph@example.com" } });
  ph.capture({ distinctId: "int-ph-1", event: "upgraded", properties: { $set_once: { ph_first: "Team", ph_plan: "ignored" }, $unset: ["ph_old"] } });
  ph.capture({ distinctId: "int-ph-1", event: "again", properties: { $set_once: { ph_first: "Later" } } });
  await ph.shutdown();
  const attrs = await attributesOf("int-ph-1", "ph_first");
  expect(attrs["ph_plan"]).toEqual(["Team", "posthog"]);
  expect(attrs["ph_first"]).toEqual(["Team", "posthog"]);
  expect("ph_old" in attrs).toBe(false);
  expect((await user("int-ph-1")).body.email).toBe("ph@example.com");
});

test("Mixpanel: the mixpanel client's people.set, set_once and unset update the profile", async ({ page }) => {
  const key = await switchOn(page, "mixpanel", "Mixpanel");
  const url = new URL(BASE_URL);
  const mp = Mixpanel.init(key, { host: url.host, protocol: url.protocol.replace(":", ""), path: "/integrations/mixpanel" } as any);
  const call = (f: (cb: (e?: Error) => void) => void) => new Promise<void>((ok, ko) => f((e) => (e ? ko(e) : ok())));
  await call((cb) => mp.people.set("int-mp-1", { mp_plan: "Gold", $email: "mp@example.com", mp_tmp: 1 }, cb));
  await call((cb) => mp.people.set_once("int-mp-1", "mp_first", "Gold", cb));
  await call((cb) => mp.people.set_once("int-mp-1", "mp_first", "Silver", cb));
  await call((cb) => mp.people.unset("int-mp-1", "mp_tmp", cb));
  const attrs = await attributesOf("int-mp-1", "mp_first");
  expect(attrs["mp_plan"]).toEqual(["Gold", "mixpanel"]);
  expect(attrs["mp_first"]).toEqual(["Gold", "mixpanel"]);
  expect("mp_tmp" in attrs).toBe(false);
  expect((await user("int-mp-1")).body.email).toBe("mp@example.com");
});

test("Amplitude: @amplitude/analytics-node identify user properties arrive", async ({ page }) => {
  const key = await switchOn(page, "amplitude", "Amplitude");
  await ampInit(key, { serverUrl: `${BASE_URL}/integrations/amplitude/2/httpapi`, flushIntervalMillis: 50 }).promise;
  const id = new Identify();
  id.set("amp_plan", "Silver");
  id.setOnce("amp_first", "Silver");
  await ampIdentify(id, { user_id: "int-amp-1" }).promise;
  await ampFlush().promise;
  const attrs = await attributesOf("int-amp-1", "amp_first");
  expect(attrs["amp_plan"]).toEqual(["Silver", "amplitude"]);
  expect(attrs["amp_first"]).toEqual(["Silver", "amplitude"]);
});

test("a switched-off integration's key is refused", async () => {
  const res = await fetch(`${BASE_URL}/integrations/segment/v1/identify`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Basic ${Buffer.from("nope:").toString("base64")}` },
    body: JSON.stringify({ userId: "x", traits: { a: 1 } }),
  });
  expect(res.status).toBe(401);
  expect((await res.json()).error.code).toBe("unauthorized");
});
