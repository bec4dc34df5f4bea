// The App as a Gemini workbench, driven as a user would in Debian's headless Chromium
// (playwright-core): open the Gemini panel from the grid's Gemini button, select samples, start
// detection from the button's menu, see the run in the panel's history, show its failures,
// open its evaluation, delete it.
//
//   node workbench.js --url http://127.0.0.1:PORT --dataset NAME --out DIR --field FIELD
//                     --gt ground_truth [--select 0,1,2] [--timeout 120]
//
// DIR receives screenshots (gemini-menu.png, operator-output.png, gemini-panel.png) and
// result.json (what the page showed at each step). Exit code 0 when every step ran; the
// Python test judges the outcome.
'use strict';

const fs = require('fs');
const path = require('path');
const app = require('./app');

const arg = app.args(process.argv.slice(2));
const BASE = arg('url');
const DATASET = arg('dataset');
const OUT = arg('out');
const FIELD = arg('field', 'gemini_workbench');
const GT = arg('gt', 'ground_truth');
const SELECT = arg('select', '0,1,2').split(',').map(Number);
const TIMEOUT_MS = parseInt(arg('timeout', '120'), 10) * 1000;
const BUTTON = '[data-item-id="@gemini-vision/gemini/gemini_tasks"]';
const PROMPT = '[data-cy=operators-prompt-modal]';
// a desktop screen: the grid keeps its whole action bar with the panel open beside it
const SCREEN = { width: 1920, height: 1080 };

if (!BASE || !DATASET || !OUT) {
  console.error('usage: node workbench.js --url URL --dataset NAME --out DIR [--field F]');
  process.exit(2);
}
fs.mkdirSync(OUT, { recursive: true });
const recorder = app.recorder();
const { result, step } = recorder;
const { formItem } = app;

// The grid's Gemini button: its menu, then `choice` opened.
async function fromGeminiButton(page, choice, shot) {
  await page.locator(BUTTON).click();
  const prompt = page.locator(PROMPT);
  await prompt.waitFor({ state: 'visible' });
  await prompt.getByText(choice, { exact: false }).first().click();
  if (shot) await prompt.screenshot({ path: path.join(OUT, shot) });
  result.menu_text = (await prompt.innerText()).trim();
  await prompt.getByRole('button', { name: 'Open', exact: true }).click();
  step(`menu: ${choice}`);
}

async function openPanel(page) {
  await fromGeminiButton(page, 'Open the Gemini panel', 'gemini-menu.png');
  await page.getByText(/^The next run acts on/).first().waitFor({ state: 'visible' });
  step('panel open');
}

async function detect(page) {
  await fromGeminiButton(page, 'Detect objects');
  const prompt = page.locator(PROMPT);
  await prompt.getByText(/^Estimate for /).waitFor({ state: 'visible', timeout: 60000 });
  result.detect_form_target = await prompt.locator('input[type=radio]:checked').getAttribute('value');
  const output = formItem(prompt, 'Output field').locator('input:not([aria-hidden=true])').first();
  await output.fill(FIELD);
  await formItem(prompt, 'Ground truth (optional)').locator('[role=combobox], [role=button]').first().click();
  await page.getByRole('option', { name: GT, exact: true }).click();
  await page.getByRole('listbox').waitFor({ state: 'detached' });
  await page.waitForTimeout(1000);  // validation and the preview are debounced round trips
  step('detect form filled');
  await prompt.getByRole('button', { name: 'Execute', exact: true }).click();
  await page.locator(`[data-cy=checkbox-${FIELD}]`).waitFor({ state: 'attached', timeout: TIMEOUT_MS });
  step('run finished');
  // the operator's output view: what the run did
  const dialog = page.locator('[role=dialog]').first();
  await dialog.getByText(/labelled/).first().waitFor({ state: 'visible', timeout: 15000 }).catch(() => {});
  result.output_text = (await dialog.innerText().catch(() => '')).trim();
  await dialog.screenshot({ path: path.join(OUT, 'operator-output.png') }).catch(() => {});
  const done = dialog.getByRole('button', { name: /^(Done|Close)$/ });
  if (await done.count()) await done.first().click();
  await dialog.waitFor({ state: 'detached', timeout: 10000 }).catch(() => {});
  step('output closed');
}

function runRow(page) {
  return page.locator('table tbody tr', { has: page.locator('td', { hasText: new RegExp(`^${FIELD}$`) }) });
}

async function runAction(page, label) {
  await runRow(page).locator('[data-testid=MoreVertIcon]').first().click();
  await page.getByRole('menuitem', { name: label }).click();
  step(`run action: ${label}`);
}

async function panelShowsTheRun(page) {
  // the run's record is written as it ends: refresh until the panel shows it finished
  for (const end = Date.now() + 30000; ; await page.waitForTimeout(1000)) {
    await page.getByRole('button', { name: 'Refresh' }).click();
    await runRow(page).waitFor({ state: 'visible', timeout: 30000 });
    if (/\bfinished\b/.test(await runRow(page).innerText()) || Date.now() > end) break;
  }
  result.run_row = (await runRow(page).innerText()).split('\t').map((s) => s.trim());
  result.panel_text = (await page.locator('body').innerText()).slice(0, 5000);
  await page.mouse.move(5, SCREEN.height - 5);
  // the panel from its top: what the next run acts on, the task entries, the runs (the run's
  // notification dismissed)
  const dismiss = page.locator('.MuiSnackbar-root button');
  if (await dismiss.count()) await dismiss.first().click().catch(() => {});
  const heading = page.getByText(/^The next run acts on/).first();
  await heading.scrollIntoViewIfNeeded();
  await page.waitForTimeout(500);
  const tab = await page.locator('[data-cy=fo-grid]').boundingBox();
  const top = tab ? tab.y + tab.height : (await heading.boundingBox()).y - 120;
  const sidebar = 300;
  await page.screenshot({
    path: path.join(OUT, 'gemini-panel.png'),
    clip: { x: sidebar, y: top, width: SCREEN.width - sidebar, height: SCREEN.height - top },
  });
  step('run in history');
}

// The number of thumbnails once the grid has shown a new view: unchanged for 1.5 s (at most
// 20 s).
async function gridCount(page, shot) {
  await page.waitForTimeout(500);
  let last = -1;
  let stableSince = Date.now();
  for (const end = Date.now() + 20000; Date.now() < end; await page.waitForTimeout(250)) {
    const count = await page.locator(app.LOOKERS).count();
    if (count !== last) { last = count; stableSince = Date.now(); continue; }
    if (count > 0 && Date.now() - stableSince >= 1500) break;
  }
  await page.mouse.move(5, SCREEN.height - 5);
  if (shot) await page.screenshot({ path: path.join(OUT, shot) });
  return last;
}

async function deleteRun(page) {
  await runAction(page, 'Delete run');
  const prompt = page.locator(PROMPT);
  await prompt.getByText(/^Deletes /).waitFor({ state: 'visible' });
  result.delete_form = (await prompt.innerText()).trim();
  await prompt.getByRole('button', { name: 'Execute', exact: true }).click();
  await page.locator(`[data-cy=checkbox-${FIELD}]`).waitFor({ state: 'detached', timeout: 30000 });
  result.ground_truth_in_sidebar = await page.locator(`[data-cy=checkbox-${GT}]`).count();
  step('run deleted');
}

app.run(OUT, SCREEN, recorder, async (page) => {
  await app.openGrid(page, BASE, DATASET, result, step);
  await openPanel(page);
  await app.selectSamples(page, SELECT, result, step);
  // the panel follows the selection (an App event, a server round trip away)
  await page.getByText(`${SELECT.length} selected`).first().waitFor({ state: 'visible', timeout: 15000 })
    .catch(() => {});
  result.panel_acts_on = (await page.getByText(/^The next run acts on/).first().innerText()).trim();
  await detect(page);
  await panelShowsTheRun(page);
  await runAction(page, 'Show failures');
  result.failures_shown = await gridCount(page, 'failures.png');
  await runAction(page, 'Open evaluation');
  await page.getByText('Model Evaluation').first().waitFor({ state: 'visible', timeout: 30000 });
  result.evaluation_shown = await gridCount(page, 'evaluation.png');
  await deleteRun(page);
});
