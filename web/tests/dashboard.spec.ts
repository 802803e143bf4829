// The dashboard in a real browser (system Chromium) against a running fleet with real data.
// Env: TRADEOPT_WEB_URL (gateway), TRADEOPT_API_KEY (write), TRADEOPT_READ_KEY (read-only),
// TRADEOPT_SPY_CSV (real SPY bars), TRADEOPT_WEB_ARTIFACTS (screenshots go to <it>/screenshots).
import { readFileSync } from "node:fs";
import { expect, test, type Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";

const WRITE_KEY = process.env.TRADEOPT_API_KEY ?? "";
const READ_KEY = process.env.TRADEOPT_READ_KEY ?? "";
const SPY_CSV = process.env.TRADEOPT_SPY_CSV ?? "";
const SHOTS = `${process.env.TRADEOPT_WEB_ARTIFACTS ?? "test-results"}/screenshots`;

/** Console errors and uncaught exceptions of the page since the last `take()`. */
class ConsoleWatch {
  private errors: string[] = [];
  constructor(page: Page) {
    page.on("console", (msg) => {
      if (msg.type() === "error") this.errors.push(`${msg.text()} @ ${msg.location().url}`);
    });
    page.on("pageerror", (err) => this.errors.push(`uncaught: ${err.message}`));
  }
  take(): string[] {
    const out = this.errors;
    this.errors = [];
    return out;
  }
}

async function audit(page: Page, console: ConsoleWatch, name: string): Promise<void> {
  // lightweight-charts draws on canvases; axe checks the document around them.
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(
    bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(" | ")}`),
    `${name}: serious or critical accessibility violations`,
  ).toEqual([]);
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
  expect(console.take(), `${name}: console errors`).toEqual([]);
}

async function signIn(page: Page, key: string): Promise<number> {
  const started = Date.now();
  await page.goto("/");
  const input = page.getByLabel("API key");
  await expect(input).toBeEditable();
  const interactive = Date.now() - started;
  await input.fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
  return interactive;
}

/** Drops a file on the drop zone the way a browser does (a DataTransfer on a drop event). */
async function dropFile(page: Page, name: string, content: string): Promise<void> {
  const transfer = await page.evaluateHandle(
    ([n, c]) => {
      const dt = new DataTransfer();
      dt.items.add(new File([c], n, { type: "text/csv" }));
      return dt;
    },
    [name, content] as const,
  );
  const zone = page.getByRole("button", { name: /Drop a CSV/ });
  await zone.dispatchEvent("dragover", { dataTransfer: transfer });
  await zone.dispatchEvent("drop", { dataTransfer: transfer });
  await expect(zone).toContainText(name);
}

function badCsv(): string {
  const lines = ["date,open,high,low,close,volume"];
  for (let i = 0; i < 40; i++) {
    const day = new Date(Date.UTC(2020, 0, 1 + i)).toISOString().slice(0, 10);
    lines.push(`${day},100,101,99,100.5,1000`);
  }
  lines[5] = "2020-01-05,100,90,99,100.5,1000"; // high below open/close
  lines[9] = "2020-01-09,100,101,99,abc,1000"; // not a number
  lines[12] = "2020-01-12,100,101,99,100.5,-5"; // negative volume
  return lines.join("\n") + "\n";
}

test("full flow: sign in, upload SPY, chart, train a small run live, evaluate, equity vs buy-and-hold", async ({ page }) => {
  test.skip(!WRITE_KEY || !SPY_CSV, "TRADEOPT_API_KEY and TRADEOPT_SPY_CSV are needed");
  const console = new ConsoleWatch(page);
  await page.goto("/");
  await expect(page.getByLabel("API key")).toBeVisible();
  await audit(page, console, "01-login");

  const interactive = await signIn(page, WRITE_KEY);
  const nav = await page.evaluate(() => {
    const e = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
    return { domInteractive: Math.round(e.domInteractive), load: Math.round(e.loadEventEnd) };
  });
  console.take();
  // Printed, not asserted (shared machines make timings noisy).
  process.stdout.write(
    `FIRST-PAGE-INTERACTIVE ms=${interactive} domInteractive=${nav.domInteractive} load=${nav.load}\n`,
  );

  // Overview (GET /api/v1/system/status): every service ready (its /readyz), every queue's
  // depth and a worker consuming it (a Celery broadcast).
  const services = page.getByRole("table", { name: "Services: readiness, queue and workers" });
  const queues = page.getByRole("table", { name: "Queue depths" });
  for (const svc of ["data", "training", "tuning", "evaluation", "strategy"]) {
    await expect(services.getByRole("row", { name: new RegExp(`^${svc} ready database`) })).toBeVisible();
    await expect(queues.getByRole("row", { name: new RegExp(`^${svc} \\d+ [1-9]`) })).toBeVisible();
  }
  await expect(page.getByRole("table", { name: "Workers and the queues they consume" }).getByRole("row", { name: /training/ }).first()).toBeVisible();
  await audit(page, console, "02-overview");

  // Datasets: a bad CSV shows the row-level report as a table.
  await page.getByRole("link", { name: "Datasets", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Datasets" })).toBeVisible();
  await dropFile(page, "BAD.csv", badCsv());
  await page.getByRole("button", { name: "Upload", exact: true }).click();
  const report = page.getByRole("alert");
  await expect(report).toContainText("422");
  const rows = report.getByRole("table", { name: "Errors" });
  await expect(rows).toBeVisible();
  await expect(rows.getByRole("columnheader", { name: "row" })).toBeVisible();
  await expect(rows.getByRole("row")).toHaveCount(5); // header + 4 problems of the 3 bad rows
  await expect(rows).toContainText("negative volume");
  await expect(rows).toContainText("non-numeric value");
  const uploadErrors = console.take();
  expect(uploadErrors.every((e) => e.includes("status of 422"))).toBe(true); // the browser logs the 422
  await audit(page, console, "03-datasets-bad-csv");

  // Upload the real SPY bars by drag and drop.
  await dropFile(page, "SPY.csv", readFileSync(SPY_CSV, "utf8"));
  await page.getByRole("button", { name: "Upload", exact: true }).click();
  await expect(page.getByRole("heading", { name: /^Dataset SPY/ })).toBeVisible({ timeout: 60_000 });
  await expect(page.getByText("ready", { exact: true }).first()).toBeVisible();
  const datasetUrl = page.url();
  await expect(page.getByTestId("candles").locator("canvas").first()).toBeVisible();
  await expect(page.getByRole("heading", { name: "Summary" })).toBeVisible();
  await expect(page.getByText("max_drawdown").first()).toBeVisible();
  await page.getByRole("button", { name: "Preview default features" }).click();
  await expect(page.locator("table.dense").first()).toBeVisible({ timeout: 60_000 });
  await audit(page, console, "04-dataset-spy");

  // Runs: a small run from the form (generated from the algorithm's schema), watched live.
  await page.getByRole("link", { name: "Train on it" }).click();
  const form = page.getByRole("form", { name: "New run" });
  await expect(form).toBeVisible();
  await form.getByLabel("total timesteps").fill("2048");
  await form.getByLabel("eval every (timesteps)").fill("1024");
  await form.getByText(/PPO hyperparameters/).click();
  await form.getByLabel("n_steps").fill("512");
  await audit(page, console, "05-runs-new");
  await form.getByRole("button", { name: "Start run" }).click();
  await expect(page.getByRole("heading", { name: /^Run / })).toBeVisible();
  await expect(page.getByRole("heading", { name: /^Run / }).getByText("succeeded")).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId("run-progress")).toContainText("2048/2048");
  await expect(page.getByText("Registered model")).toBeVisible();
  // the periodic validations (eval every 1024 timesteps) as a curve
  await expect(page.getByRole("img", { name: "validation reward over timesteps" })).toBeVisible();
  // its checkpoints (GET /api/v1/runs/{id}/checkpoints), each downloadable as a .tar.gz
  const checkpoint = page.getByRole("table", { name: "Checkpoints" }).getByRole("link", { name: /^checkpoint \d+ \(\.tar\.gz\)$/ }).last();
  await expect(checkpoint).toBeVisible();
  const archive = await page.request.get((await checkpoint.getAttribute("href")) ?? "");
  expect(archive.status()).toBe(200);
  expect(archive.headers()["content-type"]).toBe("application/gzip");
  await audit(page, console, "06-run-finished");

  // TensorBoard through the gateway shows the finished run's scalars (the session cookie
  // passes its auth_request); without a key or cookie it is refused.
  const runId = new URL(page.url()).pathname.split("/").pop() ?? "";
  await expect(page.getByRole("link", { name: "scalars of this run" })).toBeVisible();
  const board = await page.context().newPage();
  await board.goto(`/tensorboard/?runFilter=${runId}`);
  await expect(async () => {
    await board.reload();
    await expect(board.getByText(runId.slice(0, 8)).first()).toBeVisible({ timeout: 5_000 });
  }).toPass({ timeout: 90_000 });
  await expect(board.getByText(/rollout|eval|train/).first()).toBeVisible({ timeout: 30_000 });
  await board.screenshot({ path: `${SHOTS}/06b-tensorboard.png`, fullPage: true });
  await board.close();
  const anonymous = await page.context().browser()!.newContext();
  const refused = await anonymous.request.get(new URL("/tensorboard/", page.url()).toString());
  expect(refused.status()).toBe(401);
  await anonymous.close();

  // Evaluate it; equity vs buy-and-hold and the metrics.
  await page.getByRole("button", { name: "Evaluate on the test split" }).click();
  await expect(page.getByRole("heading", { name: /^Evaluation / })).toBeVisible();
  await expect(page.getByRole("heading", { name: /^Evaluation / }).getByText("succeeded")).toBeVisible({ timeout: 120_000 });
  const equity = page.locator("section", { has: page.getByRole("heading", { name: "Equity vs every benchmark" }) });
  await expect(equity.locator("canvas").first()).toBeVisible();
  for (const benchmark of ["buy and hold", "flat", "sma crossover", "momentum"]) {
    await expect(equity.locator("figcaption")).toContainText(benchmark);
  }
  const metrics = page.getByRole("table", { name: "Metrics of the subject and the benchmarks" });
  await expect(metrics.getByRole("columnheader", { name: "buy and hold" })).toBeVisible();
  await expect(metrics.getByRole("rowheader", { name: "sharpe", exact: true })).toBeVisible();
  await expect(page.getByText("Sharpe 95% CI (block bootstrap)")).toBeVisible();
  await expect(page.getByRole("table", { name: "Monthly returns" })).toBeVisible();
  await expect(page.getByRole("link", { name: "HTML report" })).toBeVisible();
  await audit(page, console, "07-evaluation");
  const evaluationUrl = page.url();
  const datasetId = new URL(datasetUrl).pathname.split("/").pop() ?? "";

  // (a label's accessible name includes its control's value: the labels are matched by prefix)
  // Studies: the cheapest valid study (2 A2C trials of 128 timesteps, one at a time) from the
  // form; its trials table fills live (SSE + polling) to the end, then the history and the
  // importances are drawn.
  await page.getByRole("link", { name: "Studies", exact: true }).click();
  await page.getByRole("button", { name: "New study" }).click();
  const studyForm = page.getByRole("form", { name: "New study" });
  await studyForm.getByLabel(/^dataset/).selectOption(datasetId);
  await studyForm.getByLabel(/^algorithm/).selectOption("a2c");
  await studyForm.getByLabel(/^trials/).fill("2");
  await studyForm.getByLabel(/^parallelism/).fill("1");
  await studyForm.getByLabel(/^timesteps per trial/).fill("128");
  await studyForm.getByLabel(/^seed/).fill("3");
  await studyForm.getByRole("button", { name: "Start study" }).click();
  const studyHeading = page.getByRole("heading", { level: 1, name: /^Study / });
  await expect(studyHeading).toBeVisible();
  const trials = page.getByRole("table", { name: "Trials" });
  await expect(trials.locator("tbody tr").first()).toBeVisible({ timeout: 120_000 }); // the first trial, live
  await expect(studyHeading.getByText("succeeded")).toBeVisible({ timeout: 180_000 });
  await expect(trials.locator("tbody tr")).toHaveCount(2);
  for (const row of await trials.locator("tbody tr").all()) await expect(row).toContainText(/complete/i);
  await expect(page.getByRole("img", { name: "objective per trial and best so far" })).toBeVisible();
  await expect(page.getByRole("list", { name: "importances" }).getByRole("listitem").first()).toBeVisible({ timeout: 30_000 });
  await expect(page.getByRole("img", { name: /^parallel coordinates/ })).toBeVisible();
  await audit(page, console, "12b-study");

  // Strategies: promote the evaluated model, replay it over the test split as fast as possible
  // (the parity report: 0 divergences), then again at 10 bars/s to watch it live and press the
  // kill switch.
  await page.goto(evaluationUrl);
  await page.getByRole("link", { name: "Promote to a strategy" }).click();
  const strategyForm = page.getByRole("form", { name: "New strategy" });
  await expect(strategyForm.getByLabel(/^model/)).toHaveValue(/^[0-9a-f-]{36}$/);
  await strategyForm.getByLabel(/^name/).fill("web-e2e");
  await strategyForm.getByLabel(/^max drawdown/).fill("0.9"); // no risk halt in the replay
  await strategyForm.getByRole("button", { name: "Create strategy" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Strategy web-e2e created" })).toBeVisible();
  const strategyRow = page.getByRole("row").filter({ hasText: "web-e2e" });
  await expect(strategyRow.getByText("active", { exact: true })).toBeVisible();
  await strategyRow.getByRole("button", { name: "Paper replay" }).click();
  const sessionHeading = page.getByRole("heading", { level: 1, name: /^Paper session / });
  await expect(sessionHeading).toBeVisible();
  await expect(sessionHeading.getByText("completed")).toBeVisible({ timeout: 120_000 });
  const parity = page.getByRole("status", { name: "parity" });
  await expect(parity).toContainText(/^0 divergences over \d+ bars/, { timeout: 30_000 });
  await expect(parity).toContainText("matches its backtest");
  await expect(page.getByRole("img", { name: "paper session equity" })).toBeVisible();
  await audit(page, console, "13b-paper-replay-parity");

  await page.getByRole("link", { name: "Strategies", exact: true }).click();
  await page.getByLabel(/^replay speed/).fill("10");
  await page.getByRole("row").filter({ hasText: "web-e2e" }).getByRole("button", { name: "Paper replay" }).click();
  await expect(sessionHeading.getByText("running")).toBeVisible({ timeout: 60_000 });
  const sessionUrl = page.url();
  const bars = page.locator("dl.kv div", { has: page.locator("dt", { hasText: /^bars$/ }) }).locator("dd");
  await expect(bars).toHaveText(/^([3-9]|\d\d+)$/, { timeout: 60_000 }); // bars arrive live
  const firstBars = Number(await bars.textContent());
  await expect.poll(async () => Number(await bars.textContent()), { timeout: 30_000 }).toBeGreaterThan(firstBars);
  await expect(page.getByRole("img", { name: "paper session equity" })).toBeVisible();
  const positions = page.locator("section", { has: page.getByRole("heading", { name: "Positions" }) });
  await expect(positions.locator("tbody tr").first()).toBeVisible();
  const orders = page.locator("section", { has: page.getByRole("heading", { name: "Orders" }) });
  await expect(orders.locator("tbody tr").first().or(orders.getByText("None.", { exact: true }))).toBeVisible();
  await audit(page, console, "13c-paper-live");
  await page.getByRole("link", { name: "Strategies", exact: true }).click();
  page.once("dialog", (dialog) => void dialog.accept());
  await page.getByRole("button", { name: "Kill switch: halt all" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Halted:" })).toBeVisible();
  await page.goto(sessionUrl);
  await expect(sessionHeading.getByText("halted")).toBeVisible({ timeout: 60_000 });
  await expect(page.locator("dl.kv div", { has: page.locator("dt", { hasText: /^halted$/ }) }).locator("dd")).toContainText("kill switch");
  await audit(page, console, "13d-paper-halted");

  // Every other page renders with the data made above.
  const pages: Array<[string, string, RegExp]> = [
    ["08-models", "/models", /Model registry/],
    ["10-evaluations", "/evaluations", /Evaluations/],
    ["11-runs", "/runs", /Training runs/],
    ["12-studies", "/studies", /Tuning studies/],
    ["13-strategies", "/strategies", /Strategies and paper trading/],
    ["14-jobs", "/jobs", /Jobs/],
  ];
  for (const [name, path, heading] of pages) {
    await page.goto(path);
    await expect(page.getByRole("heading", { level: 1, name: heading })).toBeVisible();
    await expect(page.getByText(/^Loading/)).toHaveCount(0);
    await audit(page, console, name);
  }
  await page.goto("/models");
  await page.locator("tbody tr td:nth-child(2) a").first().click();
  await expect(page.getByRole("list", { name: /^Lineage/ })).toBeVisible();
  await expect(page.getByRole("form", { name: "Stage and aliases" })).toBeVisible();
  await audit(page, console, "09-model-lineage");
  await page.goto(datasetUrl);
  await expect(page.getByRole("heading", { name: /^Dataset SPY/ })).toBeVisible();
  console.take();
});

test("a read-only key sees no write actions", async ({ page }) => {
  test.skip(!READ_KEY, "TRADEOPT_READ_KEY is needed");
  const console = new ConsoleWatch(page);
  await signIn(page, READ_KEY);
  await expect(page.getByText("read-only")).toBeVisible();
  const writeButtons =
    /^(Upload|New run|Start run|Cancel|Cancel run|Evaluate|Evaluate on the test split|New evaluation or comparison|New study|New strategy|Kill switch: halt all|Save|Preview default features|Activate|Pause|Stop|Paper replay|SPY|TLT|GLD)$/;
  const paths = ["/", "/datasets", "/runs", "/models", "/evaluations", "/studies", "/strategies", "/jobs"];
  for (const path of paths) {
    await page.goto(path);
    await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
    await expect(page.getByText(/^Loading/)).toHaveCount(0);
    await expect(page.getByRole("button", { name: writeButtons })).toHaveCount(0);
    expect(console.take(), `${path}: console errors`).toEqual([]);
  }
  // Detail pages of the data the write key made: still no write action.
  for (const [list, heading] of [
    ["/datasets", /^Dataset /],
    ["/runs", /^Run /],
    ["/models", /^Model /],
    ["/evaluations", /^Evaluation /],
  ] as const) {
    await page.goto(list);
    const first = page.locator(`tbody a[href^="${list}/"]`).first();
    if ((await first.count()) === 0) continue;
    await first.click();
    await expect(page.getByRole("heading", { level: 1, name: heading })).toBeVisible();
    await expect(page.getByText(/^Loading/)).toHaveCount(0);
    await expect(page.getByRole("button", { name: writeButtons })).toHaveCount(0);
    await expect(page.getByRole("form")).toHaveCount(0);
    expect(console.take(), `${list} detail: console errors`).toEqual([]);
  }
  await page.screenshot({ path: `${SHOTS}/15-read-only.png`, fullPage: true });
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByLabel("API key")).toBeVisible();
});
