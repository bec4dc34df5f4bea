// Drives the FiftyOne App in Debian's headless Chromium (playwright-core, no bundled browser):
// select samples in the grid, run "Gemini: detect objects" through its form, show the results.
//
//   node drive.js --url http://127.0.0.1:PORT --dataset NAME --field FIELD --out DIR
//                 [--select 2] [--gt ground_truth] [--classes-field ground_truth] [--timeout 120]
//                 [--scenario detect|no-key|unreachable|audit]
//
// Scenarios: "detect" (the default) runs detection end to end; "no-key" opens the form of an
// App that has no Gemini key and records the error it shows and whether Execute is enabled;
// "unreachable" runs detection against a Gemini that cannot be reached and records the
// progress texts and the final notification; "audit" runs "Gemini: audit the ground truth" on
// the selected samples (ground truth: --gt) and records the view the App opens afterwards.
//
// DIR receives the screenshots (operator-form.png, results-grid.png, sample-modal.png),
// pairs of thumbnail crops with the result field shown/hidden (thumb-<i>-on.png / -off.png)
// for pixel checks in Python, and result.json (what the page showed, step timings).
// Exit code 0 when every step ran; the Python test judges the outcome.
'use strict';

const fs = require('fs');
const path = require('path');
const app = require('./app');

const arg = app.args(process.argv.slice(2));
const BASE = arg('url');
const DATASET = arg('dataset');
const FIELD = arg('field', 'gemini_detections');
const OUT = arg('out');
const SELECT = parseInt(arg('select', '2'), 10);
const GT = arg('gt', '');
const CLASSES_FIELD = arg('classes-field', '');
const TIMEOUT_MS = parseInt(arg('timeout', '120'), 10) * 1000;
const SCENARIO = arg('scenario', 'detect');
const OPERATOR_LABEL = 'Gemini: detect objects';
// Every field the detect_objects form must show (labels from operators/task_operators.py
// and operators/forms.py); eval_key appears only once a ground-truth field is chosen.
const FORM_LABELS = [
  'Target view', 'Model', 'What to detect (optional)', 'Classes (optional)',
  '...or take the classes from a field', 'Ask for confidences',
  'Output field', 'Overwrite existing results', 'Ground truth (optional)', 'Advanced options',
];
// ... and the ones folded under 'Advanced options' (switched off by default)
const FOLDED_LABELS = ['Max objects per image', 'Max image side (px)', 'Requests in flight', 'Mode'];
// a laptop's window (a 13-inch laptop's 1440x900 screen less the browser's own bars): the
// form's first screen must fit it without scrolling
const LAPTOP = { width: 1440, height: 800 };
const { VIEWPORT, LOOKERS, formItem } = app;

if (!BASE || !DATASET || !OUT) {
  console.error('usage: node drive.js --url URL --dataset NAME --out DIR [--field F] [--select N]');
  process.exit(2);
}
fs.mkdirSync(OUT, { recursive: true });

const recorder = app.recorder();
const { result, step } = recorder;

const openGrid = (page) => app.openGrid(page, BASE, DATASET, result, step);
// Ticks the first `count` thumbnails.
const selectSamples = (page, count) => app.selectSamples(page, [...Array(count).keys()], result, step);

function formInput(prompt, label) {
  return formItem(prompt, label).locator('input:not([aria-hidden=true])').first();
}

// MUI Select: open it, pick the option from the listbox rendered at the page root
async function pickOption(page, prompt, label, value) {
  await formItem(prompt, label).locator('[role=combobox], [role=button]').first().click();
  await page.getByRole('option', { name: value, exact: true }).click();
  await page.getByRole('listbox').waitFor({ state: 'detached' });
}

async function openOperator(page, waitForPreview = true) {
  await page.click('[data-cy=action-browse-operations]');
  const browser = page.locator('[data-cy=operators-browser]');
  await browser.waitFor({ state: 'visible' });
  await page.fill('[data-cy=operators-browser-search]', 'detect objects');
  await browser.getByText(OPERATOR_LABEL, { exact: true }).click();
  const prompt = page.locator('[data-cy=operators-prompt-modal]');
  await prompt.waitFor({ state: 'visible' });
  // resolve_input runs on the server (model list, cost preview): wait for its last piece
  if (waitForPreview) await prompt.getByText(/^Estimate for /).waitFor({ state: 'visible' });
  step('form open');
  return prompt;
}

async function fillForm(page, prompt) {
  const text = await prompt.innerText();
  result.form_labels_missing = FORM_LABELS.filter((label) => !text.split('\n').includes(label));
  result.form_text = text;
  result.target_choice = await prompt.locator('input[type=radio]:checked').getAttribute('value');
  const output = formInput(prompt, 'Output field');
  result.output_default = await output.inputValue();
  await output.fill(FIELD);
  if (CLASSES_FIELD) await pickOption(page, prompt, '...or take the classes from a field', CLASSES_FIELD);
  if (GT) {
    await pickOption(page, prompt, 'Ground truth (optional)', GT);
    // dynamic form: eval_key appears with a default derived from the output field
    const evalKey = formInput(prompt, 'Evaluation key');
    await evalKey.waitFor({ state: 'visible' });
    await page.waitForFunction(
      ([el, want]) => el.value === want, [await evalKey.elementHandle(), `eval_${FIELD}`],
      { timeout: 10000 },
    ).catch(() => {});
    result.eval_key = await evalKey.inputValue();
  }
  // validation and the cost preview are debounced server round trips
  await page.waitForTimeout(1000);
  result.cost_preview = (await prompt.getByText(/^Estimate for /).innerText()).trim();
  const lines = (await prompt.innerText()).split('\n');
  result.folded_labels_shown = FOLDED_LABELS.filter((label) => lines.includes(label));
  await measureOnLaptop(page, prompt);
  step('form filled');
}

// Whether the whole form, down to its Execute button, shows in a laptop's window: no part of
// the dialog scrolls and the button is on screen.
async function measureOnLaptop(page, prompt) {
  await page.setViewportSize(LAPTOP);
  await page.waitForTimeout(500);
  result.laptop = await prompt.evaluate((root) => {
    const scrolled = [root, ...root.querySelectorAll('*')].filter((el) => {
      const overflow = getComputedStyle(el).overflowY;
      return /auto|scroll/.test(overflow) && el.scrollHeight > el.clientHeight + 2;
    });
    return { scrolling: scrolled.map((el) => [el.scrollHeight, el.clientHeight]) };
  });
  const button = await prompt.getByRole('button', { name: 'Execute', exact: true }).boundingBox();
  result.laptop.execute_bottom = button ? button.y + button.height : null;
  result.laptop.fits = result.laptop.scrolling.length === 0 && button !== null
    && button.y + button.height <= LAPTOP.height;
  await page.screenshot({ path: path.join(OUT, 'form-laptop.png') });
  await page.setViewportSize(VIEWPORT);
  await page.waitForTimeout(300);
}

async function screenshotForm(page, prompt) {
  // A tall window so the whole form (down to the cost preview) fits in the picture; the
  // pointer on the title so no field shows a hover state.
  await page.setViewportSize({ width: VIEWPORT.width, height: 1700 });
  await prompt.getByText(OPERATOR_LABEL, { exact: true }).first().hover();
  await page.waitForTimeout(500);
  const box = await prompt.boundingBox();
  const pad = 24;
  await page.screenshot({
    path: path.join(OUT, 'operator-form.png'),
    clip: { x: Math.max(0, box.x - pad), y: Math.max(0, box.y - pad),
      width: box.width + 2 * pad, height: box.height + 2 * pad },
  });
  await page.setViewportSize(VIEWPORT);
  await page.waitForTimeout(300);
}

async function execute(page, prompt) {
  await prompt.getByRole('button', { name: 'Execute', exact: true }).click();
  step('execute clicked');
  // The operator is a generator: progress messages, then reload_dataset, then a notification.
  // The field's sidebar entry appears with the reload; the snackbar carries the summary.
  const entry = page.locator(`[data-cy=checkbox-${FIELD}]`);
  await entry.waitFor({ state: 'attached', timeout: TIMEOUT_MS });
  step('result field in sidebar');
  const snackbar = page.locator('.MuiSnackbar-root, [role=alert]').first();
  result.notification = await snackbar.innerText({ timeout: 15000 }).catch(() => null);
  // the progress dialog stays open on "Done" until dismissed
  const done = page.locator('[role=dialog]').getByRole('button', { name: 'Done', exact: true });
  if (await done.waitFor({ state: 'visible', timeout: 10000 }).then(() => true).catch(() => false)) {
    result.progress_dialog = (await page.locator('[role=dialog]').first().innerText()).trim();
    await done.click();
  }
  await page.locator('[role=dialog]').first().waitFor({ state: 'detached', timeout: 10000 });
  step('dialog closed');
}

async function setFieldShown(page, field, shown) {
  const box = page.locator(`[data-cy=checkbox-${field}] input`);
  if ((await box.isChecked()) !== shown) await page.click(`[data-cy=checkbox-${field}]`);
}

async function thumbnailPairs(page, indices) {
  // Only the result field drawn: crops of each thumbnail with it on and off, for Python to diff
  for (const field of ['ground_truth', 'ground_truth_cls', 'ground_truth_seg']) {
    if (await page.locator(`[data-cy=checkbox-${field}]`).count()) await setFieldShown(page, field, false);
  }
  for (const shown of [true, false]) {
    await setFieldShown(page, FIELD, shown);
    await page.mouse.move(5, VIEWPORT.height - 5);
    await page.waitForTimeout(1500);  // lookers redraw asynchronously (worker)
    for (const i of indices) {
      await page.locator(LOOKERS).nth(i).screenshot({ path: path.join(OUT, `thumb-${i}-${shown ? 'on' : 'off'}.png`) });
    }
  }
  await setFieldShown(page, FIELD, true);
  step('thumbnail pairs');
}

async function screenshotResults(page) {
  await setFieldShown(page, 'ground_truth', false);
  await page.mouse.move(5, VIEWPORT.height - 5);
  await page.waitForTimeout(1500);
  await page.screenshot({ path: path.join(OUT, 'results-grid.png') });
  // the first sample in the modal (a click in the middle: the top-left corner is its checkbox)
  await page.locator(LOOKERS).first().click();
  const modal = page.locator('[data-cy=modal]');
  await modal.waitFor({ state: 'visible', timeout: 15000 });
  await modal.locator('[data-cy=sample-canvas] canvas, [data-cy=modal-looker-container] canvas')
    .first().waitFor({ state: 'visible', timeout: 15000 }).catch(() => {});
  await page.mouse.move(5, VIEWPORT.height - 5);
  await page.waitForTimeout(2000);
  result.modal_sample_id = new URL(page.url()).searchParams.get('id');
  await page.screenshot({ path: path.join(OUT, 'sample-modal.png') });
  await page.keyboard.press('Escape');
  step('result screenshots');
}

// The form of an App without a key: the reason is shown, and Execute cannot be pressed.
async function noKey(page) {
  await openGrid(page);
  await selectSamples(page, 1);
  const prompt = await openOperator(page, false);
  await prompt.getByText(/No Gemini API key found/).first().waitFor({ state: 'visible' });
  await page.waitForTimeout(1000);  // validation is a debounced server round trip
  result.form_text = await prompt.innerText();
  result.execute_disabled = await prompt.getByRole('button', { name: 'Execute', exact: true })
    .isDisabled();
  step('refused in the form');
}

// A run against a Gemini that cannot be reached: what the App says while and after it runs.
async function unreachable(page) {
  await openGrid(page);
  await selectSamples(page, 1);
  const prompt = await openOperator(page);
  await prompt.getByRole('button', { name: 'Execute', exact: true }).click();
  step('execute clicked');
  const texts = new Set();
  const snackbar = page.locator('.MuiSnackbar-root, [role=alert]').first();
  const deadline = Date.now() + TIMEOUT_MS;
  while (Date.now() < deadline && !(await snackbar.isVisible().catch(() => false))) {
    // the progress text shows in the operator's dialog while it runs
    const text = await page.locator('body').innerText({ timeout: 1000 }).catch(() => null);
    for (const line of (text || '').split('\n')) {
      if (/Sending|samples ·|Stopped|Done|Executing/.test(line)) texts.add(line.trim());
    }
    await page.waitForTimeout(250);
  }
  result.progress_texts = [...texts];
  result.notification = await snackbar.innerText({ timeout: 5000 }).catch(() => null);
  step('notification shown');
}

// The ground-truth audit on the selected samples: the form, the run, the saved view it opens.
async function audit(page) {
  await openGrid(page);
  await selectSamples(page, SELECT);
  await page.click('[data-cy=action-browse-operations]');
  const browser = page.locator('[data-cy=operators-browser]');
  await browser.waitFor({ state: 'visible' });
  await page.fill('[data-cy=operators-browser-search]', 'audit');
  await browser.getByText('Gemini: audit the ground truth', { exact: true }).click();
  const prompt = page.locator('[data-cy=operators-prompt-modal]');
  await prompt.waitFor({ state: 'visible' });
  if (GT) await pickOption(page, prompt, 'Ground truth', GT);
  await prompt.getByText(/^Estimate: /).waitFor({ state: 'visible', timeout: 60000 });
  await page.waitForTimeout(1000);  // validation is a debounced server round trip
  result.form_text = await prompt.innerText();
  result.target_choice = await prompt.locator('input[type=radio]:checked').getAttribute('value');
  await prompt.getByRole('button', { name: 'Execute', exact: true }).click();
  step('audit started');
  const snackbar = page.getByText(/suspected label errors of/).first();
  await snackbar.waitFor({ state: 'visible', timeout: TIMEOUT_MS });
  result.notification = (await snackbar.innerText()).trim();
  result.grid_after = await gridSettled(page);
  await page.screenshot({ path: path.join(OUT, 'audit-view.png') });
  step('saved view open');
}

// The number of thumbnails once the grid stops changing (at most 20 s).
async function gridSettled(page) {
  let last = -1;
  let since = Date.now();
  for (const end = Date.now() + 20000; Date.now() < end; await page.waitForTimeout(250)) {
    const count = await page.locator(LOOKERS).count();
    if (count !== last) { last = count; since = Date.now(); continue; }
    if (Date.now() - since > 1500) break;
  }
  return last;
}

app.run(OUT, VIEWPORT, recorder, async (page) => {
  if (SCENARIO === 'audit') {
    await audit(page);
  } else if (SCENARIO === 'no-key') {
    await noKey(page);
  } else if (SCENARIO === 'unreachable') {
    await unreachable(page);
  } else {
    await openGrid(page);
    await selectSamples(page, SELECT);
    const prompt = await openOperator(page);
    await fillForm(page, prompt);
    await screenshotForm(page, prompt);
    await execute(page, prompt);
    await thumbnailPairs(page, [...Array(result.lookers).keys()]);
    await screenshotResults(page);
  }
});
