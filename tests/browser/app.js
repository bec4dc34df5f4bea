// What the browser scenarios share: a headless Chromium on the local App only, page-error
// watching, opening a dataset's grid and selecting thumbnails.
'use strict';

const { chromium } = require('playwright-core');
const fs = require('fs');
const os = require('os');
const path = require('path');

const VIEWPORT = { width: 1400, height: 900 };
const GRID_READY = '[data-cy=fo-grid] [data-cy=looker] canvas[canvas-loaded=true]';
const LOOKERS = '[data-cy=fo-grid] [data-cy=looker]';

// argv as --name value pairs
function args(argv) {
  return (name, fallback) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : fallback;
  };
}

// A run's record: timed steps, page errors, console errors; `log` prints with the time.
function recorder() {
  const t0 = Date.now();
  const elapsed = () => (Date.now() - t0) / 1000;
  const log = (...parts) => console.log(`${elapsed().toFixed(1).padStart(6)}s`, ...parts);
  const result = { steps: {}, errors: [], console_errors: [] };
  const step = (name) => { result.steps[name] = elapsed(); log(name); };
  return { result, step, log, elapsed };
}

async function launch(viewport = VIEWPORT) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'gemini-vision-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic',
      '--no-first-run', '--disable-background-networking', '--disable-component-update',
      '--disable-sync'],
  });
  context.setDefaultTimeout(30000);
  // Offline machine: the App preloads web fonts; abort everything that is not the local App
  // so nothing waits on a network that is not there.
  await context.route('**/*', (route) => {
    const url = route.request().url();
    const local = /^https?:\/\/(127\.0\.0\.1|localhost)[:/]/.test(url) || /^(data|blob):/.test(url);
    return local ? route.continue() : route.abort();
  });
  return { context, profile };
}

function watch(page, result) {
  page.on('pageerror', (e) => {
    result.errors.push(e.message.slice(0, 500));
    console.log(`page error: ${e.message.slice(0, 200)}`);
  });
  page.on('console', (m) => {
    // ERR_FAILED: the aborted non-local requests above
    if (m.type() === 'error' && !/ERR_FAILED/.test(m.text())) {
      result.console_errors.push(m.text().slice(0, 300));
    }
  });
}

async function openGrid(page, base, dataset, result, step) {
  await page.goto(`${base}/datasets/${encodeURIComponent(dataset)}`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector(GRID_READY, { timeout: 60000 });
  result.lookers = await page.locator(LOOKERS).count();
  step('grid ready');
}

// Ticks the checkboxes of the thumbnails at `indices`.
async function selectSamples(page, indices, result, step) {
  for (const i of indices) {
    const looker = page.locator(LOOKERS).nth(i);
    const input = looker.locator('input[data-cy^=looker-checkbox-input]');
    // A click right after the grid appears can be lost while thumbnails still load: retry
    for (let attempt = 0; attempt < 5 && !(await input.isChecked()); attempt++) {
      await looker.hover();
      // the checkbox <input> is visually hidden; its <label> shows while hovering
      await looker.locator('label[data-cy^=looker-checkbox-]').click();
      await page.waitForTimeout(300 * (attempt + 1));
    }
  }
  await page.mouse.move(5, page.viewportSize().height - 5);
  result.selected_in_grid = await page.locator(`${LOOKERS} input[data-cy^=looker-checkbox-input]:checked`).count();
  step(`selected ${result.selected_in_grid}`);
}

// The form item (label, description, widget) of the field whose label text is `label`.
function formItem(prompt, label) {
  return prompt.locator('p', { hasText: new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) })
    .locator('xpath=ancestor::div[contains(@class,"MuiGrid-item")][1]');
}

// Runs `scenario(page)` in a fresh browser, then writes OUT/result.json (with an error.png
// when a step failed) and exits: 0 when every step ran, 1 otherwise.
async function run(out, viewport, { result, step, log, elapsed }, scenario) {
  const { context, profile } = await launch(viewport);
  const page = context.pages()[0] || await context.newPage();
  watch(page, result);
  // The "Explore Enterprise" popover shows up a while after the grid and swallows clicks:
  // dismiss it whenever it is there before an action.
  await page.addLocatorHandler(page.getByRole('button', { name: 'Dismiss', exact: true }),
    (button) => button.click());
  step('browser up');
  let ok = false;
  try {
    await scenario(page);
    ok = true;
  } catch (e) {
    result.errors.push(String(e.stack || e).slice(0, 2000));
    log('ERROR', e.message);
    await page.screenshot({ path: path.join(out, 'error.png') }).catch(() => {});
  } finally {
    result.ok = ok;
    result.seconds = elapsed();
    fs.writeFileSync(path.join(out, 'result.json'), JSON.stringify(result, null, 2));
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.exit(ok ? 0 : 1);
}

module.exports = {
  VIEWPORT, GRID_READY, LOOKERS, args, recorder, launch, watch, openGrid, selectSamples, formItem,
  run,
};
