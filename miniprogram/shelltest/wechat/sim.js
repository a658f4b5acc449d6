// Loads the WeChat shell (app.js and its pages) under miniprogram-simulate
// with its "simulate" compiler, and drives pages as a person would: taps,
// typing, pickers. Pages are built with Component(), which WeChat accepts
// for pages; their lifetimes (onLoad, onShow) are called as the client
// would call them.

const path = require('path')
const simulate = require('miniprogram-simulate')
const { waitFor } = require('../harness/backend.js')

const appRoot = path.resolve(__dirname, '../../wechat-app')
const config = require(path.join(appRoot, 'config.js'))

// The App instance every page reaches through getApp(); app.js registers
// its definition through App().
const app = {}
let appDefinition = null
global.getApp = () => app
global.App = def => {
  appDefinition = def
}
require(path.join(appRoot, 'app.js'))

const ids = {}

function pageId(name) {
  if (!ids[name]) ids[name] = simulate.load(path.join(appRoot, 'pages', name, name), { compiler: 'simulate', rootPath: appRoot })
  return ids[name]
}

/**
 * launch starts the mini-program with fake (from harness/wx.js) as wx and
 * the backend at baseURL in config.js, as WeChat would: App's onLaunch.
 * It answers app.ready.
 */
function launch(fake, baseURL) {
  global.wx = fake.wx
  config.baseURL = baseURL
  for (const k of Object.keys(app)) delete app[k]
  Object.assign(app, appDefinition)
  appDefinition.onLaunch.call(app)
  return app.ready
}

/** render shows a page (by its folder name), attached to a document. */
function render(name) {
  const page = simulate.render(pageId(name))
  page.attach(document.createElement('parent-wrapper'))
  return page
}

/** open renders a page and runs onLoad(query) and onShow as WeChat does. */
async function open(name, query = {}) {
  const page = render(name)
  if (page.instance.onLoad) await page.instance.onLoad(query)
  if (page.instance.onShow) await page.instance.onShow()
  return page
}

/** openURL opens a page from a navigateTo address with its query. */
function openURL(url) {
  const [p, q = ''] = url.split('?')
  const name = p.split('/')[2]
  const query = {}
  for (const pair of q.split('&').filter(Boolean)) {
    const i = pair.indexOf('=')
    // WeChat hands onLoad the query values as they were written.
    query[pair.slice(0, i)] = pair.slice(i + 1)
  }
  return open(name, query)
}

function node(page, selector) {
  const n = page.querySelector(selector)
  if (!n) throw new Error(`no ${selector} on the page: ${page.dom.innerHTML}`)
  return n
}

/** tap taps an element and waits until the action it started is over. */
async function tap(page, selector) {
  node(page, selector).dispatchEvent('tap')
  await simulate.sleep(5)
  await waitFor(() => !page.data.busy, `${selector} to finish`, 20000)
}

async function type(page, selector, value) {
  node(page, selector).dispatchEvent('input', { detail: { value } })
  await simulate.sleep(1)
}

async function pick(page, selector, index) {
  node(page, selector).dispatchEvent('change', { detail: { value: String(index) } })
  await simulate.sleep(1)
}

/** text is the visible text of an element. */
function text(page, selector) {
  return node(page, selector).dom.textContent.trim()
}

module.exports = { app, launch, render, open, openURL, tap, type, pick, text, node, simulate }
