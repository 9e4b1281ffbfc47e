// CSV import as a product person does it: upload a file, see every column's
// type and every bad row before anything is written, change the mapping,
// import with a progress bar, and find the import in the history and its
// values (source "import") on the profiles. Both delimiters, a byte-order
// mark, identification by user id and by email, and the no-JavaScript path.
import { test, expect, type Page } from "@playwright/test";
import { BASE_URL, keys } from "../e2e-env";
import { signInAt } from "../sign-in";
import { watchErrors } from "../watch";

async function api(path: string, init: RequestInit = {}) {
  const res = await fetch(`${BASE_URL}/api/v1${path}`, {
    ...init,
    headers: { Authorization: `Bearer ${keys().secret_key}`, "Content-Type": "application/json" },
  });
  return { status: res.status, body: res.status === 200 ? await res.json() : null };
}

/** The user's attributes as {name: [value, source]}. */
async function attributesOf(userId: string): Promise<Record<string, [unknown, string]>> {
  const u = await api(`/users/${encodeURIComponent(userId)}`);
  return Object.fromEntries((u.body?.attributes ?? []).map((a: any) => [a.name, [a.value, a.source]]));
}

async function upload(page: Page, name: string, text: string) {
  await signInAt(page, "/imports/new");
  await page.getByLabel("CSV file").setInputFiles({ name, mimeType: "text/csv", buffer: Buffer.from(text, "utf8") });
  await page.getByRole("button", { name: "Upload and check" }).click();
  await expect(page.locator(".import-file")).toContainText(name);
}

const kindOf = (page: Page, column: string) =>
  page.locator(".mapping tbody tr", { has: page.getByRole("rowheader", { name: column, exact: true }) }).locator("td.kind");

test.beforeAll(async () => {
  // imp_seats exists as a number, so "many" in that column is a bad row.
  const res = await api("/identify", {
    method: "POST",
    body: JSON.stringify({ user_id: "imp-existing", email: "kim@imports.test", attributes: { imp_seats: 1 } }),
  });
  expect(res.status).toBe(200);
});

test("semicolons and a BOM, by user id: bad rows shown first, mapping changed, progress, history", async ({ page }) => {
  const errors = watchErrors(page);
  const csv =
    "\uFEFFuser_id;Name;imp_plan;imp_seats;imp_renews;imp_note\n" +
    "imp-1;Ada;Pro;3;2026-06-15;hello\n" +
    "imp-2;Bo;Team;many;2026-07-01;x\n" + // bad: imp_seats is a number
    ";Cy;Free;1;;\n" + // bad: no user id
    "imp-existing;;Pro;12;;\n" +
    "imp-4;Di;Free;2;2026-01-31;<b>bold</b>\n";
  await upload(page, "people.csv", csv);
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await expect(page.locator(".import-file")).toContainText("5 rows · separated by semicolons");

  // The guess: user_id identifies; Name fills the profile's name; types shown.
  await expect(page.locator("select[name=id]")).toHaveValue("0");
  await expect(kindOf(page, "Name")).toHaveText("the profile's name");
  await expect(kindOf(page, "imp_seats")).toHaveText("number, existing attribute");
  await expect(kindOf(page, "imp_renews")).toHaveText("date, new attribute");
  await expect(kindOf(page, "imp_plan")).toHaveText("string, new attribute");
  await expect(page.locator(".check-summary")).toHaveText("3 of 5 rows ready to import, 2 left out");
  const bad = page.locator(".bad-rows tbody tr");
  await expect(bad).toHaveCount(2);
  await expect(bad.nth(0)).toContainText("3");
  await expect(bad.nth(0)).toContainText('column "imp_seats": "many" is not a number');
  await expect(bad.nth(1)).toContainText("4");
  await expect(bad.nth(1)).toContainText('no user id in column "user_id"');
  await page.screenshot({ path: test.info().outputPath("import-mapping.png"), fullPage: true });
  const href = await page.getByRole("link", { name: "Download every row left out (CSV)" }).getAttribute("href");
  const leftOut = await page.request.get(`${BASE_URL}${href}`);
  expect(leftOut.headers()["content-disposition"]).toContain("people-left-out.csv");
  expect((await leftOut.text()).trim().split("\n")).toEqual([
    "line,reason",
    '3,"column ""imp_seats"": ""many"" is not a number"',
    '4,"no user id in column ""user_id"""',
  ]);

  // Skip imp_note, import imp_plan as imp_tier; nothing is written yet.
  await page.getByLabel("Import column imp_note into").fill("");
  await page.getByLabel("Import column imp_plan into").fill("imp_tier");
  await page.getByRole("button", { name: "Check again" }).click();
  await expect(kindOf(page, "imp_note")).toHaveText("skipped");
  await expect(kindOf(page, "imp_plan")).toHaveText("string, new attribute");
  expect((await api("/users/imp-1")).status).toBe(404);

  // A name attributes cannot have is refused with the rule, and blocks the import.
  await page.getByLabel("Import column imp_plan into").fill("imp tier");
  await page.getByRole("button", { name: "Check again" }).click();
  await expect(page.getByRole("alert")).toContainText("is not allowed");
  await expect(page.getByRole("button", { name: /^Import \d+ rows$/ })).toBeDisabled();
  await page.getByLabel("Import column imp_plan into").fill("imp_tier");
  await page.getByRole("button", { name: "Check again" }).click();

  await page.getByRole("button", { name: "Import 3 rows" }).click();
  await page.waitForURL(/\/imports\/\d+$/);
  await expect(page.locator(".import-status")).toHaveAttribute("data-status", "done");
  const outcome = page.locator(".import-outcome");
  await expect(outcome.locator("div", { hasText: "Created" }).locator("dd")).toHaveText("2");
  await expect(outcome.locator("div", { hasText: "Updated" }).locator("dd")).toHaveText("1");
  await expect(outcome.locator("div", { hasText: "Rejected" }).locator("dd")).toHaveText("2");
  await expect(page.locator(".bad-rows tbody tr")).toHaveCount(2);

  const ada = await attributesOf("imp-1");
  expect(ada.imp_tier).toEqual(["Pro", "import"]);
  expect(ada.imp_seats).toEqual([3, "import"]);
  expect(ada.imp_note).toBeUndefined();
  expect(ada.imp_plan).toBeUndefined();
  expect((await api("/users/imp-1")).body.name).toBe("Ada");
  expect((await attributesOf("imp-existing")).imp_seats).toEqual([12, "import"]);
  expect((await api("/users/imp-2")).status).toBe(404);

  // The history: when, who, rows, created, updated, rejected.
  await page.getByRole("link", { name: "Imports", exact: true }).first().click();
  const row = page.locator("table.imports tbody tr", { hasText: "people.csv" }).first();
  await expect(row).toContainText("admin@example.com");
  await expect(row.locator("td.num")).toHaveText(["5", "2", "1", "2"]);
  await expect(row).toContainText("Done");
  await page.screenshot({ path: test.info().outputPath("imports.png"), fullPage: true });

  // The profile shows the value with the import as its source.
  await page.goto(`${BASE_URL}/users?q=imp-4`);
  await page.locator("table.users tbody .who").first().click();
  await expect(page.locator("tr[data-attribute='imp_tier'] .source[data-source='import']")).toBeVisible();
  expect(errors).toEqual([]);
});

test("a large file: the progress bar moves while the rows are written", async ({ page }) => {
  test.setTimeout(180_000);
  const errors = watchErrors(page);
  const n = 60000;
  const rows = Array.from({ length: n }, (_, i) => `imp-big-${i},${i % 7},${i % 2 === 0}`);
  await upload(page, "big.csv", `user_id,imp_big_n,imp_big_flag\n${rows.join("\n")}\n`);
  await expect(page.locator(".check-summary")).toHaveText(`${n} of ${n} rows ready to import`);
  await expect(kindOf(page, "imp_big_flag")).toHaveText("boolean, new attribute");
  await page.getByRole("button", { name: `Import ${n} rows` }).click();
  await page.waitForURL(/\/imports\/\d+$/);
  const bar = page.getByRole("progressbar", { name: "Import progress" });
  const status = page.locator(".import-status");
  // Read the bar until the import is done: it must have shown rows in between.
  const seen: number[] = [];
  const started = Date.now();
  while ((await status.getAttribute("data-status")) === "running" && Date.now() - started < 150_000) {
    const value = await bar.getAttribute("value", { timeout: 1000 }).catch(() => null);
    if (value !== null && seen.at(-1) !== Number(value)) seen.push(Number(value));
    if (seen.length === 3) await page.screenshot({ path: test.info().outputPath("import-progress.png"), fullPage: true });
    await page.waitForTimeout(100);
  }
  console.log(`progress values seen: ${seen.join(", ")} (${Date.now() - started} ms)`);
  expect(seen.some((v) => v > 0 && v < n), `the bar showed ${seen.join(", ")}`).toBe(true);
  expect(seen, "the bar never goes back").toEqual([...seen].sort((a, b) => a - b));
  await expect(status).toHaveAttribute("data-status", "done");
  await expect(bar).toHaveCount(0);
  await expect(page.locator(".import-outcome")).toContainText(`Created${n}`);
  expect((await attributesOf(`imp-big-${n - 1}`)).imp_big_n).toEqual([(n - 1) % 7, "import"]);
  expect(errors).toEqual([]);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("commas, by email: existing users only, unknown and bad emails rejected", async ({ page }) => {
    const csv =
      "email,imp_team,imp_score\n" +
      "kim@imports.test,Core,7.5\n" +
      "nobody@imports.test,Core,1\n" + // rejected while writing: no such user
      "not-an-email,Core,2\n"; // bad before writing
    await upload(page, "by-email.csv", csv);
    await expect(page.locator(".import-file")).toContainText("3 rows · separated by commas");
    await expect(page.locator("input[name=by][value=email]")).toBeChecked();
    await expect(kindOf(page, "imp_score")).toHaveText("number, new attribute");
    await expect(page.locator(".check-summary")).toHaveText("2 of 3 rows ready to import, 1 left out");
    await page.getByRole("button", { name: "Import 2 rows" }).click();
    await page.waitForURL(/\/imports\/\d+$/);
    await expect
      .poll(async () => {
        await page.reload();
        return page.locator(".import-status").getAttribute("data-status");
      })
      .toBe("done");
    await expect(page.locator(".import-outcome")).toContainText("Updated1");
    await expect(page.locator(".bad-rows tbody tr")).toHaveCount(2);
    await expect(page.locator(".bad-rows")).toContainText('no user has the email "nobody@imports.test"');
    const kim = await attributesOf("imp-existing");
    expect(kim.imp_team).toEqual(["Core", "import"]);
    expect(kim.imp_score).toEqual([7.5, "import"]);
  });

  test("a file that cannot be read is refused with the reason, nothing kept", async ({ page }) => {
    await signInAt(page, "/imports/new");
    await page.getByLabel("CSV file").setInputFiles({ name: "empty.csv", mimeType: "text/csv", buffer: Buffer.from("user_id,plan\n") });
    await page.getByRole("button", { name: "Upload and check" }).click();
    await expect(page.getByRole("alert")).toHaveText("the file has a header row but no rows under it");
    await page.getByLabel("CSV file").setInputFiles({ name: "latin1.csv", mimeType: "text/csv", buffer: Buffer.from([0x69, 0x64, 0x0a, 0xe9, 0x0a]) });
    await page.getByRole("button", { name: "Upload and check" }).click();
    await expect(page.getByRole("alert")).toContainText('is not UTF-8 (at byte 3): save it as "CSV UTF-8"');
  });
});
