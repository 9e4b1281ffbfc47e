// A user's profile: native fields, attributes with their types and sources,
// arrays as chips, long values folded, hostile values shown as text.
import { test, expect, type Page } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { BASE_URL, BIN, DATABASE_URL, keys } from "../e2e-env";
import { signInAt } from "../sign-in";
import { watchErrors } from "../watch";

const LONG = "lorem ipsum ".repeat(30).trim();
let jimer = "";
let synced: { jimer_id: string; attribute: string; source: string } | undefined;

test.beforeAll(async ({ request }) => {
  const auth = { Authorization: `Bearer ${keys().secret_key}` };
  const res = await request.post(`${BASE_URL}/api/v1/identify`, {
    headers: auth,
    data: {
      user_id: "profile-1",
      name: "Pat <b>Profile</b>",
      email: "pat@example.com",
      attributes: { plan: "Pro", seats: 12, beta: true, renews: "2026-06-15", tools: ["figma", "notion"], bio: LONG, note: "<script>window.__owned = 1</script>" },
    },
  });
  expect(res.status()).toBe(200);
  jimer = (await res.json()).jimer_id;
  // Demo users carry values synced from integrations (written beside the running server).
  execFileSync(BIN, ["demo", "--users", "40", "--seed", "7", "--database-url", DATABASE_URL], { env: { ...process.env, RUST_LOG: "warn" } });
  const list = await request.get(`${BASE_URL}/api/v1/users?limit=500`, { headers: auth });
  for (const u of (await list.json()).users) {
    const a = u.attributes.find((a: { source: string }) => a.source === "hubspot");
    if (a) {
      synced = { jimer_id: u.jimer_id, attribute: a.name, source: a.source };
      break;
    }
  }
  expect(synced).toBeTruthy();
});

async function signIn(page: Page, to: string) {
  await signInAt(page, to);
  await expect(page).toHaveURL(new RegExp(to.replace(/[?]/g, "\\?") + "$"));
}

const row = (page: Page, name: string) => page.locator(`tr[data-attribute="${name}"]`);

for (const js of [true, false]) {
  test.describe(js ? "with JavaScript" : "without JavaScript", () => {
    test.use({ javaScriptEnabled: js });

    test("attributes with types, sources and safe values", async ({ page }) => {
      const errors = watchErrors(page);
      await signIn(page, `/users/${jimer}`);
      await expect(page.getByRole("heading", { level: 1 })).toHaveText("Pat <b>Profile</b>");
      await expect(row(page, "email").locator("td").first()).toHaveText("pat@example.com");
      await expect(row(page, "email").getByText("Native")).toBeVisible();
      await expect(row(page, "seats").locator("td").nth(1)).toHaveText("number");
      await expect(row(page, "renews").locator("td").first()).toHaveText("15 Jun 2026");
      await expect(row(page, "renews").locator("td").nth(1)).toHaveText("date");
      await expect(row(page, "tools").locator(".chip")).toHaveText(["figma", "notion"]);
      await expect(row(page, "plan").getByRole("img", { name: "userdeck (SDK or API)" })).toBeVisible();
      await expect(row(page, "note").locator("td").first()).toHaveText("<script>window.__owned = 1</script>");
      expect(await page.evaluate(() => (window as unknown as { __owned?: number }).__owned)).toBeUndefined();
      // Long values fold; the full text is one click away.
      await expect(row(page, "bio").locator(".full")).toBeHidden();
      await row(page, "bio").locator("summary").click();
      await expect(row(page, "bio").locator(".full")).toHaveText(LONG);
      // The filter box narrows the table.
      await page.getByLabel("Filter attributes").fill("ren");
      await page.getByRole("button", { name: "Filter" }).click();
      await expect(page.locator("table.attributes tbody tr")).toHaveCount(1);
      if (js) await page.screenshot({ path: test.info().outputPath("profile.png"), fullPage: true });

      // An integration's value shows its logo.
      await page.goto(`${BASE_URL}/users/${synced!.jimer_id}`);
      await expect(row(page, synced!.attribute).getByRole("img", { name: "HubSpot" })).toBeVisible();
      // Unknown ids say so.
      await page.goto(`${BASE_URL}/users/j_nosuchvisitor1`);
      await expect(page.getByRole("heading", { level: 1 })).toHaveText("No such user");
      expect(errors).toEqual([]);
    });
  });
}
