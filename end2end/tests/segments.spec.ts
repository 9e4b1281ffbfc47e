// Segments as a product person builds them: a nested condition in the
// builder with its live count, saved (named last), then used to filter the
// Users list and seen on a member's profile; the ad-hoc filter of the Users
// list and "Save as segment". The builder needs JavaScript.
import { test, expect, type Page } from "@playwright/test";
import { BASE_URL, keys } from "../e2e-env";
import { signInAt } from "../sign-in";
import { watchErrors } from "../watch";

// seg-0..9: plan Pro (0 3 6 9), Free (1 4 7), Team (2 5 8); seats i*10;
// features ["beta"] for 0 4 8, else ["export"].
test.beforeAll(async ({ request }) => {
  const batch = Array.from({ length: 10 }, (_, i) => ({
    user_id: `seg-${i}`,
    name: `Segcheck ${i}`,
    attributes: {
      seg_plan: ["Pro", "Free", "Team"][i % 3],
      seg_seats: i * 10,
      seg_features: i % 4 === 0 ? ["beta"] : ["export"],
    },
  }));
  const res = await request.post(`${BASE_URL}/api/v1/batch`, {
    headers: { Authorization: `Bearer ${keys().secret_key}` },
    data: { batch },
  });
  expect(res.status()).toBe(200);
});

const liveCount = (page: Page) => page.locator(".live-count strong");

/** Points rule `rule` at `attribute` through the picker's search. */
async function pick(page: Page, rule: ReturnType<Page["locator"]>, attribute: string) {
  await rule.locator(".picker-button").click();
  await page.getByLabel("Search attributes").fill(attribute);
  await page.locator(".picker-panel li button", { hasText: new RegExp(`${attribute}$`) }).click();
  await expect(rule).toHaveAttribute("data-attribute", attribute);
}

test("build a nested segment, watch the count, save it, filter the list, see it on a profile", async ({ page }) => {
  const errors = watchErrors(page);
  await signInAt(page, "/segments/new");
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await expect(page.getByRole("heading", { name: "New segment" })).toBeVisible();

  // Rule 1: seg_plan is any of Pro, Team -> 7 users.
  await page.getByRole("button", { name: "+ Rule" }).click();
  const first = page.locator(".rule").first();
  await pick(page, first, "seg_plan");
  await first.getByLabel("Operator").selectOption("in");
  const chip = first.getByLabel("Add a value");
  await chip.fill("pro");
  await chip.press("Enter");
  await chip.fill("Team");
  await chip.press("Enter");
  await expect(first.locator(".chip")).toHaveCount(2);
  await expect(liveCount(page)).toHaveAttribute("data-count", "7");
  await expect(page.locator(".preview-users li")).toHaveCount(7);

  // A nested "any" group: more than 70 seats, or the beta feature -> 0, 8, 9.
  await page.locator(".builder-tree > .group > .group-actions").getByRole("button", { name: "+ Group" }).click();
  const group = page.locator(".builder-tree .group .group");
  await expect(group).toHaveAttribute("data-kind", "any");
  const seats = group.locator(".rule").first();
  await pick(page, seats, "seg_seats");
  await seats.getByLabel("Operator").selectOption("gt");
  await seats.getByLabel("Value").fill("70");
  await expect(liveCount(page)).toHaveAttribute("data-count", "2");
  await group.getByRole("button", { name: "+ Rule" }).click();
  const beta = group.locator(".rule").nth(1);
  await pick(page, beta, "seg_features");
  await beta.getByLabel("Operator").selectOption("contains");
  await beta.getByLabel("Value").fill("BETA");
  await expect(liveCount(page)).toHaveAttribute("data-count", "3");

  // Another operator, another count ("contains all of" nothing yet: all 7).
  await beta.getByLabel("Operator").selectOption("contains_all");
  await expect(beta.getByLabel("Add a value")).toBeVisible();
  await expect(liveCount(page)).toHaveAttribute("data-count", "7");
  await beta.getByLabel("Operator").selectOption("contains");
  await beta.getByLabel("Value").fill("BETA");
  await expect(liveCount(page)).toHaveAttribute("data-count", "3");

  // A wrong value is named at its rule, and the count waits for a fix.
  const outer = page.locator(".builder-tree > .group > .group-actions");
  await outer.getByRole("button", { name: "+ Rule" }).click();
  const bad = page.locator(".builder-tree > .group > .items > .item > .rule").nth(1);
  await pick(page, bad, "seg_plan");
  await bad.getByLabel("Operator").selectOption("matches");
  await bad.getByLabel("Value").fill("([");
  await expect(bad.locator(".rule-error")).toContainText("regular expression");
  await bad.locator("xpath=..").getByRole("button", { name: "Remove" }).click();
  await expect(page.locator(".rule-error")).toHaveCount(0);
  await expect(liveCount(page)).toHaveAttribute("data-count", "3");

  // Named last.
  await page.getByRole("button", { name: "Save segment…" }).click();
  await page.getByLabel("Name").fill("E2E nested");
  await page.getByLabel("Description").fill("Paying, and big or trying beta");
  await page.getByLabel("Icon (an emoji)").fill("🧪");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await expect(page).toHaveURL(`${BASE_URL}/segments`);
  const saved = page.locator("tr[data-segment='E2E nested']");
  await expect(saved.locator("td.num a")).toHaveAttribute("data-count", "3");
  await expect(saved).toContainText("Paying, and big or trying beta");

  // The Users list filtered by it.
  await saved.locator("td.num a").click();
  await expect(page).toHaveURL(/\/users\?segment=\d+/);
  await expect(page.locator(".total")).toContainText("3 users in the segment E2E nested");
  await expect(page.locator("table.users tbody tr")).toHaveCount(3);
  const names = (await page.locator("table.users tbody .who").allTextContents()).sort();
  expect(names).toEqual(["Segcheck 0", "Segcheck 8", "Segcheck 9"]);

  // A member's profile lists it; a non-member's does not.
  await page.locator("table.users tbody .who", { hasText: "Segcheck 8" }).click();
  await expect(page.locator(".in-segments")).toContainText("E2E nested");
  await signInAt(page, "/users?q=Segcheck%201&sort=name");
  await page.locator("table.users tbody .who", { hasText: /^Segcheck 1$/ }).click();
  await expect(page.locator(".in-segments")).toContainText("In no segment.");

  // Duplicate, then delete the copy.
  await signInAt(page, "/segments");
  await saved.getByRole("button", { name: "Duplicate" }).click();
  const copy = page.locator("tr[data-segment='E2E nested (copy)']");
  await expect(copy.locator("td.num a")).toHaveAttribute("data-count", "3");
  await copy.getByRole("button", { name: "Delete E2E nested (copy)" }).click();
  await expect(copy).toHaveCount(0);
  await expect(saved).toHaveCount(1);
  expect(errors).toEqual([]);
});

test("filter the Users list ad hoc, then save the filter as a segment", async ({ page }) => {
  const errors = watchErrors(page);
  await signInAt(page, "/users");
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await page.locator(".filter-panel summary").click();
  await page.locator(".filter-panel").getByRole("button", { name: "+ Rule" }).click();
  const rule = page.locator(".filter-panel .rule").first();
  await pick(page, rule, "seg_plan");
  await rule.getByLabel("Operator").selectOption("is");
  await rule.getByLabel("Value").fill("free");
  await expect(liveCount(page)).toHaveAttribute("data-count", "3");
  await page.getByRole("link", { name: "Apply filter" }).click();
  await expect(page).toHaveURL(/filter=/);
  await expect(page.locator(".total")).toContainText("3 users matching the filter");
  await expect(page.locator("table.users tbody tr")).toHaveCount(3);
  // The panel keeps the filter; "Save as segment" carries it to the editor.
  await page.getByRole("link", { name: "Save as segment" }).click();
  await expect(page).toHaveURL(/\/segments\/new\?filter=/);
  await expect(page.locator(".rule").first()).toHaveAttribute("data-attribute", "seg_plan");
  await expect(liveCount(page)).toHaveAttribute("data-count", "3");
  expect(errors).toEqual([]);
});
