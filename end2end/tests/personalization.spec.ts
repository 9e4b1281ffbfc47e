// Personalization as an author uses it: write content with variables
// (inserted from the picker, a fallback edited on its chip), preview it for
// a user who has the values and one who lacks them, read the warnings, and
// see that a hostile attribute value stays text.
import { test, expect } from "@playwright/test";
import { BASE_URL, keys } from "../e2e-env";
import { signInAt } from "../sign-in";
import { watchErrors } from "../watch";

test.beforeAll(async ({ request }) => {
  const batch = [
    { user_id: "pers-1", name: "Pia Persona", attributes: { pers_plan: "Gold", pers_bio: "<script>window.__pwned = 1</script><b>bold</b>" } },
    { user_id: "pers-2", name: "Pat Persona", attributes: { pers_other: 1 } },
  ];
  const res = await request.post(`${BASE_URL}/api/v1/batch`, {
    headers: { Authorization: `Bearer ${keys().secret_key}` },
    data: { batch },
  });
  expect(res.status()).toBe(200);
  const seg = await request.post(`${BASE_URL}/api/v1/segments`, {
    headers: { Authorization: `Bearer ${keys().secret_key}` },
    data: { name: "E2E gold", condition: { attribute: "pers_plan", op: "is", value: "gold" } },
  });
  expect([201, 409]).toContain(seg.status());
});

test("write content with chips and a fallback, preview it for two users, read the warnings", async ({ page }) => {
  const errors = watchErrors(page);
  await signInAt(page, "/personalization");
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await page.getByRole("link", { name: "New content" }).click();
  await expect(page.getByRole("heading", { name: "New content" })).toBeVisible();

  await page.getByLabel("Name", { exact: true }).fill("E2E renewal");
  await page.getByLabel("Title").fill("Hi {firstName|there}");
  const body = page.getByLabel("Body");
  await body.fill("Your plan is ");
  // The picker inserts a chip at the caret of the field last used.
  await page.getByLabel("Search variables").fill("pers_");
  await page.getByRole("button", { name: "Insert pers_plan" }).click();
  await expect(body).toHaveValue("Your plan is {pers_plan}");
  const bodyChips = page.locator(".field").filter({ has: body }).locator(".chips-line");
  await expect(bodyChips.locator(".var-chip")).toHaveAttribute("data-variable", "pers_plan");
  // The fallback is edited on the chip.
  await bodyChips.getByLabel("Fallback of pers_plan").fill("a free one");
  await bodyChips.getByLabel("Fallback of pers_plan").press("Tab");
  await expect(body).toHaveValue("Your plan is {pers_plan|a free one}");
  await page.getByLabel("Button label").fill("{pers_bio|Read more}");
  await page.getByLabel("Link URL").fill("https://example.com/{shoe_size}");

  // Previewed for a user who has every value: the hostile value is text.
  await page.getByLabel("Preview as").fill("Pia Persona");
  await expect(page.locator(".preview-as strong")).toHaveText("Pia Persona");
  await expect(page.locator(".rendered-title .rendered-text")).toHaveText("Hi Pia");
  await expect(page.locator(".rendered-body .rendered-text")).toHaveText("Your plan is Gold");
  await expect(page.locator(".rendered-button .rendered-text")).toHaveText("<script>window.__pwned = 1</script><b>bold</b>");
  await expect(page.locator(".rendered b, .rendered script")).toHaveCount(0);
  expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
  await expect(page.locator(".warnings")).toContainText("Unknown variable {shoe_size}: no user has it");
  await expect(page.locator(".warnings")).not.toContainText("This user lacks {pers_plan}");

  // And for one who lacks them: fallbacks, flagged.
  await page.getByLabel("Preview as").fill("Persona");
  await expect(page.locator(".preview-as")).toContainText("of 2");
  if ((await page.locator(".preview-as strong").textContent()) !== "Pat Persona") {
    await page.getByRole("button", { name: "Next user" }).click();
  }
  await expect(page.locator(".preview-as strong")).toHaveText("Pat Persona");
  await expect(page.locator(".rendered-body .rendered-text")).toHaveText("Your plan is a free one");
  await expect(page.locator(".rendered-body mark.lacking")).toHaveAttribute("title", /has no pers_plan/);
  await expect(page.locator(".rendered-button .rendered-text")).toHaveText("Read more");
  await expect(page.locator(".warnings")).toContainText("This user lacks {pers_plan}");

  // Who lacks each variable, across the workspace.
  await expect(page.locator("table.coverage tr[data-variable='shoe_size'] td")).toContainText("100%");
  const lacking = Number(await page.locator("table.coverage tr[data-variable='pers_plan']").getAttribute("data-lacking"));
  expect(lacking).toBeGreaterThan(0);
  // ... and within a segment, whose random member is the preview's user.
  await page.getByLabel("Segment").selectOption({ label: "E2E gold" });
  await expect(page.locator("table.coverage tr[data-variable='pers_plan']")).toHaveAttribute("data-lacking", "0");
  await expect(page.locator("table.coverage tr[data-variable='pers_plan'] td")).toHaveText("0% (0 of 1)");
  await page.getByLabel("Preview as").fill("");
  await page.getByRole("button", { name: "Random member" }).click();
  await expect(page.locator(".preview-as strong")).toHaveText("Pia Persona");
  await expect(page.locator(".preview-as")).toContainText("1 of 1");

  // Saved, listed, opened again unchanged, deleted.
  await page.getByRole("button", { name: "Save content" }).click();
  await expect(page).toHaveURL(`${BASE_URL}/personalization`);
  const row = page.locator("tr[data-content='E2E renewal']");
  await expect(row).toContainText("Hi {firstName|there}");
  await row.getByRole("link", { name: "Edit" }).click();
  await expect(page.getByLabel("Body")).toHaveValue("Your plan is {pers_plan|a free one}");
  await signInAt(page, "/personalization");
  await row.getByRole("button", { name: "Delete E2E renewal" }).click();
  await expect(row).toHaveCount(0);
  expect(errors).toEqual([]);
});

test("a malformed template is refused with where and what", async ({ page }) => {
  const errors = watchErrors(page);
  await signInAt(page, "/personalization/new");
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await page.getByLabel("Name", { exact: true }).fill("E2E broken");
  await page.getByLabel("Title").fill("Hi {firstName");
  await expect(page.locator(".field").filter({ has: page.getByLabel("Title") }).getByRole("alert")).toContainText("line 1, column 4");
  await page.getByRole("button", { name: "Save content" }).click();
  await expect(page.locator(".content-form > .form-message")).toContainText("Title: line 1, column 4");
  await expect(page).toHaveURL(/\/personalization\/new$/);
  expect(errors).toEqual([]);
});
